from datetime import UTC, datetime

from sinks.rows import EVENT_TABLES, dedup_token, to_rows


def test_rows_follow_the_avsc_columns_and_fill_empty_collections() -> None:
    spec = EVENT_TABLES["DirectoryChange"]
    assert spec.table == "directory_changes"
    assert spec.columns[:3] == ("event_id", "event_time", "source")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    record = {
        "event_id": "e",
        "event_time": when,
        "source": "hr",
        "identity_id": "E1",
        "identity_kind": "human",
        "change_type": "leaver",
        "accounts": None,
        "owner_id": None,
        "attributes": None,
        "email": None,
    }
    (row,) = to_rows(spec, [record])
    assert row == ["e", when, "hr", "E1", "human", "leaver", [], None, {}, None]


def test_dedup_token_depends_on_table_and_exact_bytes() -> None:
    assert dedup_token("t", [b"a", b"b"]) == dedup_token("t", [b"a", b"b"])
    assert dedup_token("t", [b"a", b"b"]) != dedup_token("t", [b"ab"])
    assert dedup_token("t", [b"a"]) != dedup_token("u", [b"a"])


def test_rows_spanning_many_months_split_into_parts_of_at_most_the_limit() -> None:
    from datetime import UTC, datetime

    from sinks.clickhouse import split_by_month

    columns = ("event_id", "event_time")
    rows = [(str(n), datetime(2000 + n // 12, n % 12 + 1, 3, tzinfo=UTC)) for n in range(25)]
    parts = split_by_month(rows, columns, limit=10)
    assert [len(part) for part in parts] == [10, 10, 5]
    assert sorted(row for part in parts for row in part) == sorted(rows)
    assert split_by_month(rows[:10], columns, limit=10) == [rows[:10]]
    assert split_by_month(rows, ("alert_id",), limit=10) == [rows]
