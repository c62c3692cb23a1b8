"""ClickHouse access: one client for the embedded engine (chDB) and for a server.

``chdb:///path`` opens the embedded engine in this process (one process at a
time may open a folder); ``http(s)://user:password@host:8123/db`` talks to a
server. Inserts carry a deduplication token, and every table is a
ReplacingMergeTree keyed by the record's id, so a retried or replayed batch
never doubles a row.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from clickhouse_connect.driver.query import QueryResult as DriverResult

from accessdrift.errors import (
    ClickHouseError,
    ClickHouseUnavailable,
    ConfigError,
    QueryRefused,
    RowsRefused,
    SchemaMissing,
)
from accessdrift.sinks.dsn import safe_dsn
from accessdrift.sinks.faults import INSERT, FaultSwitch
from accessdrift.sinks.query_guard import (
    PARSER_DEPTH,
    plain_table_statement,
    refusal,
    too_deep,
    too_long,
    unserialisable_read_only,
)
from accessdrift.sinks.rows import Columns
from accessdrift.sinks.server_functions import (
    REQUIRED_FUNCTIONS,
    functions_query,
    missing_functions,
    missing_message,
)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    # ClickHouse's type of each column (``Nullable(String)``); empty when unknown.
    types: list[str] = field(default_factory=list)
    # A --limit stopped the result: more rows exist than were returned.
    truncated: bool = False


@dataclass(frozen=True)
class QueryLimits:
    """What one analyst query may take: ClickHouse enforces them, and the worker counts
    the bytes of the result it receives as well (``ResultBudget``)."""

    seconds: float = 60.0
    rows: int = 100_000
    memory_bytes: int = (
        512 * 1024**2
    )  # ACCESSDRIFT_QUERY_MAX_MEMORY: why in accessdrift/settings.py
    result_bytes: int = 64 * 1024**2
    # Without it ClickHouse runs one thread per core: numbers_mt(1e13) took them all.
    threads: int = 2
    # ClickHouse refuses a read it knows to be larger before it starts: a source of
    # 10^13 rows is refused at once instead of spinning until the timeout.
    rows_read: int = 10_000_000_000

    def settings(self) -> dict[str, Any]:
        return {
            "readonly": 1,
            "max_execution_time": self.seconds,
            "max_result_rows": self.rows,
            "max_result_bytes": self.result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.memory_bytes,
            "max_threads": self.threads,
            "max_rows_to_read": self.rows_read,
            "max_parser_depth": PARSER_DEPTH,
            # Under readonly=1 a view's own SETTINGS are not applied: the views that tell
            # an unmatched LEFT JOIN by its NULLs (access_retained_after_move,
            # deprovision_timeline) need it from the session.
            "join_use_nulls": 1,
        }


class ResultBudget:
    """The bytes of a result as the worker receives it, counted row by row about as
    ClickHouse counts a block (a string's bytes and its offset, 8 for a number or a
    time), without recursion.

    ClickHouse's ``max_result_bytes`` counts a constant column once, not once per row:
    ``SELECT repeat('x', 1000000) FROM numbers(1000)`` passed it with a gigabyte. This
    count stops such a result one block after the cap. A value nested deeper than the
    parser allows a statement to nest (a JSON object 900 levels deep) is refused too:
    whatever walks it next (the worker's JSON answer) would exhaust the stack."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0

    def take(self, row: Sequence[Any]) -> None:
        stack: list[tuple[Any, int]] = [(value, 1) for value in row]
        while stack:
            value, depth = stack.pop()
            if isinstance(value, str):
                size = len(value)
                if size <= self.cap and not value.isascii():
                    size = len(value.encode("utf-8", "surrogatepass"))
                self.used += 8 + size
            elif isinstance(value, (bytes, bytearray)):
                self.used += 8 + len(value)
            elif isinstance(value, (list, tuple, dict)):
                if depth >= PARSER_DEPTH:
                    raise ClickHouseError(
                        f"a value of the result is nested deeper than {PARSER_DEPTH} levels"
                    )
                self.used += 8
                items = value.items() if isinstance(value, dict) else value
                stack.extend((item, depth + 1) for item in items)
            else:
                self.used += 8
            if self.used > self.cap:
                raise ClickHouseError(
                    f"the result is over {self.cap:,} bytes "
                    "(ACCESSDRIFT_QUERY_MAX_RESULT_BYTES): select fewer rows or columns, "
                    "or aggregate"
                )


READONLY_QUERY = "SELECT toUInt8(getSetting('readonly'))"
DATABASE_EXISTS_QUERY = "SELECT count() > 0 FROM system.databases WHERE name = {database:String}"


def session_settings(cluster: str | None) -> dict[str, Any]:
    """What every session of a deployment runs with: nothing on a single server. On a
    cluster (docs/deploy.md), ``distributed_product_mode = 'global'``: views ``IN`` or
    join tables sharded by different keys, which ClickHouse's default (``deny``) refuses
    and ``local`` would answer per shard; ``distributed_foreground_insert = 1``: an insert
    into a Distributed table returns once the shards hold the rows, because the ingest
    commits its Kafka offsets after the insert (in the background, rows queued on a node
    that then fails would be gone while the offsets say written)."""
    if cluster is None:
        return {}
    return {"distributed_product_mode": "global", "distributed_foreground_insert": 1}


def changeable(settings: Mapping[str, Any] | None, readonly: int) -> dict[str, Any] | None:
    """The part of ``settings`` a session at ClickHouse's ``readonly`` level may send
    (None for nothing): all of them at 0; none at 1, whose sessions ClickHouse refuses any
    change (READONLY, even of ``readonly`` itself), and which run with what their profile
    sets; at 2 all but ``readonly``, which such a session may not lower nor raise."""
    if not settings or readonly == 1:
        return None
    if readonly:
        return {name: value for name, value in settings.items() if name != "readonly"} or None
    return dict(settings)


class ClickHouse:
    """A connection to the accessdrift database."""

    # Class defaults as well: a stand-in that skips __init__ (a test's recorder) reads them.
    readonly = 0
    cluster: str | None = None

    def __init__(
        self,
        dsn: str,
        database: str,
        limits: QueryLimits | None = None,
        faults: FaultSwitch | None = None,
        cluster: str | None = None,
    ) -> None:
        """``cluster``: ACCESSDRIFT_CLICKHOUSE_CLUSTER; its sessions then run with
        ``session_settings(cluster)``."""
        self.dsn = dsn
        self.database = database
        self.limits = limits or QueryLimits()
        self.faults = faults
        self.cluster = cluster
        self._analyst: Client | None = None
        self.embedded = dsn.startswith("chdb://")
        # ClickHouse's ``readonly`` of this user's sessions (its settings profile): 1 may
        # change no setting at all, 2 every one but ``readonly`` (``changeable``).
        self.readonly = 0
        missing = False
        try:
            if self.embedded:
                Path(urlsplit(dsn).path).mkdir(parents=True, exist_ok=True)
            bootstrap = clickhouse_connect.get_client(dsn=dsn)
            try:
                self.readonly = int(bootstrap.query(READONLY_QUERY).result_rows[0][0])
                exists = bootstrap.query(DATABASE_EXISTS_QUERY, parameters={"database": database})
                missing = not exists.result_rows[0][0]
                # Only when it is missing: a read-only analyst may not run CREATE DATABASE
                # at all, not even IF NOT EXISTS on a database that exists.
                if missing and not self.readonly:
                    bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            finally:
                bootstrap.close()
            if not (missing and self.readonly):
                self.client: Client = clickhouse_connect.get_client(
                    dsn=dsn,
                    database=database,
                    settings=self.changeable(session_settings(cluster)),
                )
        except DriverError as error:
            raise ClickHouseUnavailable(f"cannot open ClickHouse: {error}") from error
        except Exception as error:  # chDB raises its own errors, e.g. when a folder is locked
            raise ClickHouseUnavailable(
                f"cannot open ClickHouse at {safe_dsn(dsn)}: {error}"
            ) from error
        if missing and self.readonly:
            raise SchemaMissing(
                f"ClickHouse at {safe_dsn(dsn)} has no database {database!r}, and this user is "
                "read-only: run `accessdrift migrate` as a user that may create it"
            )
        try:
            self.require_functions()
        except Exception:
            self.close()  # a caller that catches the refusal holds no half-open connection
            raise

    def changeable(self, settings: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The part of ``settings`` this user's sessions may send (``changeable``)."""
        return changeable(settings, self.readonly)

    def require_functions(self, required: Mapping[str, str] | None = None) -> None:
        """Refuse a server without a function the project calls (ConfigError naming it and
        the first release that has it): at start, not at an analyst's first query.
        ``required``: REQUIRED_FUNCTIONS (accessdrift/sinks/server_functions.py)."""
        if required is None:
            required = REQUIRED_FUNCTIONS
        sql, parameters = functions_query(required)
        present = [row[0] for row in self.query_params(sql, parameters).rows]
        missing = missing_functions(present, required)
        if missing:
            version = self.query("SELECT version()", read_only=False).rows[0][0]
            raise ConfigError(missing_message(missing, str(version), safe_dsn(self.dsn), required))

    def command(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except DriverError as error:
            raise ClickHouseError(f"{error}") from error

    def insert(self, table: str, batch: Columns, dedup_token: str) -> None:
        """Insert one batch, sent as the columns it is built in; the same token again
        is a no-op on the server side.

        The event tables are partitioned by month, and ClickHouse refuses an insert
        that touches more than ``max_partitions_per_insert_block`` (100) partitions
        ("Too many partitions for single INSERT block"): a backfill of HR history
        would be retried forever. Such a batch goes in parts of at most
        PARTITIONS_PER_INSERT months, each with its own token derived from the batch's.
        """
        if not len(batch):
            return
        if self.faults is not None:
            self.faults.check(INSERT, f"insert into {table}")
        for index, part in enumerate(split_by_month(batch)):
            token = dedup_token if index == 0 else f"{dedup_token}:{index}"
            try:
                self.client.insert(
                    table,
                    part.data,
                    column_names=list(part.names),
                    column_oriented=True,
                    settings={"insert_deduplication_token": token},
                )
            except DriverError as error:
                message = clickhouse_message(error)
                if _refused_rows(message):
                    raise RowsRefused(f"insert into {table} refused: {message}") from error
                raise ClickHouseError(f"insert into {table} failed: {message}") from error
            except (TypeError, ValueError, OverflowError) as error:
                # The client could not even encode a value for its column.
                raise RowsRefused(f"insert into {table} refused: {error}") from error

    def query(self, sql: str, read_only: bool = True, limit: int | None = None) -> QueryResult:
        """``read_only``: an analyst's SQL, checked by ClickHouse's parser
        (``check_query``), then run as given on a session of its own, read-only and
        within the limits. Otherwise the project's own SQL.

        ``limit``: at most that many rows, by ClickHouse's ``max_result_rows`` with
        ``result_overflow_mode = 'break'`` (the SQL runs as written, no LIMIT spliced
        in); ClickHouse stops at a block boundary, the rest is cut here and the
        result says it was.

        An analyst's result is read block by block and its bytes counted as they come
        (``ResultBudget``), whatever ClickHouse counted."""
        client = self.client
        settings: dict[str, Any] | None = None
        if read_only:
            client = self._analyst_client()
            settings = self.limits.settings()
        if limit is not None:
            settings = {
                **(settings or {}),
                # One more than asked: a result of exactly `limit` rows is not cut.
                "max_result_rows": min(limit + 1, self.limits.rows if read_only else limit + 1),
                "result_overflow_mode": "break",
            }
            if read_only:
                # 'break' stops quietly at the byte cap too, a cut no one would see:
                # ClickHouse's is doubled, so that the worker's own count reaches the
                # cap first and refuses the result.
                settings["max_result_bytes"] = 2 * self.limits.result_bytes
        # A read-only user's profile sets the limits it runs with (docs/security.md): a
        # session that may change no setting sends none, and the rows past ``limit``
        # are cut here as they arrive.
        settings = self.changeable(settings)
        try:
            if read_only:
                self.check_query(sql)
                columns, types, rows = self._read_counted(client, sql, settings, limit)
            else:
                result = client.query(sql, settings=settings)
                columns = list(result.column_names)
                types = [column_type.name for column_type in result.column_types]
                rows = [tuple(_utc(value) for value in row) for row in result.result_rows]
        except DriverError as error:
            raise ClickHouseError(clickhouse_message(error)) from error
        except RecursionError as error:
            # clickhouse-connect reads a result's type and values recursively: a shape
            # the parser's depth did not stop must not reach a caller as a crash.
            raise ClickHouseError(
                "the result is nested too deep for the ClickHouse client to read"
            ) from error
        truncated = limit is not None and len(rows) > limit
        if limit is not None:
            rows = rows[:limit]
        if not rows and not columns:
            columns, types = self._columns_of(client, sql, settings)
        return QueryResult(columns, rows, types, truncated)

    def _read_counted(
        self, client: Client, sql: str, settings: dict[str, Any] | None, limit: int | None
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """An analyst's result, block by block, within the byte cap; with ``limit``, the
        reading stops one row past it (closing the stream ends the query)."""
        budget = ResultBudget(self.limits.result_bytes)
        rows: list[tuple[Any, ...]] = []
        try:
            stream = client.query_row_block_stream(sql, settings=settings)
        except DriverError as error:
            if "Streaming query is not supported" not in str(error):
                raise
            # The embedded engine streams SELECTs only: EXPLAIN, SHOW, DESCRIBE and EXISTS
            # answer whole (their answers are about the statement, not the data).
            whole = client.query(sql, settings=settings)
            for row in whole.result_rows:
                budget.take(row)
                rows.append(tuple(_utc(value) for value in row))
            names = [column_type.name for column_type in whole.column_types]
            return list(whole.column_names), names, rows
        with stream:
            source = cast(DriverResult, stream.source)
            columns = list(source.column_names)
            types = [column_type.name for column_type in source.column_types]
            for block in stream:
                for row in block:
                    budget.take(row)
                    rows.append(tuple(_utc(value) for value in row))
                if limit is not None and len(rows) > limit:
                    break
        return columns, types, rows

    @staticmethod
    def _columns_of(
        client: Client, sql: str, settings: dict[str, Any] | None
    ) -> tuple[list[str], list[str]]:
        """The embedded engine answers an empty result without its columns: ask for them,
        so that an analyst still sees what the query would have returned."""
        try:
            described = client.query(
                f"DESCRIBE TABLE ({sql.strip().rstrip(';')})", settings=settings
            )
        except DriverError:
            return [], []
        return [row[0] for row in described.result_rows], [row[1] for row in described.result_rows]

    def query_params(self, sql: str, parameters: dict[str, Any]) -> QueryResult:
        """The project's own SQL, its values bound by ClickHouse (``{name:Type}``), never
        spliced into the text."""
        try:
            result = self.client.query(sql, parameters=parameters)
        except DriverError as error:
            raise ClickHouseError(clickhouse_message(error)) from error
        rows = [tuple(_utc(value) for value in row) for row in result.result_rows]
        return QueryResult(list(result.column_names), rows)

    def check_query(self, sql: str) -> None:
        """Refuse anything but one read-only statement (accessdrift/sinks/query_guard.py)."""
        if not sql.strip().strip(";").strip():
            raise QueryRefused("empty query")
        long = too_long(sql)
        if long is not None:
            raise QueryRefused(long)
        try:
            parsed = self._analyst_client().query(
                "SELECT parseQueryToJSON({sql:String})",
                parameters={"sql": sql},
                settings=self.changeable({"max_parser_depth": PARSER_DEPTH}),
            )
        except DriverError as error:
            message = clickhouse_message(error)
            deep = too_deep(message)
            if deep is not None:
                raise QueryRefused(deep) from error
            if "Multi-statements are not allowed" in message:
                raise QueryRefused(
                    "one statement at a time: `accessdrift query` runs a single SELECT"
                ) from error
            if unserialisable_read_only(message):
                if plain_table_statement(sql):
                    return
                raise QueryRefused(
                    "DESCRIBE, EXISTS and SHOW CREATE name one table, nothing more "
                    "(for anything else: SELECT ... FROM system.columns)"
                ) from error
            if "SYNTAX_ERROR" in message or "Syntax error" in message:
                raise ClickHouseError(message) from error
            raise QueryRefused(f"`accessdrift query` is read-only: {message}") from error
        reason = refusal(json.loads(parsed.result_rows[0][0]))
        if reason is not None:
            raise QueryRefused(reason)

    def _analyst_client(self) -> Client:
        # A session of its own: nothing an analyst's statement leaves behind reaches the
        # session the ingest inserts through.
        if self._analyst is None:
            try:
                self._analyst = clickhouse_connect.get_client(
                    dsn=self.dsn,
                    database=self.database,
                    settings=self.changeable(session_settings(self.cluster)),
                )
            except DriverError as error:
                raise ClickHouseUnavailable(f"cannot open ClickHouse: {error}") from error
        return self._analyst

    def close(self) -> None:
        if self._analyst is not None:
            self._analyst.close()
        self.client.close()


PARTITIONS_PER_INSERT = 90


def split_by_month(batch: Columns, limit: int = PARTITIONS_PER_INSERT) -> list[Columns]:
    """The batch in parts that each span at most ``limit`` months of ``event_time``
    (the tables' partition key); one part, as given, when it already does."""
    times = batch.column("event_time")
    if times is None:
        return [batch]
    by_month: dict[tuple[int, int], list[int]] = {}
    for index, when in enumerate(times):
        by_month.setdefault((when.year, when.month) if when else (0, 0), []).append(index)
    if len(by_month) <= limit:
        return [batch]
    months = sorted(by_month)
    return [
        batch.take([index for month in months[start : start + limit] for index in by_month[month]])
        for start in range(0, len(months), limit)
    ]


# ClickHouse's codes for "these values do not fit": the same rows fail however often
# they are sent again (parse, type, range and size errors).
REFUSED_ROW_CODES = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 131, 321, 349, 395, 641})


def _refused_rows(message: str) -> bool:
    match = re.search(r"Code: (\d+)", message)
    return bool(match) and int(match.group(1)) in REFUSED_ROW_CODES  # type: ignore[union-attr]


def clickhouse_message(error: Exception) -> str:
    """ClickHouse's own words, without the driver's wrapping or the parser call."""
    message = str(error).strip()
    message = re.sub(r"^:?HTTPDriver for \S+ received ClickHouse error code \d+\s*", "", message)
    message = re.sub(r": In scope SELECT parseQueryToJSON\(.*$", "", message, flags=re.S)
    # The limits the analyst session runs with are ours, not the analyst's SQL.
    message = re.sub(r" SETTINGS readonly = '1'(, \w+ = '[^']*')*", "", message)
    return message.strip()


def error_line(error: BaseException, limit: int = 300) -> str:
    """An error for a log: its class and message on one line (line breaks and control
    characters escaped), at most ``limit`` characters. A ClickHouse message echoes the
    SQL, and a traceback of a RecursionError is thousands of lines: per request, either
    would flood the log."""
    text = f"{type(error).__name__}: {error}"[: limit + 1]
    escaped = "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _utc(value: Any) -> Any:
    # DateTime64(6, 'UTC') columns come back naive: make them say what zone they are in.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
