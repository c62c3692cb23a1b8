import csv
import io
from datetime import UTC, datetime

import pytest

from accessdrift.errors import QueryRefused
from accessdrift.query import format_result
from sinks.clickhouse import QueryResult, check_read_only


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select * from alerts final;",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "-- analysts comment\nSELECT ';' AS semicolon",
        "SHOW TABLES",
        "DESCRIBE TABLE alerts",
        "EXPLAIN SELECT 1",
    ],
)
def test_read_only_statements_pass(sql: str) -> None:
    assert check_read_only(sql)


@pytest.mark.parametrize(
    "sql, message",
    [
        ("INSERT INTO alerts VALUES (1)", "INSERT is refused"),
        ("drop table alerts", "DROP is refused"),
        ("ALTER TABLE alerts DELETE WHERE 1", "ALTER is refused"),
        ("SELECT 1; DROP TABLE alerts", "one statement"),
        ("/* hidden */ TRUNCATE alerts", "TRUNCATE is refused"),
        ("   ", "empty"),
    ],
)
def test_writes_and_ddl_are_refused(sql: str, message: str) -> None:
    with pytest.raises(QueryRefused, match=message):
        check_read_only(sql)


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
        "alert_id,used_at,evidence",
        'a1,2026-03-02T09:00:00+00:00,"{""n"": 1}"',
        "a2,,",
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
    assert format_result(result, "csv").splitlines()[1:] == ["a=b", "mail@example.com", '""']
