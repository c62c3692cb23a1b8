"""The batching sink on its own: rows buffered until their batch is due, inserts retried
with backoff while ClickHouse is away, a refused batch halved down to the rows it
refuses; and the notifier's whole writes, whose refused rows have nowhere else to go."""

import logging
import time
from collections import Counter
from dataclasses import fields

import pytest

from accessdrift.alerts.dispatch import Delivery
from accessdrift.errors import ClickHouseError, RowsRefused
from accessdrift.sinks.deliveries import StoredDelivery, delivery_rows
from accessdrift.sinks.positions import POSITIONS_TABLE
from accessdrift.sinks.rows import Columns
from accessdrift.streams.batch_sink import RETRY_MAX_SECONDS, BatchSink, PendingRows
from accessdrift.streams.sink_health import SinkHealth
from tests.unit.core_builders import use

log = logging.getLogger("test.batch_sink")


class FlakyClickHouse:
    """Away for its first ``down`` inserts; refuses, for their values, every batch holding
    a value starting ``bad-`` (sent again, it refuses again)."""

    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.calls: list[tuple[str, list[object], str]] = []
        self.taken: list[tuple[str, list[object], str]] = []

    def insert(self, table: str, batch: Columns, token: str) -> None:
        call = (table, list(batch.data[0]), token)
        self.calls.append(call)
        if self.down:
            self.down -= 1
            raise ClickHouseError(f"insert into {table} failed: connection refused")
        if any(str(value).startswith("bad-") for value in batch.data[0]):
            raise RowsRefused("Code: 321. DB::Exception: Value is out of range")
        self.taken.append(call)


