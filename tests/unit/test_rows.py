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
