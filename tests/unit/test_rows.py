from datetime import UTC, datetime

from accessdrift.sinks.rows import EVENT_TABLES, Columns, dedup_token, to_columns


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
    batch = to_columns(spec, [record, {**record, "event_id": "f", "accounts": ["a@x"]}])
    assert batch.names == spec.columns
    assert len(batch) == 2
    first, second = batch.rows()
    assert first == ("e", when, "hr", "E1", "human", "leaver", [], None, {}, None)
    assert second[0] == "f" and second[6] == ["a@x"]
    assert batch.column("event_id") == ["e", "f"]
    assert batch.column("no_such") is None


def test_columns_slice_take_and_from_rows_keep_rows_whole() -> None:
    rows = [(n, f"v{n}") for n in range(5)]
    batch = Columns.from_rows(("n", "v"), rows)
    assert batch.data == [[0, 1, 2, 3, 4], ["v0", "v1", "v2", "v3", "v4"]]
    assert batch.slice(1, 3).rows() == rows[1:3]
    assert batch.take([4, 0]).rows() == [rows[4], rows[0]]
    assert len(Columns.from_rows(("n", "v"), [])) == 0


def test_dedup_token_depends_on_table_and_exact_bytes() -> None:
    assert dedup_token("t", [b"a", b"b"]) == dedup_token("t", [b"a", b"b"])
    assert dedup_token("t", [b"a", b"b"]) != dedup_token("t", [b"ab"])
    assert dedup_token("t", [b"a"]) != dedup_token("u", [b"a"])


def test_rows_spanning_many_months_split_into_parts_of_at_most_the_limit() -> None:
    from datetime import UTC, datetime

    from accessdrift.sinks.clickhouse import split_by_month

    columns = ("event_id", "event_time")
    rows = [(str(n), datetime(2000 + n // 12, n % 12 + 1, 3, tzinfo=UTC)) for n in range(25)]
    batch = Columns.from_rows(columns, rows)
    parts = split_by_month(batch, limit=10)
    assert [len(part) for part in parts] == [10, 10, 5]
    assert sorted(row for part in parts for row in part.rows()) == sorted(rows)
    first_ten = Columns.from_rows(columns, rows[:10])
    assert split_by_month(first_ten, limit=10) == [first_ten]
    no_time = Columns.from_rows(("alert_id", "other"), rows)
    assert split_by_month(no_time, limit=10) == [no_time]
