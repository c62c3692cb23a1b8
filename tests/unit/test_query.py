import csv
import io
from datetime import UTC, datetime

import pytest

from accessdrift.commands.query import format_result
from accessdrift.sinks.clickhouse import QueryResult
from accessdrift.sinks.query_guard import refusal

SELECT_ONE = {
    "type": "SelectWithUnionQuery",
    "list_of_selects": {
        "type": "ExpressionList",
        "children": [{"type": "SelectQuery", "select": {"type": "ExpressionList"}}],
    },
}


def select_with(**extra: object) -> dict[str, object]:
    return {**SELECT_ONE, **extra}


def select_from(table_function: str) -> dict[str, object]:
    element = {"table_expression": {"table_function": {"type": "Function", "name": table_function}}}
    return {
        "type": "SelectWithUnionQuery",
        "list_of_selects": {
            "type": "ExpressionList",
            "children": [{"type": "SelectQuery", "tables": {"children": [element]}}],
        },
    }


@pytest.mark.parametrize(
    "tree",
    [
        SELECT_ONE,
        {"type": "ShowTablesQuery"},
        {"type": "ExplainQuery", "kind": "EXPLAIN", "query": SELECT_ONE},
        select_from("numbers"),
        select_with(settings={"type": "SetQuery"}),  # ClickHouse's readonly=1 judges it
    ],
)
def test_read_only_statements_pass(tree: dict[str, object]) -> None:
    assert refusal(tree) is None


@pytest.mark.parametrize(
    "tree, reason",
    [
        ({"type": "InsertQuery"}, "INSERT statement is refused"),
        ({"type": "AlterQuery"}, "ALTER statement is refused"),
        ({"type": "DropQuery"}, "DROP statement is refused"),
        ({"type": "SetQuery"}, "SET statement is refused"),
        ({"type": "SystemQuery"}, "SYSTEM statement is refused"),
        (select_with(out_file={"type": "Literal"}), "INTO OUTFILE"),
        ({"type": "ExplainQuery", "query": select_with(out_file={})}, "INTO OUTFILE"),
        (select_with(format_ast={"type": "Identifier"}), "FORMAT"),
        (select_from("file"), "table function file()"),
        (select_from("URL"), "table function url()"),
        (select_from("remoteSecure"), "table function remotesecure()"),
        (select_from("executable"), "table function executable()"),
        (
            select_with(select={"children": [{"type": "Function", "name": "file"}]}),
            "function file() is refused",
        ),
    ],
)
def test_writes_files_and_the_outside_world_are_refused(
    tree: dict[str, object], reason: str
) -> None:
    found = refusal(tree)
    assert found is not None and reason in found


def test_a_tree_deeper_than_the_stack_is_walked() -> None:
    tree: dict[str, object] = {"type": "Function", "name": "file"}
    for _ in range(5000):
        tree = {"type": "Function", "name": "plus", "arguments": tree}
    assert refusal(select_with(select=tree)) is not None


RESULT = QueryResult(
    ["alert_id", "used_at", "evidence"],
    [("a1", datetime(2026, 3, 2, 9, 0, tzinfo=UTC), {"n": 1}), ("a2", None, None)],
)


def test_json_is_one_object_per_row() -> None:
    assert format_result(RESULT, "json").splitlines() == [
        '{"alert_id": "a1", "used_at": "2026-03-02T09:00:00+00:00", "evidence": {"n": 1}}',
        '{"alert_id": "a2", "used_at": null, "evidence": null}',
    ]


def test_csv_has_a_header() -> None:
    assert format_result(RESULT, "csv").splitlines() == [
        '"alert_id","used_at","evidence"',
        '"a1","2026-03-02T09:00:00+00:00","{""n"": 1}"',
        '"a2","",""',
    ]


def test_table_is_aligned_and_counted() -> None:
    lines = format_result(RESULT, "table").splitlines()
    assert lines[0].split() == ["alert_id", "used_at", "evidence"]
    assert lines[-1] == "(2 rows)"
    assert len({len(line.rstrip()) for line in lines[:2]}) >= 1


@pytest.mark.parametrize(
    "hostile",
    ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"],
)
def test_csv_cells_from_logs_never_become_formulas(hostile: str) -> None:
    result = QueryResult(["user_agent", "n"], [(hostile, -5)])
    rows = list(csv.reader(io.StringIO(format_result(result, "csv"))))
    assert rows[1] == ["'" + hostile, "-5"], "text is quoted, numbers stay numbers"


def test_csv_cells_that_only_look_alike_stay_as_they_are() -> None:
    result = QueryResult(["a"], [("a=b",), ("mail@example.com",), ("",)])
    assert format_result(result, "csv").splitlines()[1:] == ['"a=b"', '"mail@example.com"', '""']


TYPED = QueryResult(
    ["identity_id", "uses", "note"],
    [("E1", 12, "line one\nline two\x1b[2J"), ("E10", 3, None)],
    ["String", "UInt64", "Nullable(String)"],
)


def test_table_heads_each_column_with_its_type_and_puts_numbers_right() -> None:
    lines = format_result(TYPED, "table").splitlines()
    assert lines[0].split() == ["identity_id", "uses", "note"]
    assert lines[1].split() == ["String", "UInt64", "Nullable(String)"]
    assert set(lines[2].replace(" ", "")) == {"-"}
    uses_end = lines[0].index("uses") + len("uses")
    assert lines[3][:uses_end].endswith("12") and lines[4][:uses_end].endswith(" 3")
    assert lines[-1] == "(2 rows)"


def test_a_value_from_a_log_stays_on_its_row_and_cannot_drive_the_terminal() -> None:
    table = format_result(TYPED, "table")
    assert len(table.splitlines()) == 6
    assert "\x1b" not in table and "line one\\nline two\\x1b[2J" in table


def test_a_cut_result_says_so() -> None:
    cut = QueryResult(["n"], [(1,), (2,)], ["UInt8"], truncated=True)
    assert format_result(cut, "table").splitlines()[-1] == "(2 rows, more not shown: --limit)"
