"""Opening ClickHouse: what each session is created with, what a failure to open raises."""

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from accessdrift.errors import ClickHouseUnavailable, SchemaMissing, ServiceUnavailable, exit_code
from accessdrift.sinks import clickhouse as module
from accessdrift.sinks.clickhouse import (
    DATABASE_EXISTS_QUERY,
    READONLY_QUERY,
    ClickHouse,
    changeable,
    session_settings,
)

CLUSTER_SETTINGS = {"distributed_product_mode": "global", "distributed_foreground_insert": 1}


@dataclass
class Answer:
    result_rows: list[tuple[Any, ...]]
    column_names: tuple[str, ...] = ("x",)


@dataclass
class FakeServer:
    """Stands in for clickhouse_connect.get_client: records each client it is asked for
    and what the clients are sent."""

    readonly: int = 0
    database_exists: bool = True
    clients: list[dict[str, Any]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    queries: list[tuple[str, Any]] = field(default_factory=list)

    def get_client(self, **kwargs: Any) -> "FakeClient":
        self.clients.append(kwargs)
        return FakeClient(self)


@dataclass
class FakeClient:
    server: FakeServer

    def query(
        self, sql: str, parameters: Any = None, settings: dict[str, Any] | None = None
    ) -> Answer:
        self.server.queries.append((sql, parameters))
        if sql == READONLY_QUERY:
            return Answer([(self.server.readonly,)])
        if sql == DATABASE_EXISTS_QUERY:
            return Answer([(self.server.database_exists,)])
        return Answer([("parseQueryToJSON",)])  # every function required is there

    def command(self, sql: str) -> None:
        self.server.commands.append(sql)

    def close(self) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()
    monkeypatch.setattr(module.clickhouse_connect, "get_client", fake.get_client)
    return fake


DSN = "http://accessdrift:pw@ch.example:8123/"


def test_a_cluster_session_runs_with_the_cluster_settings(server: FakeServer) -> None:
    clickhouse = ClickHouse(DSN, "accessdrift", cluster="main")
    clickhouse._analyst_client()  # the analysts' session, opened at their first query
    bootstrap, ingest, analyst = server.clients
    assert ingest == {"dsn": DSN, "database": "accessdrift", "settings": CLUSTER_SETTINGS}
    assert analyst == {"dsn": DSN, "database": "accessdrift", "settings": CLUSTER_SETTINGS}
    assert bootstrap == {"dsn": DSN}


def test_a_single_server_session_runs_with_none(server: FakeServer) -> None:
    clickhouse = ClickHouse(DSN, "accessdrift")
    clickhouse._analyst_client()
    assert [client.get("settings") for client in server.clients] == [None, None, None]


def test_the_database_is_created_only_when_it_is_missing(server: FakeServer) -> None:
    ClickHouse(DSN, "accessdrift")
    assert server.commands == []
    assert (DATABASE_EXISTS_QUERY, {"database": "accessdrift"}) in server.queries
    server.database_exists = False
    ClickHouse(DSN, "accessdrift")
    assert server.commands == ["CREATE DATABASE IF NOT EXISTS `accessdrift`"]


def test_a_read_only_user_opens_an_existing_database(server: FakeServer) -> None:
    server.readonly = 1
    clickhouse = ClickHouse(DSN, "accessdrift", cluster="main")
    clickhouse._analyst_client()
    assert server.commands == []
    # Its sessions can set nothing: the profile's settings are the ones they run with.
    assert [client.get("settings") for client in server.clients] == [None, None, None]


def test_a_read_only_user_without_the_database_is_told_to_migrate(server: FakeServer) -> None:
    server.readonly = 1
    server.database_exists = False
    with pytest.raises(SchemaMissing, match=r"no database 'accessdrift'.*accessdrift migrate"):
        ClickHouse(DSN, "accessdrift")
    assert server.commands == []
    assert len(server.clients) == 1  # the bootstrap session alone, closed again


@pytest.mark.parametrize(
    "settings, readonly, expected",
    [
        ({"readonly": 1, "max_threads": 2}, 0, {"readonly": 1, "max_threads": 2}),
        ({"readonly": 1, "max_threads": 2}, 1, None),
        ({"readonly": 1, "max_threads": 2}, 2, {"max_threads": 2}),
        ({"readonly": 1}, 2, None),
        ({}, 0, None),
        (None, 0, None),
    ],
)
def test_a_session_sends_only_what_its_readonly_level_may_change(
    settings: dict[str, Any] | None, readonly: int, expected: dict[str, Any] | None
) -> None:
    assert changeable(settings, readonly) == expected


def test_session_settings_only_on_a_cluster() -> None:
    assert session_settings(None) == {}
    assert session_settings("main") == CLUSTER_SETTINGS


def test_a_server_that_does_not_answer_is_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(ClickHouseUnavailable, match="cannot open ClickHouse") as raised:
        ClickHouse("http://u:S3cret@127.0.0.1:1/db", "accessdrift")
    assert time.monotonic() - started < 30
    assert isinstance(raised.value, ServiceUnavailable)
    assert exit_code(raised.value) == 69
    assert "S3cret" not in str(raised.value)


def test_a_folder_that_cannot_be_made_is_unavailable_and_shown_safely(tmp_path: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the data folder's parent should be
    with pytest.raises(ClickHouseUnavailable, match="cannot open ClickHouse at chdb://"):
        ClickHouse(f"chdb://{blocker}/clickhouse?password=S3cret", "accessdrift")
    with pytest.raises(ClickHouseUnavailable, match=r"at chdb://<unparsable URL>") as raised:
        ClickHouse("chdb://u:S3cret@[::1/db", "accessdrift")
    assert "S3cret" not in str(raised.value)
