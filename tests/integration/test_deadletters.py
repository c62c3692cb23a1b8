"""Dead letters: secrets redacted on the real path, and sent through again on demand."""

import json
from pathlib import Path

from confluent_kafka import Producer

from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from tests.helpers import Isolated, Worker, read_topic, wait_until

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_rejected_assume_role_keeps_no_secret_and_can_be_sent_again(
    kafka: Settings, isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    record = {
        "eventVersion": "1.08",
        "eventTime": "not a time",
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIAEXAMPLE0000001",
                "secretAccessKey": SECRET,
                "sessionToken": "IQoJb3JpZ2luX2VjEKL" + "x" * 60,
            }
        },
    }
    raw = f"{isolated.prefix}raw.cloudtrail"
    producer = Producer({"bootstrap.servers": kafka.kafka_bootstrap})
    producer.produce(raw, value=json.dumps(record).encode())
    producer.flush(10)
    deadletter = f"{isolated.prefix}drift.deadletter"
    (first,) = read_topic(kafka.kafka_bootstrap, deadletter, 1)
    letter = codec_for("DeadLetter").decode_dict(first.value())
    assert SECRET.encode() not in letter["value"] and b"IQoJ" not in letter["value"]
    assert b"ASIAEXAMPLE0000001" in letter["value"], "the key id stays, to follow up"
    assert letter["source_topic"] == raw and "eventTime" in letter["error"]

    # Sent through again (as once the cause is fixed): it goes back to raw.cloudtrail,
    # where the worker rejects it again, a second letter.
    again = isolated.cli("replay", "--from-deadletters")
    assert again.returncode == 0, again.stderr
    assert f"1 -> {raw}" in again.stdout

    def both() -> list[object] | None:
        found = read_topic(kafka.kafka_bootstrap, deadletter, 2, timeout=5)
        return found if len(found) >= 2 else None

    letters = wait_until(both, timeout=60)
    decoded = [codec_for("DeadLetter").decode_dict(m.value()) for m in letters]  # type: ignore[attr-defined]
    # The same record, read again from raw.cloudtrail: another partition or offset.
    assert len({(letter["partition"], letter["offset"]) for letter in decoded}) == 2
    assert {letter["source_topic"] for letter in decoded} == {raw}


def test_an_event_from_the_future_is_a_dead_letter_not_a_watermark(
    kafka: Settings, isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    """One forged time must not carry the watermark, and every SLA deadline, to 2099."""
    lines = tmp_path / "forged.jsonl"
    base = {"record": "CloudAuditEvent", "system": "aws", "action": "GetObject"}
    lines.write_text(
        json.dumps(
            {**base, "event_id": "forged-1", "event_time": "2099-01-01T00:00:00Z",
             "account_id": "aws:1:user/mallory", "kind": "usage", "outcome": "success"}
        ) + "\n" + json.dumps(
            {**base, "event_id": "honest-1", "event_time": "2026-03-01T00:00:00Z",
             "account_id": "aws:1:user/alice", "kind": "usage", "outcome": "success"}
        ) + "\n"
    )  # fmt: skip
    sent = isolated.cli("replay", "--format", "canonical", str(lines))
    assert sent.returncode == 0, sent.stderr
    (first,) = read_topic(kafka.kafka_bootstrap, f"{isolated.prefix}drift.deadletter", 1)
    letter = codec_for("DeadLetter").decode_dict(first.value())
    assert letter["error_type"] == "future" and "2099-01-01" in letter["error"]
    assert letter["source_topic"] == f"{isolated.prefix}cloud.audit"
    wait_until(lambda: worker.count("SELECT count() AS n FROM cloud_audit FINAL") == 1, timeout=60)
    assert worker.query("SELECT event_id FROM cloud_audit FINAL") == [{"event_id": "honest-1"}]
