"""The embedded ClickHouse engine (chDB): migrations, idempotent inserts, read-only queries.

chDB allows one engine per process, so this whole test process shares one folder.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accessdrift.errors import ClickHouseError, QueryRefused
from accessdrift.sinks.clickhouse import ClickHouse, QueryLimits
from accessdrift.sinks.migrate import MIGRATIONS_TABLE, available_migrations, migrate
from accessdrift.sinks.rows import EVENT_TABLES, to_columns


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    folder = tmp_path_factory.mktemp("chdb")
    connection = ClickHouse(f"chdb://{folder}", "accessdrift_test")
    migrate(connection)
    yield connection
    connection.close()


def test_migrate_is_safe_to_run_twice(clickhouse: ClickHouse) -> None:
    assert migrate(clickhouse) == []
    versions = clickhouse.query(f"SELECT version FROM {MIGRATIONS_TABLE} FINAL ORDER BY version")
    assert [row[0] for row in versions.rows] == [m.version for m in available_migrations()]
    tables = {row[0] for row in clickhouse.query("SHOW TABLES").rows}
    assert {spec.table for spec in EVENT_TABLES.values()} <= tables


def _use(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event_time": datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC),
        "system": "aws",
        "account_id": "aws:1:user/a",
        "credential_id": "aws:AKIA1",
        "action": "GetObject",
        "kind": "usage",
        "target_account_id": None,
        "target_credential_id": None,
        "outcome": "success",
        "source_ip": None,
        "user_agent": None,
    }


def test_a_retried_batch_is_not_inserted_twice(clickhouse: ClickHouse) -> None:
    spec = EVENT_TABLES["CloudAuditEvent"]
    rows = to_columns(spec, [_use("retry-1"), _use("retry-2")])
    for _ in range(3):
        clickhouse.insert(spec.table, rows, dedup_token="batch-A")
    raw = clickhouse.query("SELECT count() FROM cloud_audit WHERE event_id LIKE 'retry-%'")
    assert raw.rows == [(2,)], "the deduplication token makes a retry a no-op, even without FINAL"


def test_a_replayed_event_in_another_batch_is_one_row_with_final(clickhouse: ClickHouse) -> None:
    spec = EVENT_TABLES["CloudAuditEvent"]
    clickhouse.insert(spec.table, to_columns(spec, [_use("replay-1")]), "batch-B")
    clickhouse.insert(spec.table, to_columns(spec, [_use("replay-1"), _use("replay-2")]), "batch-C")
    final = clickhouse.query(
        "SELECT event_id, event_time FROM cloud_audit FINAL WHERE event_id LIKE 'replay-%' "
        "ORDER BY event_id"
    )
    assert final.rows == [
        ("replay-1", datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)),
        ("replay-2", datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)),
    ]


def test_query_refuses_writes_before_and_inside_the_engine(clickhouse: ClickHouse) -> None:
    with pytest.raises(QueryRefused):
        clickhouse.query("DELETE FROM cloud_audit WHERE 1")
    # A write disguised as a read is stopped by the engine's readonly setting.
    with pytest.raises(ClickHouseError, match="readonly"):
        clickhouse.query("SELECT * FROM cloud_audit SETTINGS readonly = 0")


def test_sql_errors_are_wrapped(clickhouse: ClickHouse) -> None:
    with pytest.raises(ClickHouseError, match="UNKNOWN_TABLE"):
        clickhouse.query("SELECT * FROM no_such_table")


def test_a_backfill_over_more_than_a_hundred_months_is_inserted_once(
    clickhouse: ClickHouse,
) -> None:
    """ClickHouse refuses one INSERT into more than 100 partitions (months): an HR
    backfill of ten years is split, and retried, without losing or doubling a row."""
    spec = EVENT_TABLES["CloudAuditEvent"]
    records = []
    for month in range(130):
        record = _use(f"backfill-{month}")
        record["event_time"] = datetime(2015 + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        records.append(record)
    rows = to_columns(spec, records)
    for _ in range(2):
        clickhouse.insert(spec.table, rows, dedup_token="backfill")
    counted = clickhouse.query("SELECT count() FROM cloud_audit WHERE event_id LIKE 'backfill-%'")
    assert counted.rows == [(130,)]


ATTACKS = [
    # each a way through the old regular-expression check, or a write it let pass
    ("SELECT 1 INTO OUTFILE '{outfile}' APPEND", "INTO OUTFILE"),
    ("SELECT `a'` FROM (SELECT 1 AS `a'`); INSERT INTO alerts (alert_id) VALUES ('x'); SELECT '", "one statement"),
    ("SELECT 1 # ; ALTER TABLE alerts DELETE WHERE 1", None),  # the comment hides nothing now
    ("SELECT 1; DROP TABLE alerts", "one statement"),
    ("INSERT INTO alerts (alert_id) SELECT * FROM file('/etc/hostname')", "read-only"),
    ("SELECT * FROM file('/etc/hostname', 'LineAsString')", "table function file()"),
    ("SELECT file('/etc/hostname')", "function file()"),
    ("SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", "table function url()"),
    ("SELECT * FROM remote('127.0.0.1:9000', system.one)", "table function remote()"),
    ("SET readonly = 0", "SET statement"),
    ("SYSTEM DROP MARK CACHE", "read-only"),
    ("CREATE TABLE forged (a Int8) ENGINE = Memory", "CREATE statement"),
    ("SELECT 1 FORMAT TSV", "FORMAT"),
    # found by a hostile review: statements with no parse tree to read
    ("DESCRIBE (SELECT 1) INTO OUTFILE '{outfile}' TRUNCATE", "name one table"),
    ("SHOW CREATE TABLE alerts INTO OUTFILE '{outfile}'", "name one table"),
    ("DESCRIBE url('http://127.0.0.1:9/', 'TSVWithNames')", "name one table"),
    ("DESCRIBE file('/etc/hostname', 'TSVWithNames')", "name one table"),
    ("DESCRIBE (SELECT CAST('1', file('/etc/hostname')))", "name one table"),
    ("EXISTS TABLE alerts FORMAT TSV", "name one table"),
    ("desc /* hidden */ alerts", "name one table"),
]  # fmt: skip


@pytest.mark.parametrize("sql, refused", ATTACKS)
def test_the_analyst_path_refuses_every_write_and_every_way_out(
    clickhouse: ClickHouse, sql: str, refused: str | None, tmp_path: Path
) -> None:
    outfile = tmp_path / "written"
    sql = sql.replace("{outfile}", str(outfile))
    if refused is None:
        assert clickhouse.query(sql).rows == [(1,)], "one SELECT of 1, nothing more"
    else:
        with pytest.raises(QueryRefused, match=re.escape(refused)):
            clickhouse.query(sql)
    assert not outfile.exists()
    tables = {row[0] for row in clickhouse.query("SHOW TABLES").rows}
    assert "forged" not in tables and "alerts" in tables
    # The ingest's session is untouched: it still inserts.
    spec = EVENT_TABLES["CloudAuditEvent"]
    clickhouse.insert(spec.table, to_columns(spec, [_use("after-attack")]), "after")


@pytest.mark.parametrize(
    "sql",
    [
        "select * from alerts final;",
        "-- an analyst's comment\nSELECT ';' AS semicolon -- and another",
        "/* leading */ WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT 'it''s -- not a comment' AS text",
        "SHOW TABLES",
        "DESCRIBE TABLE alerts",
        "desc accessdrift_test.alerts;",
        "EXISTS TABLE alerts",
        "SHOW CREATE TABLE `alerts`",
        "EXPLAIN SELECT 1",
        "SELECT number FROM numbers(3) UNION ALL SELECT 4",
    ],
)
def test_read_only_statements_run_as_written(clickhouse: ClickHouse, sql: str) -> None:
    clickhouse.query(sql)


def test_string_literals_are_not_rewritten(clickhouse: ClickHouse) -> None:
    """The old check stripped comments out of the text, string literals included."""
    assert clickhouse.query("SELECT '/* kept */ -- kept' AS s").rows == [("/* kept */ -- kept",)]


def test_queries_have_limits_and_readable_errors(clickhouse: ClickHouse) -> None:
    # A second handle on the same engine (chDB opens one per process), other limits.
    limited = ClickHouse(clickhouse.dsn, clickhouse.database, QueryLimits(rows=10))
    with pytest.raises(ClickHouseError, match="Limit for result exceeded"):
        limited.query("SELECT number FROM numbers(100)")
    with pytest.raises(ClickHouseError) as error:
        limited.query("SELEC 1")
    assert "Syntax error" in str(error.value) and "Traceback" not in str(error.value)
    assert "parseQueryToJSON" not in str(error.value)


def test_limit_stops_the_result_as_clickhouse_does_and_says_it_cut(clickhouse: ClickHouse) -> None:
    cut = clickhouse.query("SELECT number FROM numbers(1000000)", limit=3)
    assert (cut.rows, cut.truncated, cut.types) == ([(0,), (1,), (2,)], True, ["UInt64"])
    whole = clickhouse.query("SELECT number FROM numbers(3)", limit=3)
    assert (len(whole.rows), whole.truncated) == (3, False)


def test_an_empty_result_still_names_its_columns_and_types(clickhouse: ClickHouse) -> None:
    empty = clickhouse.query("SELECT alert_id, seconds_after FROM alerts WHERE 0")
    assert (empty.columns, empty.types) == (
        ["alert_id", "seconds_after"],
        ["String", "Nullable(Float64)"],
    )


def test_an_error_is_clickhouses_message_without_our_session_limits(clickhouse: ClickHouse) -> None:
    with pytest.raises(ClickHouseError) as raised:
        clickhouse.query("SELECT nope FROM alerts")
    assert "UNKNOWN_IDENTIFIER" in str(raised.value) and "readonly" not in str(raised.value)


def test_retention_follows_the_settings_and_is_safe_to_apply_twice(clickhouse: ClickHouse) -> None:
    from datetime import timedelta

    from accessdrift.sinks.migrate import apply_retention

    changed = apply_retention(clickhouse, timedelta(days=90), None)
    assert len(changed) == 4 and apply_retention(clickhouse, timedelta(days=90), None) == []
    create = clickhouse.query("SHOW CREATE TABLE cloud_audit", read_only=False).rows[0][0]
    assert "TTL toDateTime(event_time) + toIntervalSecond(7776000)" in create
    assert "TTL" not in clickhouse.query("SHOW CREATE TABLE alerts", read_only=False).rows[0][0]
    assert len(apply_retention(clickhouse, None, None)) == 4
    assert (
        "TTL" not in clickhouse.query("SHOW CREATE TABLE cloud_audit", read_only=False).rows[0][0]
    )


@pytest.mark.parametrize("level", [1, 2])
def test_a_read_only_user_opens_an_existing_database_and_reads(
    clickhouse: ClickHouse, level: int
) -> None:
    # docs/security.md: the analysts' user has `readonly = 1` in its profile; chDB has no
    # users, so the session is made read-only by the DSN (clickhouse-connect's ch_ prefix).
    analyst = ClickHouse(f"{clickhouse.dsn}?ch_readonly={level}", clickhouse.database)
    try:
        assert analyst.readonly == level
        tables = analyst.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
        assert ("alerts",) in tables.rows
        cut = analyst.query("SELECT number FROM system.numbers LIMIT 100", limit=3)
        assert (cut.rows, cut.truncated) == ([(0,), (1,), (2,)], True)
        with pytest.raises(QueryRefused):
            analyst.query("DROP TABLE alerts")
        with pytest.raises(ClickHouseError, match="READONLY"):
            analyst.command("CREATE TABLE nope (x UInt8) ENGINE = Memory")
    finally:
        analyst.close()


def test_a_read_only_user_does_not_create_a_missing_database(clickhouse: ClickHouse) -> None:
    from accessdrift.errors import SchemaMissing

    with pytest.raises(SchemaMissing, match="accessdrift migrate"):
        ClickHouse(f"{clickhouse.dsn}?ch_readonly=1", "accessdrift_never_made")
    databases = clickhouse.query("SELECT name FROM system.databases", read_only=False).rows
    assert ("accessdrift_never_made",) not in databases
