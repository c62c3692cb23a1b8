"""`accessdrift query --format csv` against cells that carry line breaks (issue 23, item 4)."""

import csv
import io

import pytest

from accessdrift.commands.query import FORMULA_STARTS, format_result
from accessdrift.sinks.clickhouse import QueryResult

ISSUE = "Mozilla/5.0\r=cmd|' /C calc'!A0"
# Every character some reader takes for the end of a line: Python's str.splitlines, the
# Unicode line and paragraph separators, vertical tab, form feed, NEL.
BREAKS = ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x0b", "\x0c", "\x85", "\x1c", "\x1d", "\x1e"]


def _naive_lines(text: str) -> list[str]:
    """What a reader that ignores CSV quoting sees: a new row at every line break."""
    return text.splitlines()


def _starts_like_a_formula(line: str) -> bool:
    # A naive reader takes a leading quote for the opening of a quoted cell.
    return line.removeprefix('"').startswith(FORMULA_STARTS)


def test_the_issues_user_agent_never_starts_a_line() -> None:
    text = format_result(QueryResult(["user_agent", "n"], [(ISSUE, -5)]), "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["user_agent", "n"], ["Mozilla/5.0\r'=cmd|' /C calc'!A0", "-5"]]
    assert not any(_starts_like_a_formula(line) for line in _naive_lines(text)), text


@pytest.mark.parametrize("separator", BREAKS)
@pytest.mark.parametrize("formula", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", '"=1+1"', " =1"])
def test_no_line_inside_a_cell_starts_a_formula(separator: str, formula: str) -> None:
    value = f"ua{separator}{formula}{separator}{separator}{formula}"
    text = format_result(QueryResult([f"col{separator}{formula}"], [(value,)]), "csv")
    assert not any(_starts_like_a_formula(line) for line in _naive_lines(text)), repr(text)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2, "every line break stays inside its cell"
    assert rows[1][0].replace("'", "") == value.replace("'", ""), "nothing else changes"


def test_every_cell_is_quoted() -> None:
    text = format_result(QueryResult(["a", "b"], [("x\u2028y", 3)]), "csv")
    assert text == '"a","b"\n"x\u2028y","3"\n'
