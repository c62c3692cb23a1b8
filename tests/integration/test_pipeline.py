"""A canonical file through the real broker and the worker into the embedded ClickHouse."""

from pathlib import Path

from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from tests.helpers import REPO, Isolated, Worker, read_topic, wait_until

EVERY_RECORD = REPO / "tests/fixtures/canonical/every-record.jsonl"
TABLES = {"directory_changes": 2, "cloud_audit": 2, "secret_usage": 1, "identity_links": 2}
MALFORMED = 5


def landed(worker: Worker) -> dict[str, int]:
    return {table: worker.count(f"SELECT count() AS n FROM {table} FINAL") for table in TABLES}


def test_every_record_lands_once_and_malformed_ones_are_dead_lettered(
    kafka: Settings, isolated: Isolated, worker: Worker
) -> None:
    result = isolated.cli("replay", "--format", "canonical", str(EVERY_RECORD))
    assert result.returncode == 0, result.stderr
    assert f"{MALFORMED:>8} -> {isolated.prefix}drift.deadletter" in result.stdout
    assert f"{2:>8} -> {isolated.prefix}cloud.audit" in result.stdout

    wait_until(lambda: landed(worker) == TABLES, timeout=60)

    rows = worker.query(
        "SELECT event_id, event_time, identity_kind, change_type, accounts, attributes, email "
        "FROM directory_changes FINAL ORDER BY event_id"
    )
    assert [row["event_id"] for row in rows] == ["hr-1", "nhi-1"]
    assert rows[0]["accounts"] == ["aws:123456789012:user/alice", "okta:00u1ab2cd3"]
    assert rows[0]["attributes"] == {"department": "payments"}
    assert rows[1]["event_time"] == "2026-03-02T09:05:00.123456+00:00"
    gcp = worker.query("SELECT event_time, outcome FROM cloud_audit FINAL WHERE event_id = 'gcp-1'")
    # +01:00 in the file is 09:00 UTC in the table.
    assert gcp == [{"event_time": "2026-03-03T09:00:00+00:00", "outcome": "failure"}]
    link = worker.query(
        "SELECT removed, credential_id FROM identity_links FINAL WHERE identity_id = 'N7'"
    )
    assert link == [{"removed": True, "credential_id": "gcp:key/3f2a"}]

    letters = read_topic(kafka.kafka_bootstrap, f"{isolated.prefix}drift.deadletter", MALFORMED)
    decoded = [codec_for("DeadLetter").decode_dict(message.value()) for message in letters]
    assert len(decoded) == MALFORMED
    by_line = {letter["offset"]: letter for letter in decoded}
    assert sorted(by_line) == [8, 9, 10, 11, 12]
    assert by_line[8]["error_type"] == "decode"
    assert by_line[8]["value"] == b"not json at all"
    assert "event_time: Field required" in by_line[9]["error"]
    assert "Mystery" in by_line[10]["error"]
    assert "timezone" in by_line[11]["error"]
    assert "neither an account_id nor a credential_id" in by_line[12]["error"]
    assert all(letter["stage"] == "replay" for letter in decoded)
    assert all(letter["source_topic"] == f"file:{EVERY_RECORD}" for letter in decoded)


def test_replaying_the_same_file_twice_leaves_no_duplicates(
    isolated: Isolated, worker: Worker
) -> None:
    for _ in range(2):
        assert isolated.cli("replay", str(EVERY_RECORD)).returncode == 0
    # Both replays are consumed (14 canonical records in) before counting.
    wait_until(lambda: landed(worker) == TABLES, timeout=60)
    wait_until(lambda: worker.count("SELECT count() AS n FROM cloud_audit") >= 2, timeout=30)
    for table, expected in TABLES.items():
        assert worker.count(f"SELECT count() AS n FROM {table} FINAL") == expected
    duplicates = worker.query(
        "SELECT event_id, count() AS n FROM cloud_audit FINAL GROUP BY event_id HAVING n > 1"
    )
    assert duplicates == []


def test_bytes_that_are_not_avro_on_a_canonical_topic_are_dead_lettered_by_the_worker(
    kafka: Settings, isolated: Isolated, worker: Worker
) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka.kafka_bootstrap})
    producer.produce(f"{isolated.prefix}cloud.audit", value=b"\xc3\x01garbage", key=b"k")
    producer.produce(f"{isolated.prefix}secret.usage", value=b'{"json": "not avro"}')
    producer.flush(10)
    letters = read_topic(kafka.kafka_bootstrap, f"{isolated.prefix}drift.deadletter", 2)
    decoded = sorted(
        (codec_for("DeadLetter").decode_dict(message.value()) for message in letters),
        key=lambda letter: str(letter["source_topic"]),
    )
    assert [letter["source_topic"] for letter in decoded] == [
        f"{isolated.prefix}cloud.audit",
        f"{isolated.prefix}secret.usage",
    ]
    assert decoded[0]["key"] == b"k"
    assert decoded[0]["value"] == b"\xc3\x01garbage"
    assert decoded[0]["stage"] == "sink"
    assert decoded[0]["error_type"] == "decode"
    assert "no C3 01 marker" in decoded[1]["error"]
    # The worker is still alive and still sinking.
    assert isolated.cli("replay", str(EVERY_RECORD)).returncode == 0
    wait_until(lambda: landed(worker) == TABLES, timeout=60)


def test_query_goes_through_the_running_worker_and_refuses_writes(
    isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    assert isolated.cli("replay", str(EVERY_RECORD)).returncode == 0
    wait_until(lambda: landed(worker) == TABLES, timeout=60)
    # The worker holds the embedded engine: the CLI must go through it.
    result = isolated.cli("query", "--format", "json", "SELECT event_id FROM secret_usage FINAL")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"event_id": "vault-1"}\n'
    refused = isolated.cli("query", "DROP TABLE secret_usage")
    assert refused.returncode == 77  # refused (docs/cli.md)
    assert "read-only" in refused.stderr
    assert worker.count("SELECT count() AS n FROM secret_usage FINAL") == 1
