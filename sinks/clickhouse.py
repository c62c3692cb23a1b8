"""ClickHouse access: one client for the embedded engine (chDB) and for a server.

``chdb:///path`` opens the embedded engine in this process (one process at a
time may open a folder); ``http(s)://user:password@host:8123/db`` talks to a
server. Inserts carry a deduplication token, and every table is a
ReplacingMergeTree keyed by the record's id, so a retried or replayed batch
never doubles a row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from accessdrift.errors import ClickHouseError, QueryRefused

_READ_ONLY_START = re.compile(r"^\s*(select|with|show|describe|desc|explain|exists)\b", re.I)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(sql: str) -> str:
    """Refuse anything but one read-only statement; return it without a trailing ``;``."""
    statement = _COMMENT.sub(" ", sql).strip().rstrip(";").strip()
    if not statement:
        raise QueryRefused("empty query")
    if ";" in _strip_string_literals(statement):
        raise QueryRefused("one statement at a time: `accessdrift query` runs a single SELECT")
    if not _READ_ONLY_START.match(statement):
        first = statement.split()[0].upper()
        raise QueryRefused(
            f"`accessdrift query` is read-only: {first} is refused "
            "(use SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS)"
        )
    return statement


def _strip_string_literals(sql: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", sql)


class ClickHouse:
    """A connection to the accessdrift database."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn = dsn
        self.database = database
        self.embedded = dsn.startswith("chdb://")
        try:
            if self.embedded:
                Path(urlsplit(dsn).path).mkdir(parents=True, exist_ok=True)
            bootstrap = clickhouse_connect.get_client(dsn=dsn)
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            self.client: Client = clickhouse_connect.get_client(dsn=dsn, database=database)
        except DriverError as error:
            raise ClickHouseError(f"cannot open ClickHouse: {error}") from error
        except Exception as error:  # chDB raises its own errors, e.g. when a folder is locked
            raise ClickHouseError(f"cannot open ClickHouse at {_safe(dsn)}: {error}") from error

    def command(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except DriverError as error:
            raise ClickHouseError(f"{error}") from error

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str],
        dedup_token: str,
    ) -> None:
        """Insert one batch; the same token again is a no-op on the server side.

        The event tables are partitioned by month, and ClickHouse refuses an insert
        that touches more than ``max_partitions_per_insert_block`` (100) partitions
        ("Too many partitions for single INSERT block"): a backfill of HR history
        would be retried forever. Such a batch goes in parts of at most
        PARTITIONS_PER_INSERT months, each with its own token derived from the batch's.
        """
        if not rows:
            return
        for index, part in enumerate(split_by_month(rows, columns)):
            token = dedup_token if index == 0 else f"{dedup_token}:{index}"
            try:
                self.client.insert(
                    table,
                    list(part),
                    column_names=list(columns),
                    settings={"insert_deduplication_token": token},
                )
            except DriverError as error:
                raise ClickHouseError(f"insert into {table} failed: {error}") from error

    def query(self, sql: str, read_only: bool = True) -> QueryResult:
        if read_only:
            sql = check_read_only(sql)
        try:
            result = self.client.query(sql, settings={"readonly": 1} if read_only else None)
        except DriverError as error:
            raise ClickHouseError(f"{error}") from error
        rows = [tuple(_utc(value) for value in row) for row in result.result_rows]
        return QueryResult(list(result.column_names), rows)

    def close(self) -> None:
        self.client.close()


PARTITIONS_PER_INSERT = 90


def split_by_month(
    rows: Sequence[Sequence[Any]], columns: Sequence[str], limit: int = PARTITIONS_PER_INSERT
) -> list[Sequence[Sequence[Any]]]:
    """The rows in parts that each span at most ``limit`` months of ``event_time`` (the
    tables' partition key); one part, as given, when they already do."""
    if "event_time" not in columns:
        return [rows]
    position = list(columns).index("event_time")
    by_month: dict[tuple[int, int], list[Sequence[Any]]] = {}
    for row in rows:
        when = row[position]
        by_month.setdefault((when.year, when.month) if when else (0, 0), []).append(row)
    if len(by_month) <= limit:
        return [rows]
    months = sorted(by_month)
    return [
        [row for month in months[start : start + limit] for row in by_month[month]]
        for start in range(0, len(months), limit)
    ]


def _utc(value: Any) -> Any:
    # DateTime64(6, 'UTC') columns come back naive: make them say what zone they are in.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _safe(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(parts.password, "***")
    return dsn
