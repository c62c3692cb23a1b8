"""The sink's fault-injection seam and the outage state the web views read."""

import threading
from pathlib import Path

import pytest

from accessdrift.errors import ClickHouseError
from accessdrift.sinks.faults import INSERT, FaultSwitch
from accessdrift.sinks.rows import Columns
from accessdrift.streams.sink_executor import SinkExecutor
from accessdrift.streams.sink_health import SinkHealth


def test_the_switch_fails_inserts_only_while_its_file_names_them(tmp_path: Path) -> None:
    switch = FaultSwitch(tmp_path / "faults")
    switch.check(INSERT, "insert into alerts")  # no file: nothing happens
    (tmp_path / "faults").write_text("something-else\n")
    switch.check(INSERT, "insert into alerts")
    (tmp_path / "faults").write_text("clickhouse-insert\n")
    with pytest.raises(ClickHouseError, match="insert into alerts failed: fault injected"):
        switch.check(INSERT, "insert into alerts")
    (tmp_path / "faults").unlink()
    switch.check(INSERT, "insert into alerts")


def test_an_outage_is_counted_once_with_its_retries_and_ends_on_success() -> None:
    health = SinkHealth()
    assert health.as_dict()["sinking"] is True
    health.failed(ClickHouseError("down"))
    health.failed(ClickHouseError("still down"))
    state = health.as_dict()
    assert (state["sinking"], state["retries"], state["outages"]) == (False, 2, 1)
    assert state["last_error"] == "still down" and state["failing_since"] is not None
    health.succeeded()
    assert health.as_dict()["sinking"] is True and health.as_dict()["outages"] == 1


class _OutageBehindAnInsert:
    """A ClickHouse whose insert into ``slow`` is still running when the outage begins:
    every insert queued behind it fails."""

    def __init__(self) -> None:
        self.slow_started = threading.Event()
        self.release = threading.Event()

    def insert(self, table: str, batch: Columns, token: str) -> None:
        if table == "slow":
            self.slow_started.set()
            assert self.release.wait(30)
            return
        raise ClickHouseError(f"insert into {table} failed: fault injected")


def test_one_outage_is_counted_once_when_an_insert_from_before_it_ends_after_it_began() -> None:
    """Two ingests share the ClickHouse thread: B's insert ran before the outage, A's
    was queued behind it and failed. B's success is recorded before A's insert runs,
    whenever B's own thread gets to run again: one outage, not two (the sink-outage
    fault test once counted 2)."""
    clickhouse = _OutageBehindAnInsert()
    sink = SinkExecutor(clickhouse)  # type: ignore[arg-type]
    batch = Columns.from_rows(("x",), [(1,)])
    failures: list[BaseException] = []

    def insert_a() -> None:
        try:
            sink.insert_blocking("fast", batch, "a")
        except ClickHouseError as error:
            failures.append(error)

    ingest_b = threading.Thread(target=sink.insert_blocking, args=("slow", batch, "b"))
    ingest_b.start()
    assert clickhouse.slow_started.wait(30)
    ingest_a = threading.Thread(target=insert_a)
    ingest_a.start()
    clickhouse.release.set()
    ingest_a.join(30)
    ingest_b.join(30)
    with pytest.raises(ClickHouseError):
        sink.insert_blocking("fast", batch, "a-retry")
    state = sink.health.as_dict()
    assert len(failures) == 1
    assert (state["sinking"], state["outages"], state["retries"]) == (False, 1, 2)
