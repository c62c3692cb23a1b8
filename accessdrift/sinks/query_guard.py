"""Which analyst SQL may run: decided on ClickHouse's own parse of it, not on its text.

Regular expressions over SQL were forced (a quote inside a backtick identifier, a
``#`` comment hid a ``;``). ClickHouse parses the statement for us
(``parseQueryToJSON``, which also refuses more than one statement), and this
module reads the tree: exactly one SELECT (``WITH``, ``UNION``, ``EXCEPT`` ...),
``SHOW``, ``DESCRIBE``, ``EXISTS`` or ``EXPLAIN`` of one of those; no ``INTO
OUTFILE``, no ``FORMAT`` (the client chooses it), no table function but those
that only make rows (``numbers``, ``values``...) and the project's own parameterized
views (``access_at(at = ...)``, called like a table function: the migrations create
them, ``accessdrift/sinks/migration_files.py`` lists them), no function that reads files.
The statement then runs as given, with ``readonly=1`` and the analyst limits.

Before any of that, two bounds the parser itself needs: the SQL's length, and how
deep its brackets and subqueries nest (ClickHouse's ``max_parser_depth``). A
statement nested hundreds deep parses in ClickHouse, but the type of its result
(``Array(Array(...))``) then exhausts Python's stack in clickhouse-connect.
"""

import re
from collections.abc import Iterator
from typing import Any

from accessdrift.sinks.migration_files import parameterized_views

# Statement kinds read-only by nature, as parseQueryToJSON names them.
READ_ONLY_STATEMENTS = frozenset(
    {"SelectWithUnionQuery", "SelectIntersectExceptQuery", "ShowTablesQuery"}
)
# Kinds parseQueryToJSON parses but cannot serialise, so that no tree can be read:
# accepted only in their plain form on a table named by its identifier. With a
# table function, a subquery, INTO OUTFILE or FORMAT they read files, reach other
# hosts and write files (readonly=1 does not stop DESCRIBE url(...)).
UNSERIALISABLE_READ_ONLY = ("DescribeQuery", "ExistsTableQuery", "ShowCreateTableQuery")
_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|`[A-Za-z0-9_.-]+`)"
PLAIN_TABLE_STATEMENT = re.compile(
    rf"\s*(?:DESCRIBE|DESC|EXISTS|SHOW\s+CREATE)(?:\s+TABLE)?\s+{_NAME}(?:\.{_NAME})?\s*;?\s*",
    re.IGNORECASE,
)
# Table functions that only generate rows; every other one reaches files, URLs,
# other servers or programs.
ROW_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "values",
        "null",
        "generate_series",
        "generateseries",
        "view",
    }
)
# Scalar functions that read outside the database, allowed even under readonly=1.
OUTSIDE_FUNCTIONS = frozenset({"file"})
# Bytes of analyst SQL. ClickHouse parses at most max_query_size (262,144) bytes of a
# statement, and the check sends the SQL inside another statement, its quotes doubled:
# a longer one fails there anyway, with the whole SQL echoed in the error.
MAX_SQL_BYTES = 100_000
# ClickHouse's max_parser_depth for analyst SQL (its default is 1,000): one level per
# bracket, about eight per subquery; the deepest query in docs/ needs 27. Values of a
# result nested deeper than this are refused as well (accessdrift/sinks/clickhouse.py).
PARSER_DEPTH = 128


def too_long(sql: str) -> str | None:
    """Why this SQL is refused before it is parsed, or None."""
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > MAX_SQL_BYTES:
        return f"{size:,} bytes of SQL: `accessdrift query` takes at most {MAX_SQL_BYTES:,}"
    return None


def too_deep(message: str) -> str | None:
    """ClickHouse's refusal of a statement nested too deep, in the analyst's words."""
    if "Maximum parse depth" in message or "AST is too deep" in message:
        return (
            f"the statement is nested too deep (brackets, calls, subqueries): at most "
            f"{PARSER_DEPTH} levels"
        )
    return None


def refusal(tree: dict[str, Any]) -> str | None:
    """Why this statement may not run through `accessdrift query`, or None."""
    kind = tree.get("type")
    if kind == "ExplainQuery":
        inner = tree.get("query")
        if not isinstance(inner, dict):
            return "EXPLAIN of what?"
        return refusal(inner) or _clauses(tree)
    if kind not in READ_ONLY_STATEMENTS:
        return f"`accessdrift query` is read-only: a {_words(str(kind))} statement is refused"
    return _clauses(tree)


def _clauses(tree: dict[str, Any]) -> str | None:
    for node, key in _walk(tree):
        if "out_file" in node:
            return "INTO OUTFILE is refused: results go to the terminal (use --format csv)"
        if "format_ast" in node:
            return "FORMAT is refused: choose one with --format table, csv or json"
        if node.get("type") != "Function":
            continue
        name = str(node.get("name", "")).lower()
        if key == "table_function" and name not in ROW_TABLE_FUNCTIONS and not _own_view(node):
            return f"the table function {name}() is refused: it reaches outside the database"
        if name in OUTSIDE_FUNCTIONS:
            return f"the function {name}() is refused: it reads files on the worker's host"
    return None


def _own_view(node: dict[str, Any]) -> bool:
    """A call of one of the project's parameterized views, by its bare name: the session's
    database is the project's, so that is where it resolves. Named with a database
    (``other.access_at``, ``accessdrift.access_at``) it could be another database's view,
    and is refused like any table function; its arguments are walked like the rest."""
    name = node.get("name")
    return (
        isinstance(name, str) and not node.get("is_compound_name") and name in parameterized_views()
    )


def unserialisable_read_only(message: str) -> bool:
    """A parse that ClickHouse could not serialise, of DESCRIBE, EXISTS or SHOW CREATE."""
    return "does not support JSON serialization" in message and any(
        f"type '{kind}" in message for kind in UNSERIALISABLE_READ_ONLY
    )


def plain_table_statement(sql: str) -> bool:
    """``DESCRIBE [TABLE] name``, ``EXISTS [TABLE] name``, ``SHOW CREATE [TABLE] name``,
    and nothing else: no comment, no subquery, no table function, no clause."""
    return PLAIN_TABLE_STATEMENT.fullmatch(sql) is not None


def _walk(node: Any, key: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every object of the tree, with the key it hangs under (iteratively: a deep tree
    is no reason to exhaust the stack)."""
    stack: list[tuple[Any, str]] = [(node, key)]
    while stack:
        current, under = stack.pop()
        if isinstance(current, dict):
            yield current, under
            stack.extend((value, name) for name, value in current.items())
        elif isinstance(current, list):
            stack.extend((item, under) for item in current)


def _words(kind: str) -> str:
    """``AlterQuery`` -> ``ALTER``; ``InsertQuery`` -> ``INSERT``."""
    base = kind.removesuffix("Query") or kind
    return "".join(f" {char}" if char.isupper() else char for char in base).strip().upper()
