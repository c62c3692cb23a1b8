"""Rows into ClickHouse from the worker's threads (the two batch ingests, the notifier).

``PendingRows`` buffers rows per record kind until the batch is full or its flush
interval is up; ``BatchSink`` inserts a batch until ClickHouse takes it: with backoff
while it is away (the thread waits, its inputs stay in Kafka, nothing piles up in
memory), and, for input rows, a batch refused for its values halved until the rows it
refuses are found (retrying them cannot help: they go to the dead letters)."""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from accessdrift.errors import ClickHouseError, RowsRefused
from accessdrift.sinks.positions import POSITION_COLUMNS, POSITIONS_TABLE, Positions, position_rows
from accessdrift.sinks.rows import ALL_TABLES, Columns, dedup_token, to_columns
from accessdrift.streams.sink_health import SinkHealth

Insert = Callable[[str, Columns, str], None]
"""One batch into a table under its dedup token, from a thread that waits for it
(``SinkExecutor.insert_blocking``)."""

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0

Origin = TypeVar("Origin")


@dataclass
class PendingRows(Generic[Origin]):
    """What was read since the last flush: rows per record kind (with their bytes, for
    the dedup token, and where each came from, for its dead letter) and the input
    offsets they reach (``written``). ``count`` is what was read, ``since`` when the
    first of it was."""

    by_record: dict[str, tuple[list[dict[str, Any]], list[bytes], list[Origin]]] = field(
        default_factory=dict
    )
    written: Positions = field(default_factory=dict)
    count: int = 0
    since: float = 0.0

    def taking(self, count: int) -> None:
        """``count`` more messages read into this batch."""
        if not self.count:
            self.since = time.monotonic()
        self.count += count

    def add(self, record: str, row: dict[str, Any], payload: bytes, origin: Origin) -> None:
        rows, payloads, origins = self.by_record.setdefault(record, ([], [], []))
        rows.append(row)
        payloads.append(payload)
        origins.append(origin)

    def due(self, batch_size: int, flush_seconds: float) -> bool:
        """Full, or its first row has waited the flush interval."""
        return bool(self.count) and (
            self.count >= batch_size or time.monotonic() - self.since >= flush_seconds
        )


class BatchSink:
    """Inserts that end only once ClickHouse took them (or the thread stops).

    ``retries`` names the counter of retried inserts (``ingest:insert_retries``, read
    by /metrics/), if any; ``health`` is None when the insert reports its own outcome
    (``SinkExecutor.insert_blocking``, on the ClickHouse thread, in the order the
    inserts ran)."""

    def __init__(
        self,
        insert: Insert,
        stopping: threading.Event,
        counts: Counter[str],
        log: logging.Logger,
        retries: str | None = None,
        health: SinkHealth | None = None,
        describe: Callable[[BaseException], str] = str,
    ) -> None:
        self.insert = insert
        self.stopping = stopping
        self.counts = counts
        self.log = log
        self.retries = retries
        self.health = health
        self.describe = describe

    def flush(
        self, pending: PendingRows[Origin], refused: Callable[[Origin, RowsRefused], None]
    ) -> None:
        """The pending rows, table by table (each row ClickHouse refuses handed to
        ``refused`` as its table's insert ends, the others counted in
        ``sink:<table>``), then the input positions they reach."""
        for record, (rows, payloads, origins) in pending.by_record.items():
            spec = ALL_TABLES[record]
            refusals = self.insert_until_done(
                spec.table, to_columns(spec, rows), dedup_token(spec.table, payloads)
            )
            for index, refusal in refusals:
                refused(origins[index], refusal)
            self.counts[f"sink:{spec.table}"] += len(rows) - len(refusals)
        if pending.written:
            # Unique per write (the table keeps the latest row per partition).
            token = f"positions:{time.time_ns()}"
            self.insert_until_done(
                POSITIONS_TABLE,
                Columns.from_rows(POSITION_COLUMNS, position_rows(pending.written)),
                token,
            )

    def insert_until_done(
        self, table: str, batch: Columns, token: str
    ) -> list[tuple[int, RowsRefused]]:
        """Retry with backoff until ClickHouse takes the batch: the stream waits, loses
        nothing. Rows ClickHouse refuses for their values (retrying cannot help) are
        found by halving the batch, each half under a token derived from the batch's
        (a replay halves the same way); the others go in, and the refused are returned
        by index, for the dead letters."""
        return self._insert(table, batch, token, halve=True)

    def insert_whole(self, table: str, batch: Columns, token: str) -> None:
        """Retry with backoff until ClickHouse takes the whole batch, refused or not:
        for rows with nowhere else to go (the notifier's deliveries)."""
        self._insert(table, batch, token, halve=False)

    def _insert(
        self, table: str, batch: Columns, token: str, halve: bool
    ) -> list[tuple[int, RowsRefused]]:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                self.insert(table, batch, token)
                if self.health is not None:
                    self.health.succeeded()
                return []
            except ClickHouseError as error:
                if halve and isinstance(error, RowsRefused):
                    return self._halves(table, batch, token, error)
                if self.stopping.is_set():
                    raise
                # Back-pressure: the stream waits here, its inputs stay in Kafka; nothing
                # piles up in memory while ClickHouse is away.
                if self.health is not None:
                    self.health.failed(error)
                if self.retries is not None:
                    self.counts[self.retries] += 1
                self.log.error(
                    "insert into %s failed, retrying in %.1fs: %s",
                    table,
                    delay,
                    self.describe(error),
                    extra={"table": table, "retry_in_seconds": delay, "rows": len(batch)},
                )
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _halves(
        self, table: str, batch: Columns, token: str, error: RowsRefused
    ) -> list[tuple[int, RowsRefused]]:
        size = len(batch)
        if size == 1:
            return [(0, error)]
        middle = size // 2
        first = self.insert_until_done(table, batch.slice(0, middle), f"{token}:a")
        second = self.insert_until_done(table, batch.slice(middle, size), f"{token}:b")
        return first + [(index + middle, problem) for index, problem in second]
