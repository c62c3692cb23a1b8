"""The Faust agents with Faust's test context: no broker, the real agent code.

Sends to other topics are captured instead of produced; tables live in memory.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import faust
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from accessdrift.core.timeutil import to_micros
from accessdrift.errors import RowsRefused
from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from accessdrift.sinks.positions import POSITIONS_TABLE, Positions
from accessdrift.sinks.rows import Columns
from accessdrift.streams import resolve_records
from accessdrift.streams.app import create_app
from accessdrift.streams.bundles import pack_messages, pack_records, unpack_messages, unpack_records
from accessdrift.streams.ingest import BatchIngest, Pending
from accessdrift.streams.progress import PROGRESS_SOURCE, parse_report
from accessdrift.streams.sink_health import SinkHealth
from accessdrift.streams.stage_output import Deliveries, StageOutput
from tests.unit.core_builders import ALICE_AWS, ALICE_KEY, at, use

Sent = list[tuple[str, bytes | None, bytes]]


class RecordingSink:
    """Stands where ClickHouse would: the ingest's batches land here."""

    def __init__(self, positions: Positions | None = None) -> None:
        self.batches: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.held: Positions = positions or {}
        self.health = SinkHealth()

    def insert_blocking(self, table: str, batch: Columns, token: str) -> None:
        rows = batch.rows()
        if table == POSITIONS_TABLE:
            self.held.update({(row[0], row[1]): row[2] for row in rows})
            return
        self.batches.append((table, rows))

    def positions_blocking(self) -> Positions:
        return dict(self.held)


@pytest.fixture
def app_and_sink(tmp_path: Path) -> tuple[faust.App, RecordingSink]:
    settings = Settings(data_dir=tmp_path, state_store="memory://", topic_prefix="test.")
    sink = RecordingSink()
    app = create_app(settings, sink)  # type: ignore[arg-type]
    app.finalize()
    app.flow_control.resume()
    return app, sink