class RecordedWaits:
    """Stands for the thread's ``stopping`` event: records each backoff instead of waiting."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    def is_set(self) -> bool:
        return self.stop_after is not None and len(self.waits) >= self.stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def sink_of(
    clickhouse: FlakyClickHouse,
    stopping: RecordedWaits,
    counts: Counter[str],
    health: SinkHealth | None = None,
) -> BatchSink:
    return BatchSink(
        clickhouse.insert,
        stopping,  # type: ignore[arg-type]
        counts,
        log,
        retries="ingest:insert_retries",
        health=health,
    )


def column(*values: str) -> Columns:
    return Columns.from_rows(("event_id",), [(value,) for value in values])


def test_a_refused_batch_is_halved_down_to_the_rows_refused() -> None:
    clickhouse = FlakyClickHouse()
    sink = sink_of(clickhouse, RecordedWaits(), Counter())
    refused = sink.insert_until_done("t", column("ok-1", "bad-1", "ok-2", "ok-3", "bad-2"), "tok")
    assert [index for index, _ in refused] == [1, 4]
    assert all(isinstance(error, RowsRefused) for _, error in refused)
    assert sorted(value for _, values, _ in clickhouse.taken for value in values) == [
        "ok-1",
        "ok-2",
        "ok-3",
    ]
    # Each half under a token derived from its batch's: a replay halves, and dedups, alike.
    assert [token for _, _, token in clickhouse.calls][:3] == ["tok", "tok:a", "tok:a:a"]
    assert all(token.startswith("tok") for _, _, token in clickhouse.calls)


def test_while_clickhouse_is_away_the_insert_backs_off_and_counts_its_retries() -> None:
    clickhouse = FlakyClickHouse(down=9)
    stopping = RecordedWaits()
    counts: Counter[str] = Counter()
    health = SinkHealth()
    sink = sink_of(clickhouse, stopping, counts, health)
    assert sink.insert_until_done("t", column("ok-1"), "tok") == []
    assert stopping.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert max(stopping.waits) == RETRY_MAX_SECONDS
    assert counts["ingest:insert_retries"] == 9
    assert [token for _, _, token in clickhouse.calls] == ["tok"] * 10, "the same batch, whole"
    state = health.as_dict()
    assert (state["sinking"], state["outages"], state["retries"]) == (True, 1, 9)


def test_an_outage_ends_the_wait_when_the_thread_stops() -> None:
    clickhouse = FlakyClickHouse(down=100)
    sink = sink_of(clickhouse, RecordedWaits(stop_after=2), Counter())
    with pytest.raises(ClickHouseError, match="connection refused"):
        sink.insert_until_done("t", column("ok-1"), "tok")
    assert len(clickhouse.calls) == 3


def test_a_whole_write_is_retried_refused_or_not_never_split() -> None:
    """The notifier's deliveries: a row refused has no dead letter to go to, and a pending
    row lost would let a delivery be sent twice; it is retried as when ClickHouse is away."""
    clickhouse = FlakyClickHouse()
    stopping = RecordedWaits(stop_after=3)
    counts: Counter[str] = Counter()
    sink = BatchSink(clickhouse.insert, stopping, counts, log)  # type: ignore[arg-type]
    with pytest.raises(RowsRefused):
        sink.insert_whole("alert_deliveries", column("ok-1", "bad-1"), "deliveries:1")
    assert [token for _, _, token in clickhouse.calls] == ["deliveries:1"] * 4
    assert stopping.waits == [0.5, 1.0, 2.0]
    assert clickhouse.taken == [] and counts == Counter(), "no retry counter of its own"
    sink.insert_whole("alert_deliveries", column("ok-1"), "deliveries:2")
    assert clickhouse.taken[-1] == ("alert_deliveries", ["ok-1"], "deliveries:2")


def test_pending_rows_are_due_when_full_or_when_their_interval_is_up() -> None:
    pending: PendingRows[str] = PendingRows()
    assert not pending.due(batch_size=3, flush_seconds=0.0), "nothing read, nothing due"
    pending.taking(2)
    started = pending.since
    assert started > 0 and not pending.due(batch_size=3, flush_seconds=60)
    pending.taking(1)
    assert pending.since == started, "the interval counts from the first row"
    assert pending.due(batch_size=3, flush_seconds=60)
    late: PendingRows[str] = PendingRows(count=1, since=time.monotonic() - 2)
    assert late.due(batch_size=1000, flush_seconds=1) and not late.due(1000, 5)


def test_a_flush_writes_each_table_then_the_positions_and_hands_back_the_refused() -> None:
    clickhouse = FlakyClickHouse()
    counts: Counter[str] = Counter()
    sink = sink_of(clickhouse, RecordedWaits(), counts)
    pending: PendingRows[str] = PendingRows()
    for offset, event_id in enumerate(["ok-1", "bad-1", "ok-2"]):
        name, record = use(60 + offset, event_id=event_id)
        pending.taking(1)
        pending.add(name, record, event_id.encode(), f"message {offset}")
        pending.written[("cloud.audit", 0)] = offset + 1
    refused: list[tuple[str, str]] = []
    sink.flush(pending, lambda origin, error: refused.append((origin, str(error))))
    assert refused == [("message 1", "Code: 321. DB::Exception: Value is out of range")]
    assert counts["sink:cloud_audit"] == 2
    tables = [table for table, _, _ in clickhouse.taken]
    assert tables[-1] == POSITIONS_TABLE and set(tables[:-1]) == {"cloud_audit"}
    assert clickhouse.taken[-1][1] == ["cloud.audit"]


def test_the_sink_reads_back_a_delivery_with_the_notifiers_fields() -> None:
    """accessdrift/sinks/ does not know the notifier's Delivery: the fields it stores and reads back
    are the same ones, so the notifier makes a Delivery of what it reads."""
    assert StoredDelivery._fields == tuple(field.name for field in fields(Delivery))
    delivery = Delivery("a1", "soc", "sent", 2, 200, None, "v1", 1, "ok", 1_700_000_000.0)
    [row] = delivery_rows([delivery])
    assert row[:6] == ["a1", "soc", "sent", 2, 200, None] and row[8:] == ["v1", 1, "ok"]
    assert row[7].timestamp() == 1_700_000_000.0
    assert (
        Delivery(
            **StoredDelivery(*(getattr(delivery, f) for f in StoredDelivery._fields))._asdict()
        )
        == delivery
    )
