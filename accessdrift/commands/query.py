"""`accessdrift query`: read-only SQL, directly or through the running worker."""

import csv
import http.client
import io
import json
import re
import urllib.error
from datetime import datetime
from typing import Any

from accessdrift.commands.worker_client import WorkerClient
from accessdrift.errors import ClickHouseError, ClickHouseUnavailable, QueryRefused, SchemaMissing
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import ClickHouse, QueryResult
from accessdrift.sinks.migrate import MIGRATIONS_TABLE

# ClickHouse's names of the errors a database that was never migrated gives.
UNMIGRATED = ("(UNKNOWN_TABLE)", "(UNKNOWN_DATABASE)")
MIGRATE_HINT = "run `accessdrift migrate` first"
_MISSING_NAME = re.compile(r"(?:identifier|Table|Database) '?`?([^'`\s]+)")


def run_query(settings: Settings, sql: str, limit: int | None = None) -> QueryResult:
    """With the embedded engine, a running worker holds the folder: ask it first. Either
    way ClickHouse's parser decides whether the SQL may run (accessdrift/sinks/query_guard.py).

    A table unknown to a database that was never migrated is ``SchemaMissing`` with the
    way out; on a migrated one it is ClickHouse's message as it came (a typo in the SQL)."""
    try:
        return _run(settings, sql, limit)
    except SchemaMissing:
        raise
    except ClickHouseError as error:
        if not any(name in str(error) for name in UNMIGRATED) or _migrated(settings):
            raise
        named = _MISSING_NAME.search(str(error))
        missing = f"no table {named.group(1)[:64]!r}: " if named else ""
        # ClickHouse's message echoes the whole SQL (the evidence's run to many lines):
        # the name it missed says enough.
        raise SchemaMissing(
            f"{missing}database {settings.database} of {settings.clickhouse_display} was "
            f"never migrated: {MIGRATE_HINT}"
        ) from error


def _migrated(settings: Settings) -> bool:
    """Whether the database holds the migrations' own table; False when even that cannot
    be asked (no such database)."""
    try:
        found = _run(
            settings,
            "SELECT count() FROM system.tables WHERE database = currentDatabase() "
            f"AND name = '{MIGRATIONS_TABLE}'",
        )
    except ClickHouseError:
        return False
    return bool(found.rows) and int(found.rows[0][0]) > 0


def _run(settings: Settings, sql: str, limit: int | None = None) -> QueryResult:
    if settings.clickhouse_is_embedded:
        through_worker = _query_worker(settings, sql, limit)
        if through_worker is not None:
            return through_worker
    try:
        clickhouse = ClickHouse(
            settings.clickhouse_dsn,
            settings.database,
            settings.query_limits,
            cluster=settings.clickhouse_cluster,
        )
    except ClickHouseError as error:
        # Not opened (a server that does not answer, a folder another process holds):
        # nothing was asked yet.
        raise ClickHouseUnavailable(str(error)) from error
    try:
        return clickhouse.query(sql, limit=limit)
    finally:
        clickhouse.close()


def _query_worker(settings: Settings, sql: str, limit: int | None = None) -> QueryResult | None:
    token = settings.worker_token.get_secret_value() if settings.worker_token else None
    client = WorkerClient(settings.worker_url, timeout=120, token=token)
    # Only this deployment's worker, on this deployment's database: a worker of
    # another prefix on the same port must not answer for it.
    # With a token the client first makes the server prove it holds it: an impostor on the
    # port gets nothing and WorkerImpostor ends the command (accessdrift/commands/worker_client.py).
    ours = (settings.topic_prefix, settings.clickhouse_display, settings.database)
    try:
        if client.deployment() != ours:
            return None
        payload = client.post_query(sql, limit)
    except urllib.error.HTTPError as error:
        body = json.loads(error.read() or b"{}")
        message = body.get("error", f"worker answered HTTP {error.code}")
        if body.get("refused"):
            raise QueryRefused(message) from error
        raise ClickHouseError(message) from error
    except (OSError, http.client.HTTPException):
        return None  # no worker: open the engine here
    return QueryResult(
        payload["columns"],
        [tuple(row) for row in payload["rows"]],
        list(payload.get("types") or []),
        bool(payload.get("truncated")),
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: every line of it that starts like a formula (a
    user agent from a log such as ``=HYPERLINK(...)``) gets a leading apostrophe (OWASP's
    advice). Every line, not only the first: a reader that splits rows at a bare ``\r`` or
    a Unicode line separator inside the quoted cell sees each line as a row of its own.
    Spaces and quotes before the formula do not hide it: some readers drop them."""
    if isinstance(value, (int, float)):  # a number, never a formula (bool is an int too)
        return _text(value)
    # str.splitlines knows every line break a reader might honour: \r, \n, \v, \f,
    # \x1c-\x1e, NEL, U+2028, U+2029.
    return "".join(_guard_line(line) for line in _text(value).splitlines(keepends=True))


def _guard_line(line: str) -> str:
    content = line.splitlines()[0]  # without its line break: an empty line stays as it is
    return "'" + line if content.lstrip(' "').startswith(FORMULA_STARTS) else line


def format_result(result: QueryResult, output_format: str) -> str:
    if output_format == "json":
        return "".join(
            json.dumps(dict(zip(result.columns, row, strict=True)), default=_text) + "\n"
            for row in result.rows
        )
    if output_format == "csv":
        buffer = io.StringIO()
        # Every cell quoted: the csv module quotes only the line breaks it knows (here
        # \n, not a bare \r, nor U+2028, NEL, \v...), and a cell a reader ends early is a
        # new row. Spreadsheets and pandas still read a quoted number as a number.
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow([_csv_cell(column) for column in result.columns])
        writer.writerows([_csv_cell(value) for value in row] for row in result.rows)
        return buffer.getvalue()
    return _table(result)


NUMERIC = ("Int", "UInt", "Float", "Decimal")


def _is_numeric(column_type: str) -> bool:
    bare = column_type.removeprefix("Nullable(").removeprefix("LowCardinality(")
    return bare.startswith(NUMERIC)


def _one_line(text: str) -> str:
    # A value from a log may hold newlines or escape sequences: one row stays one line,
    # and nothing in it can move a terminal's cursor.
    return "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )


def _table(result: QueryResult) -> str:
    """Aligned columns, each headed by its name and ClickHouse type; numbers to the right."""
    types = result.types if len(result.types) == len(result.columns) else []
    header = [_one_line(column) for column in result.columns]
    cells = [[_one_line(_text(value)) for value in row] for row in result.rows]
    widths = [
        max(
            [len(header[index]), len(types[index]) if types else 0] + [len(r[index]) for r in cells]
        )
        for index in range(len(header))
    ]
    right = [bool(types) and _is_numeric(types[index]) for index in range(len(header))]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(widths[index]) if right[index] else value.ljust(widths[index])
            for index, value in enumerate(values)
        ).rstrip()

    lines = [line(header)]
    if types:
        lines.append(line(types))
    lines.append("  ".join("-" * width for width in widths))
    lines += [line(row) for row in cells]
    count = f"{len(cells)} row{'s' if len(cells) != 1 else ''}"
    lines.append(f"({count}, more not shown: --limit)" if result.truncated else f"({count})")
    return "\n".join(lines) + "\n"
