"""The check at start that a ClickHouse server has every function the project calls,
on the embedded engine (chDB): no broker, no server."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from accessdrift.errors import ConfigError
from accessdrift.sinks import clickhouse as clickhouse_module
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.server_functions import REQUIRED_FUNCTIONS


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("functions")


@pytest.fixture(scope="module")
def clickhouse(folder: Path) -> Iterator[ClickHouse]:
    # Opening it runs the check: the embedded engine has every required function.
    connection = ClickHouse(f"chdb://{folder}", "accessdrift_functions")
    yield connection
    connection.close()


def test_the_embedded_engine_has_every_required_function(clickhouse: ClickHouse) -> None:
    clickhouse.require_functions()
    names = clickhouse.query_params(
        "SELECT name FROM system.functions WHERE name IN {names:Array(String)}",
        {"names": list(REQUIRED_FUNCTIONS)},
    )
    assert sorted(row[0] for row in names.rows) == sorted(REQUIRED_FUNCTIONS)


def test_a_missing_function_is_a_configuration_error_naming_it(clickhouse: ClickHouse) -> None:
    with pytest.raises(ConfigError) as refused:
        clickhouse.require_functions({"parseQueryToJSON": "26.8", "accessdriftNoSuchFn": "99.1"})
    message = str(refused.value)
    assert "lacks accessdriftNoSuchFn (ClickHouse 99.1 or later)" in message
    assert "parseQueryToJSON" not in message
    version = clickhouse.query("SELECT version()", read_only=False).rows[0][0]
    assert f"version {version}" in message


def test_opening_a_server_without_one_refuses_to_start(
    clickhouse: ClickHouse, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the worker, `migrate` and `query` see on an older server: the same engine,
    # told that it needs a function it lacks.
    monkeypatch.setattr(
        clickhouse_module,
        "REQUIRED_FUNCTIONS",
        {**REQUIRED_FUNCTIONS, "accessdriftNoSuchFn": "99.1"},
    )
    with pytest.raises(ConfigError, match="accessdriftNoSuchFn"):
        ClickHouse(f"chdb://{folder}", "accessdrift_functions")