@pytest.fixture
def sent() -> Iterator[Sent]:
    captured: Sent = []

    async def capture(self: faust.Topic, *args: Any, **kwargs: Any) -> None:
        captured.append((self.get_topic_name(), kwargs.get("key"), kwargs["value"]))

    original_soon = faust.topics.Topic.send_soon

    def capture_soon(self: faust.Topic, *args: Any, **kwargs: Any) -> Any:
        if self.get_topic_name().endswith("-changelog"):
            return original_soon(self, *args, **kwargs)  # tables keep working
        captured.append((self.get_topic_name(), kwargs.get("key"), kwargs["value"]))
        # As if the broker acknowledged at once: the stages await their sends.
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged

    def capture_stage_send(
        self: StageOutput,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> None:
        if not topic.endswith("-changelog"):
            captured.append((topic, key, value))

    async def acknowledged_at_once(self: StageOutput) -> Deliveries:
        return Deliveries()  # no broker here: as if it had every record

    with (
        mock.patch("faust.topics.Topic.send", capture),
        mock.patch("faust.topics.Topic.send_soon", capture_soon),
        mock.patch.object(StageOutput, "send", capture_stage_send),
        mock.patch.object(StageOutput, "deliver", acknowledged_at_once),
    ):
        yield captured


def micros(seconds: float) -> int:
    return int(at(seconds).timestamp() * 1_000_000)


LEAVER = {
    "t": "dir",
    "id": "d1",
    "ts": micros(0),
    "src": "hr",
    "ik": "human",
    "fb": False,
    "ct": "leaver",
    "accounts": [ALICE_AWS],
    "owner": None,
    "wm": micros(0),
}
USE = {
    "t": "use",
    "id": "u1",
    "ts": micros(3600),
    "sys": "aws",
    "acc": ALICE_AWS,
    "cred": ALICE_KEY,
    "act": "GetObject",
    "ok": True,
    "ip": "203.0.113.9",
    "ik": "human",
    "fb": False,
    "s": ALICE_KEY,
    "wm": micros(3600),
}


async def test_identity_agent_sends_one_alert_for_repeated_uses(
    app_and_sink: tuple[faust.App, RecordingSink], sent: Sent
) -> None:
    app, _ = app_and_sink
    async with app.agents["identities"].test_context() as agent:
        await agent.put(value=pack_messages([("E1", LEAVER), ("E1", USE)]))
        await agent.put(value=pack_messages([("E1", {**USE, "id": "u2", "ts": micros(7200)})]))
    alerts = [value for topic, _, value in sent if topic == "test.drift.alerts"]
    assert len(alerts) == 1, "the second batch found the first one's state: raised already"
    assert app.tables["identities"]["E1"]["emitted"], "the state was written"
    alert = codec_for("Alert").decode_dict(alerts[0])
    assert alert["kind"] == "used_after_deprovision"
    assert alert["identity_id"] == "E1"
    assert alert["used_at"] == at(3600)


async def test_identity_agent_ignores_watermark_broadcasts(
    app_and_sink: tuple[faust.App, RecordingSink], sent: Sent
) -> None:
    app, _ = app_and_sink
    async with app.agents["identities"].test_context() as agent:
        await agent.put(value=pack_messages([("", {"t": "wm", "wm": micros(0)})]))
    assert sent == []


async def test_resolver_routes_a_use_to_the_identity_that_owns_the_key(
    app_and_sink: tuple[faust.App, RecordingSink], sent: Sent
) -> None:
    app, _ = app_and_sink
    name, record = use(60)
    async with app.agents["resolver"].test_context() as agent:
        source = "CloudAuditEvent|test.cloud.audit|0"
        await agent.put(value=pack_records([(source, codec_for(name).encode_dict(record))]))
    bundles = [value for topic, _, value in sent if topic == "test.accessdrift-identity"]
    assert len(bundles) == 1
    ((identity_id, message),) = unpack_messages(bundles[0])
    assert identity_id == ALICE_AWS, "no link yet: the account stands for its identity"
    assert message["t"] == "use" and message["cred"] == ALICE_KEY and message["fb"] is True


class FakeMessage:
    """What confluent-kafka's consumer hands over, as far as the ingest reads it."""

    def __init__(self, topic: str, value: bytes | None, offset: int) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes | None:
        return self._value


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int | None]] = []
        self.flushed = 0

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kw: Any) -> None:
        self.sent.append((topic, value, kw.get("partition")))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushed += 1
        return 0


class FakeConsumer:
    """Partition 0 read to its end (offset 3 of 3); partition 1 not read since it was
    assigned at its committed offset 5, of 9."""

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("test.cloud.audit", 0), TopicPartition("test.cloud.audit", 1)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition("test.cloud.audit", 0, 3), TopicPartition("test.cloud.audit", 1)]

    def get_watermark_offsets(
        self, partition: TopicPartition, cached: bool = False, timeout: float = 0
    ) -> tuple[int, int]:
        return (0, self.highs[partition.partition])

    def __init__(self, committed_at: int = OFFSET_INVALID, highs: tuple[int, int] = (3, 9)) -> None:
        self.committed_at = committed_at
        self.highs = highs
        self.assigned: list[TopicPartition] = []

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(p.topic, p.partition, self.committed_at) for p in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions


