"""Every ClickHouse call of the worker on one thread, analysts' queries on another."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from accessdrift.errors import ClickHouseError, RowsRefused
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.deliveries import StoredDelivery, read_deliveries
from accessdrift.sinks.positions import Positions, read_positions
from accessdrift.sinks.rows import Columns
from accessdrift.streams.sink_health import SinkHealth

T = TypeVar("T")


class SinkExecutor:
    """Runs every ClickHouse call on one thread, so the event loop never blocks on it.

    The embedded engine lives in this process; one thread keeps its use serial.
    """

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse = clickhouse
        # Every insert's outcome, recorded on the ClickHouse thread in the order the
        # inserts ran: an outage shows here, counted once.
        self.health = SinkHealth()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        # Analysts' queries on a thread and a session of their own: a heavy SELECT
        # does not hold up sinking (ClickHouse runs both at once).
        self._queries = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyst-sql")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def query(self, sql: str, limit: int | None = None) -> Any:
        """One analyst statement (``ClickHouse.query``: checked, read-only, limited)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._queries, lambda: self.clickhouse.query(sql, limit=limit)
        )

    def insert_blocking(self, table: str, batch: Columns, token: str) -> None:
        """From another thread (the batch ingest): on the ClickHouse thread, and wait."""
        self._executor.submit(self._insert_and_report, table, batch, token).result()

    def _insert_and_report(self, table: str, batch: Columns, token: str) -> None:
        """The insert, and its outcome into ``health`` before the next insert starts.

        Reported by the callers' threads instead (the two ingests and the notifier each
        wait on their own insert), a success of an insert that ran before an outage
        began could be recorded after the outage's first failure: the outage looked
        over, and the next failure counted a second one (the sink-outage fault test saw
        ``outages == 2`` for one outage)."""
        try:
            self.clickhouse.insert(table, batch, token)
        except RowsRefused:
            raise  # ClickHouse answered: it refused rows for their values, it is not down
        except ClickHouseError as error:
            self.health.failed(error)
            raise
        self.health.succeeded()

    def deliveries_blocking(self, alert_ids: list[str]) -> dict[tuple[str, str], StoredDelivery]:
        """From another thread: the latest delivery state of these alerts."""
        return self._executor.submit(read_deliveries, self.clickhouse, alert_ids).result()

    def positions_blocking(self) -> Positions:
        """From another thread: how far this database holds each topic partition."""
        return self._executor.submit(read_positions, self.clickhouse).result()
