"""`accessdrift access`: --at as a person writes it, one clear line when it is wrong, and
the identity id in the SQL only as a quoted literal (the chDB run is in
tests/integration/test_access_ledger.py)."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from accessdrift.commands.access import access_sql, identity_access, parse_moment
from accessdrift.errors import ConfigError, IdentityNotFound
from accessdrift.sinks.clickhouse import QueryResult


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-03-03T09:00:00Z", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03t09:00:00z", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03T11:00:00+02:00", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03 09:00:00.1234567-01:30", datetime(2026, 3, 3, 10, 30, 0, 123456, tzinfo=UTC)),
        ("2026-03-03 09:00", datetime(2026, 3, 3, 9, tzinfo=UTC)),
        ("2026-03-03 09:00:30", datetime(2026, 3, 3, 9, 0, 30, tzinfo=UTC)),
    ],
)
def test_at_takes_rfc_3339_or_a_plain_utc_time(text: str, moment: datetime) -> None:
    parsed = parse_moment(text)
    assert parsed == moment and parsed.utcoffset() is not None and parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-03-03",  # a day is not a moment
        "2026-03-03T09:00:00",  # RFC 3339 needs its zone: local or UTC?
        "2026-03-03 9:00",
        "2026-13-03 09:00",
        "2026-02-30 09:00",
        "2026-03-03 24:00",
        "2026-03-03T09:00:00+25:00",
        "1850-01-01 00:00",
        "2026-03-03 09:00' OR 1=1 --",
        "2026-03-03\n09:00",
        "x" * 10_000,
    ],
)
def test_a_bad_at_is_one_clear_line(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_moment(text)
    message = str(raised.value)
    assert message.startswith("--at: ") and "\n" not in message and len(message) < 200


@pytest.mark.parametrize(
    "identity", ["E1", "o'brien", "back\\slash", "new\nline", "x' OR 1=1 --", "{at:String}"]
)
def test_the_identity_enters_the_sql_as_one_quoted_literal(identity: str) -> None:
    for at in (None, datetime(2026, 3, 3, 9, tzinfo=UTC)):
        sql = access_sql(identity, at)
        match = re.search(r"identity_id = ('(?:[^'\\]|\\.)*') ORDER BY", sql, re.DOTALL)
        assert match is not None, sql
        # What follows the literal is this module's SQL, whatever the id held.
        assert sql[match.end() :].startswith(" system, account_id")


def test_at_reads_the_view_and_without_it_what_the_ledger_holds_open() -> None:
    assert "FROM access_at(at = '2026-03-03 09:00:00.000000')" in access_sql(
        "E1", datetime(2026, 3, 3, 11, tzinfo=timezone(timedelta(hours=2)))
    ), "a time of another zone is asked in UTC"
    now = access_sql("E1", None)
    assert "FROM access_ledger FINAL" in now and "NOT removed AND valid_to IS NULL" in now


def test_an_identity_the_ledger_never_saw_is_said_so_one_that_holds_nothing_is_not() -> None:
    empty = QueryResult(["system"], [])

    def ledger_with(count: int) -> QueryResult:
        return QueryResult(["count()"], [(count,)])

    asked: list[str] = []

    def unknown(sql: str) -> QueryResult:
        asked.append(sql)
        return ledger_with(0) if "count()" in sql else empty

    with pytest.raises(IdentityNotFound, match="no interval of 'E9'"):
        identity_access(unknown, "E9", None)
    assert "identity_id = 'E9'" in asked[-1]
    left = identity_access(lambda sql: ledger_with(4) if "count()" in sql else empty, "E1", None)
    assert left.rows == []