def test_ingest_inserts_good_records_forwards_them_and_dead_letters_bad_ones(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    sink = RecordingSink()
    counts: Counter[str] = Counter()
    ingest = BatchIngest(
        settings, sink.insert_blocking, sink.positions_blocking, "test.accessdrift-resolve", counts
    )
    ingest.offsets.on_assign(FakeConsumer(), FakeConsumer().assignment())  # type: ignore[arg-type]
    name, record = use(60)
    good = codec_for(name).encode_dict(record)
    producer = FakeProducer()
    ingest._handle(
        [
            FakeMessage("test.cloud.audit", good, 0),  # type: ignore[list-item]
            FakeMessage("test.cloud.audit", b"not avro", 1),  # type: ignore[list-item]
            FakeMessage("test.cloud.audit", None, 2),  # type: ignore[list-item]
        ],
        producer,  # type: ignore[arg-type]
        FakeConsumer(),  # type: ignore[arg-type]
    )
    bundles = [value for topic, value, _ in producer.sent if topic == "test.accessdrift-resolve"]
    assert len(bundles) == 1, "one bundle for the batch"
    source = "CloudAuditEvent|test.cloud.audit|0"
    before, forwarded, after = unpack_records(bundles[0])
    assert forwarded[0] == source
    assert resolve_records.decode(name, forwarded[1]) == {
        "entitlement": None,  # optional fields the record left out: their Avro default
        "privileged": None,
        **record,
        "event_time": to_micros(record["event_time"]),
    }, "the record as the ingest decoded it, its time in microseconds"
    # Progress around the records: their partition behind, then where each one is.
    assert before[0] == after[0] == PROGRESS_SOURCE
    assert parse_report(before[1]) == {source: (None, False)}
    assert parse_report(after[1]) == {
        source: (to_micros(record["event_time"]), True),
        "CloudAuditEvent|test.cloud.audit|1": (None, False),
    }
    letters = [
        codec_for("DeadLetter").decode_dict(value)
        for topic, value, _ in producer.sent
        if topic == "test.drift.deadletter"
    ]
    assert [(letter["value"], letter["error_type"], letter["offset"]) for letter in letters] == [
        (b"not avro", "decode", 1),
        (b"", letters[1]["error_type"], 2),
    ]
    assert [table for table, _ in sink.batches] == ["cloud_audit"]
    assert sink.batches[0][1][0][0] == record["event_id"]
    assert counts["sink:cloud_audit"] == 1 and counts["ingest:dead-lettered"] == 2
    assert counts["ingest:forwarded"] == 1, "the good record, on to the resolver"
    assert producer.flushed == 1, "bundles are acknowledged before the offsets move"


def test_a_database_new_to_the_deployment_is_filled_again_without_feeding_detection_twice(
    tmp_path: Path,
) -> None:
    """The broker's group read up to offset 5; this database holds nothing of it (a fresh
    data folder): the partitions start again from the beginning, offsets below 5 go to
    the tables only, and from 5 on records are forwarded as usual."""
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    sink = RecordingSink()
    counts: Counter[str] = Counter()
    ingest = BatchIngest(
        settings, sink.insert_blocking, sink.positions_blocking, "test.accessdrift-resolve", counts
    )
    consumer = FakeConsumer(committed_at=5, highs=(9, 9))
    ingest.offsets.on_assign(consumer, consumer.assignment())  # type: ignore[arg-type]
    assert [(p.partition, p.offset) for p in consumer.assigned] == [
        (0, OFFSET_BEGINNING),
        (1, OFFSET_BEGINNING),
    ]
    messages = []
    for offset in range(7):
        name, record = use(60 + offset)
        record["event_id"] = f"e-{offset}"
        messages.append(
            FakeMessage("test.cloud.audit", codec_for(name).encode_dict(record), offset)
        )
    producer = FakeProducer()
    ingest._handle(messages, producer, consumer)  # type: ignore[arg-type]
    inserted = [row[0] for _, rows in sink.batches for row in rows]
    assert inserted == [f"e-{offset}" for offset in range(7)], "every record into the table"
    bundles = [value for topic, value, _ in producer.sent if topic == "test.accessdrift-resolve"]
    forwarded = [
        resolve_records.decode("CloudAuditEvent", value)["event_id"]
        for bundle in bundles
        for source, value in unpack_records(bundle)
        if source != PROGRESS_SOURCE
    ]
    assert forwarded == ["e-5", "e-6"], "detection saw offsets 0-4 before"
    assert counts["ingest:rebuilt"] == 5
    assert sink.held == {("test.cloud.audit", 0): 7}

    # Started again, the database now holds what the group read: nothing is re-read.
    again = BatchIngest(
        settings, sink.insert_blocking, sink.positions_blocking, "test.accessdrift-resolve", counts
    )
    sink.held[("test.cloud.audit", 1)] = 5
    consumer = FakeConsumer(committed_at=5, highs=(9, 9))
    again.offsets.on_assign(consumer, consumer.assignment())  # type: ignore[arg-type]
    assert consumer.assigned == [], "the group's offsets stand"

    # The topic recreated under the group's offsets (offset 5, the partition ends at 3):
    # everything is read and forwarded again.
    truncated = FakeConsumer(committed_at=5, highs=(3, 9))
    again.offsets.on_assign(truncated, truncated.assignment())  # type: ignore[arg-type]
    assert again.offsets.forward_from[("test.cloud.audit", 0)] == 0
    assert next((p.partition, p.offset) for p in truncated.assigned) == (0, OFFSET_BEGINNING)


class CommitFailing:
    def __init__(self, code: int) -> None:
        self.code = code

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", 0)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition("t", 0, 5)]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        raise KafkaException(KafkaError(self.code))


class CommitRecording(CommitFailing):
    def __init__(self) -> None:
        super().__init__(0)
        self.committed_offsets: list[tuple[str, int, int]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.committed_offsets = [(p.topic, p.partition, p.offset) for p in offsets]


def test_while_a_new_database_is_filled_the_group_never_goes_back(tmp_path: Path) -> None:
    """Position 5 while rows are read again up to 900 for a new database: the group's
    offset stays at 900, so a crash does not feed detection 5..899 twice."""
    sink = RecordingSink()
    ingest = BatchIngest(
        Settings(data_dir=tmp_path), sink.insert_blocking, sink.positions_blocking, "r", Counter()
    )
    ingest.offsets.forward_from[("t", 0)] = 900
    consumer = CommitRecording()
    ingest.offsets.commit(consumer)  # type: ignore[arg-type]
    assert consumer.committed_offsets == [("t", 0, 900)]
    ingest.offsets.forward_from[("t", 0)] = 3
    ingest.offsets.commit(consumer)  # type: ignore[arg-type]
    assert consumer.committed_offsets == [("t", 0, 5)]


def test_a_commit_lost_to_a_rebalance_is_counted_not_fatal(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    sink = RecordingSink()
    ingest = BatchIngest(
        Settings(data_dir=tmp_path),
        sink.insert_blocking,
        sink.positions_blocking,
        "resolve",
        counts,
    )
    ingest.offsets.commit(CommitFailing(KafkaError.REBALANCE_IN_PROGRESS))  # type: ignore[arg-type]
    assert counts["ingest:commits-lost"] == 1
    # The group coordinator moving to another broker (its node killed): lost, not fatal.
    for code in (
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
    ):
        ingest.offsets.commit(CommitFailing(code))  # type: ignore[arg-type]
    assert counts["ingest:commits-lost"] == 6
    with pytest.raises(KafkaException):
        ingest.offsets.commit(CommitFailing(KafkaError._MSG_TIMED_OUT))  # type: ignore[arg-type]


class RefusingSink(RecordingSink):
    """Refuses any batch holding the event id ``bad-*`` for its values, as ClickHouse does
    a value out of a column's range: sent again, it fails again."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    def insert_blocking(self, table: str, batch: Columns, token: str) -> None:
        if table == POSITIONS_TABLE:
            return super().insert_blocking(table, batch, token)
        self.tokens.append(token)
        if any(str(event_id).startswith("bad-") for event_id in batch.data[0]):
            raise RowsRefused("Code: 321. DB::Exception: Value is out of range")
        super().insert_blocking(table, batch, token)


def test_rows_clickhouse_refuses_are_dead_lettered_and_the_rest_inserted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    sink = RefusingSink()
    counts: Counter[str] = Counter()
    ingest = BatchIngest(
        settings, sink.insert_blocking, sink.positions_blocking, "test.accessdrift-resolve", counts
    )
    ingest.offsets.on_assign(FakeConsumer(), FakeConsumer().assignment())  # type: ignore[arg-type]
    messages = []
    for offset, event_id in enumerate(["ok-1", "bad-1", "ok-2", "ok-3", "bad-2"]):
        name, record = use(60)
        record["event_id"] = event_id
        messages.append(
            FakeMessage("test.cloud.audit", codec_for(name).encode_dict(record), offset)
        )
    producer = FakeProducer()
    ingest._handle(messages, producer, FakeConsumer())  # type: ignore[arg-type]
    inserted = sorted(row[0] for _, rows in sink.batches for row in rows)
    assert inserted == ["ok-1", "ok-2", "ok-3"]
    letters = [
        codec_for("DeadLetter").decode_dict(value)
        for topic, value, _ in producer.sent
        if topic == "test.drift.deadletter"
    ]
    assert sorted(letter["offset"] for letter in letters) == [1, 4]
    assert {letter["error_type"] for letter in letters} == {"refused_by_sink"}
    assert "out of range" in letters[0]["error"]
    assert counts["sink:cloud_audit"] == 3
    # The halves' tokens derive from the batch's: a replay splits, and dedups, the same way.
    assert all(token.startswith(sink.tokens[0]) for token in sink.tokens)


def test_records_go_to_the_resolver_when_read_and_their_rows_wait_for_the_sink(
    tmp_path: Path,
) -> None:
    """Detection does not wait for ClickHouse's batch: ``_take`` forwards at once,
    ``_sink`` inserts later, and only then may the offsets be committed."""
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    sink = RecordingSink()
    ingest = BatchIngest(
        settings,
        sink.insert_blocking,
        sink.positions_blocking,
        "test.accessdrift-resolve",
        Counter(),
    )
    ingest.offsets.on_assign(FakeConsumer(), FakeConsumer().assignment())  # type: ignore[arg-type]
    producer = FakeProducer()
    pending = Pending()
    for offset in range(2):
        name, record = use(60 + offset)
        message = FakeMessage("test.cloud.audit", codec_for(name).encode_dict(record), offset)
        ingest._take([message], producer, FakeConsumer(), pending)  # type: ignore[list-item,arg-type]
    forwarded = [
        source
        for topic, value, _ in producer.sent
        if topic == "test.accessdrift-resolve"
        for source, _ in unpack_records(value)
        if source != PROGRESS_SOURCE
    ]
    assert len(forwarded) == 2
    assert sink.batches == [] and producer.flushed == 0  # nothing in ClickHouse yet
    assert pending.count == 2 and pending.written == {("test.cloud.audit", 0): 2}
    ingest._sink(pending, producer)  # type: ignore[arg-type]
    assert [(table, len(rows)) for table, rows in sink.batches] == [("cloud_audit", 2)]
    assert producer.flushed == 1  # every bundle acknowledged before a commit
    assert sink.held[("test.cloud.audit", 0)] == 2


def test_the_findings_ingest_starts_where_the_database_stops(tmp_path: Path) -> None:
    """Its own group (new to a deployment that read the findings in the canonical group
    before, or after a crash between insert and commit): the database's position wins;
    nothing held, or a position past a recreated topic's end: from the beginning."""
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    sink = RecordingSink({("test.drift.alerts", 0): 2, ("test.drift.alerts", 1): 40})
    ingest = BatchIngest(
        settings,
        sink.insert_blocking,
        sink.positions_blocking,
        "test.accessdrift-resolve",
        Counter(),
        forward=False,
    )
    assert ingest.group == settings.findings_group != settings.canonical_group
    assert "test.cloud.audit" not in ingest.record_of_topic
    assert ingest.record_of_topic["test.drift.alerts"] == "Alert"
    consumer = FakeConsumer(committed_at=OFFSET_INVALID, highs=(3, 9))
    partitions = [TopicPartition("test.drift.alerts", p) for p in (0, 1, 2)]
    consumer.highs = (3, 9, 9)  # type: ignore[assignment]
    ingest.offsets.on_assign(consumer, partitions)  # type: ignore[arg-type]
    assert [p.offset for p in consumer.assigned] == [2, OFFSET_BEGINNING, OFFSET_BEGINNING]


class TimedConsumer:
    """Records how the ingest waits: ``poll`` for the first message, then ``consume``."""

    def __init__(self, queued: int) -> None:
        self.queued = queued
        self.calls: list[tuple[str, int, float]] = []

    def poll(self, timeout: float) -> Any:
        self.calls.append(("poll", 1, timeout))
        if not self.queued:
            return None
        self.queued -= 1
        return object()

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.calls.append(("consume", num_messages, timeout))
        taken = min(num_messages, self.queued)
        self.queued -= taken
        return [object()] * taken


def test_the_ingest_wakes_on_the_first_record_and_never_waits_past_the_flush(
    tmp_path: Path,
) -> None:
    from accessdrift.streams.ingest import FORWARD_LINGER_SECONDS, IDLE_POLL_SECONDS

    settings = Settings(data_dir=tmp_path, sink_flush_interval="200ms")
    ingest = BatchIngest(settings, RecordingSink().insert_blocking, dict, "r", Counter())
    consumer = TimedConsumer(queued=30)
    taken = ingest._next_messages(consumer, 2000, Pending())  # type: ignore[arg-type]
    assert len(taken) == 30
    assert consumer.calls == [
        ("poll", 1, IDLE_POLL_SECONDS),
        ("consume", 1999, FORWARD_LINGER_SECONDS),
    ]
    # Rows pending since 150 ms ago: the wait for more ends when their flush is due.
    pending = Pending(count=5, since=time.monotonic() - 0.15)
    consumer = TimedConsumer(queued=0)
    assert ingest._next_messages(consumer, 1995, pending) == []  # type: ignore[arg-type]
    assert consumer.calls[0][0] == "poll" and consumer.calls[0][2] <= 0.05 + 1e-3
    assert ingest._next_messages(TimedConsumer(queued=9), 0, Pending()) == []  # type: ignore[arg-type]


def test_a_bundle_librdkafka_gave_up_on_stops_the_ingest_before_its_commit(
    tmp_path: Path,
) -> None:
    """librdkafka drops a record whose message timeout passes and ``flush`` then returns
    0 as if it had arrived: the delivery report is the only witness. A real producer on a
    port nobody listens on, 300 ms to deliver: the batch's sink step raises, so the
    offsets (committed after it) stay where the lost bundle was read."""
    from confluent_kafka import Producer

    from accessdrift.errors import KafkaError as DeliveryFailed

    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    ingest = BatchIngest(
        settings,
        RecordingSink().insert_blocking,
        RecordingSink().positions_blocking,
        "test.accessdrift-resolve",
        Counter(),
    )
    producer = Producer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "message.timeout.ms": 300,
            "on_delivery": ingest.deliveries.on_delivery,
            "log_level": 0,
        }
    )
    ingest.offsets.on_assign(FakeConsumer(), FakeConsumer().assignment())  # type: ignore[arg-type]
    name, record = use(60)
    good = codec_for(name).encode_dict(record)
    ingest._take(
        [FakeMessage("test.cloud.audit", good, 0)],  # type: ignore[list-item]
        producer,
        FakeConsumer(),  # type: ignore[arg-type]
        Pending(),
    )
    with pytest.raises(DeliveryFailed, match="not delivered, so their offsets are not committed"):
        ingest._sink(Pending(), producer)
    ingest._sink(Pending(), producer)  # reported once: a later batch of its own is judged alone


def test_delivered_bundles_let_the_batch_commit(tmp_path: Path) -> None:
    """The same check stays silent when every report is a delivery."""
    settings = Settings(data_dir=tmp_path, topic_prefix="test.")
    ingest = BatchIngest(
        settings,
        RecordingSink().insert_blocking,
        RecordingSink().positions_blocking,
        "test.accessdrift-resolve",
        Counter(),
    )
    ingest.deliveries.on_delivery(None, FakeMessage("test.accessdrift-resolve", b"x", 0))  # type: ignore[arg-type]
    ingest._sink(Pending(), FakeProducer())  # type: ignore[arg-type]


def ingest_holding_offset_5(tmp_path: Path, counts: Counter[str]) -> BatchIngest:
    """A canonical ingest whose database holds both cloud.audit partitions up to 5."""
    sink = RecordingSink({("test.cloud.audit", 0): 5, ("test.cloud.audit", 1): 5})
    return BatchIngest(
        Settings(data_dir=tmp_path, topic_prefix="test."),
        sink.insert_blocking,
        sink.positions_blocking,
        "resolve",
        counts,
    )


class CommittedRefusedTwice(FakeConsumer):
    """The group's coordinator away for two questions (its broker killed), then back."""

    def __init__(self, code: int) -> None:
        super().__init__(committed_at=5)
        self.code = code
        self.asked = 0

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked += 1
        if self.asked <= 2:
            raise KafkaException(KafkaError(self.code))
        return super().committed(partitions, timeout)


def test_an_assignment_while_the_coordinator_moves_asks_again_for_the_offsets(
    tmp_path: Path,
) -> None:
    """An exception from ``on_assign`` leaves librdkafka's poll and stops the worker: a
    coordinator that is away (timed out, not available) is asked again; any other
    refusal still stops it."""
    counts: Counter[str] = Counter()
    ingest = ingest_holding_offset_5(tmp_path, counts)
    for code in (KafkaError._TIMED_OUT, KafkaError.COORDINATOR_NOT_AVAILABLE):
        consumer = CommittedRefusedTwice(code)
        ingest.offsets.on_assign(consumer, consumer.assignment())  # type: ignore[arg-type]
        assert consumer.asked == 3
        assert ingest.offsets.started_at[("test.cloud.audit", 1)] == 5
    assert counts["ingest:offset-reads-retried"] == 4
    refusing = CommittedRefusedTwice(KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        ingest.offsets.on_assign(refusing, refusing.assignment())  # type: ignore[arg-type]


class SlowToAcknowledge(FakeProducer):
    """A broker that holds writes (too few replicas in sync) for ``seconds`` of flushes."""

    def __init__(self, seconds: int) -> None:
        super().__init__()
        self.seconds = seconds

    def flush(self, timeout: float) -> int:
        self.flushed += 1
        return 0 if self.flushed > self.seconds else 7


def test_the_ingest_waits_for_a_broker_that_holds_writes_and_stops_only_when_told(
    tmp_path: Path,
) -> None:
    """Bundles held for 90 one-second flushes (a failover that outlasts the 60 s the sink
    step used to allow, after which the worker stopped): the step waits and passes.
    Told to stop while they are held, it raises, so nothing is committed."""
    ingest = BatchIngest(
        Settings(data_dir=tmp_path),
        RecordingSink().insert_blocking,
        RecordingSink().positions_blocking,
        "resolve",
        Counter(),
    )
    held = SlowToAcknowledge(90)
    ingest._sink(Pending(), held)  # type: ignore[arg-type]
    assert held.flushed == 91
    ingest.stopping.set()
    from accessdrift.errors import KafkaError as NotAcknowledged

    with pytest.raises(NotAcknowledged, match="7 bundles not acknowledged"):
        ingest._sink(Pending(), SlowToAcknowledge(90))  # type: ignore[arg-type]


class CommittedWithPartitionErrors(FakeConsumer):
    """An answer that comes back whole, one partition carrying the coordinator's error."""

    def __init__(self, code: int) -> None:
        super().__init__(committed_at=5, highs=(9, 9))
        self.code = code
        self.asked = 0

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked += 1
        answer = super().committed(partitions, timeout)
        if self.asked == 1:
            # librdkafka's TopicPartition.error cannot be set from Python: its fields.
            answer[0] = PartitionAnswer(  # type: ignore[call-overload]
                answer[0].topic, answer[0].partition, OFFSET_INVALID, KafkaError(self.code)
            )
        return answer


@dataclass
class PartitionAnswer:
    topic: str
    partition: int
    offset: int
    error: KafkaError | None


def test_a_partition_answered_with_the_coordinators_error_is_asked_again(
    tmp_path: Path,
) -> None:
    counts: Counter[str] = Counter()
    ingest = ingest_holding_offset_5(tmp_path, counts)
    consumer = CommittedWithPartitionErrors(KafkaError.NOT_COORDINATOR)
    ingest.offsets.on_assign(consumer, consumer.assignment())  # type: ignore[arg-type]
    assert consumer.asked == 2
    assert ingest.offsets.forward_from[("test.cloud.audit", 0)] == 5, "not started over"
