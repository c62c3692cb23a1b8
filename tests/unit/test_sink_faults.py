"""The sink's fault-injection seam and the outage state the web views read."""

from pathlib import Path

import pytest

from accessdrift.errors import ClickHouseError
from sinks.faults import INSERT, FaultSwitch
from streams.sink_health import SinkHealth


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
