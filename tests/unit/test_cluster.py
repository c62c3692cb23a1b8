"""The schema on a ClickHouse cluster (accessdrift/sinks/cluster.py): every migration has a cluster
form, each table is sharded by a key that keeps every version of a row on one shard, and
`migrate` runs only cluster statements against a server. ClickHouse's own parser reads each of
them in tests/integration/test_cluster_schema.py."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from accessdrift.cli import app
from accessdrift.core import ids
from accessdrift.errors import ConfigError
from accessdrift.settings import Settings, load_settings
from accessdrift.sinks.clickhouse import ClickHouse, QueryResult
from accessdrift.sinks.cluster import (
    REPLICA_PATH,
    SHARDING_KEYS,
    UnknownStatement,
    for_cluster,
    literal,
    require_server,
)
from accessdrift.sinks.migrate import (
    EVENT_TTL_COLUMNS,
    FINDING_TTL_COLUMNS,
    MIGRATIONS_TABLE,
    apply_retention,
    available_migrations,
    migrate,
    schema_script,
)
from accessdrift.sinks.rows import Columns

STATEMENTS = [
    statement for migration in available_migrations() for statement in migration.statements
]
_CREATED = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def _order_by(statement: str) -> str:
    match = re.search(r"\bORDER BY (.+?)(?:\nSETTINGS|$)", statement, re.DOTALL)
    assert match is not None, statement
    return match.group(1)


def _tables() -> dict[str, str]:
    """Each table the migrations create (and the bookkeeping table) -> its ORDER BY."""
    tables = {MIGRATIONS_TABLE: "version"}
    for statement in STATEMENTS:
        match = _CREATED.match(statement)
        if match:
            tables[match.group(1)] = _order_by(statement)
    return tables


def test_every_migration_statement_has_a_cluster_form() -> None:
    for statement in STATEMENTS:
        forms = for_cluster(statement, "main", "accessdrift")
        assert forms, statement
        assert all(" ON CLUSTER 'main'" in form for form in forms)


def test_a_table_becomes_a_replicated_local_table_then_a_distributed_one() -> None:
    statement = next(s for s in STATEMENTS if s.startswith("CREATE TABLE IF NOT EXISTS alerts"))
    local, distributed = for_cluster(statement, "main", "accessdrift")
    assert local.startswith("CREATE TABLE IF NOT EXISTS alerts_local ON CLUSTER 'main'\n(")
    assert (
        f"ENGINE = ReplicatedReplacingMergeTree('{REPLICA_PATH}', '{{replica}}', detected_at)"
        in local
    )
    assert "ORDER BY alert_id" in local
    assert "SETTINGS replicated_deduplication_window = 10000" in local
    assert "non_replicated" not in local
    assert distributed.startswith("CREATE TABLE IF NOT EXISTS alerts ON CLUSTER 'main'\n(")
    assert distributed.endswith(
        "ENGINE = Distributed('main', 'accessdrift', 'alerts_local', cityHash64(identity_id))"
    )
    # The same column list in both: the Distributed table is what the ingest writes to.
    assert (
        local.split("\nENGINE")[0].split("\n", 1)[1]
        == (distributed.split("\nENGINE")[0].split("\n", 1)[1])
    )


def test_engine_arguments_are_kept_after_the_replica_path() -> None:
    ledger = next(s for s in STATEMENTS if "TABLE IF NOT EXISTS access_ledger" in s)
    local = for_cluster(ledger, "c", "db")[0]
    assert (
        f"ReplicatedReplacingMergeTree('{REPLICA_PATH}', '{{replica}}', updated_at, removed)"
        in (local)
    )
    bare = "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version"
    local = for_cluster(bare, "c", "db")[0]
    assert (
        f"ReplicatedReplacingMergeTree('{REPLICA_PATH}', '{{replica}}') ORDER BY version" in local
    )


def test_every_table_has_a_sharding_key_and_no_key_is_left_over() -> None:
    assert set(SHARDING_KEYS) == set(_tables())


# Tables whose row id is derived from the identity (accessdrift/core/ids.py): a function of
# the ORDER BY even though identity_id is not in it.
_ID_FROM_IDENTITY = {
    "alerts": "alert_id",
    "provisioning_lag": "lag_id",
    "deprovision_pairs": "lag_id",
    "access_ledger": "interval_id",
}


def test_every_version_of_a_row_lands_on_one_shard() -> None:
    """FINAL keeps the latest version among one shard's rows only: the sharding key must be
    a function of the ORDER BY (of the row id)."""
    for table, order_by in _tables().items():
        columns = re.findall(r"cityHash64\(([^)]*)\)", SHARDING_KEYS[table])[0].split(", ")
        for column in columns:
            if table in _ID_FROM_IDENTITY and column == "identity_id":
                assert _ID_FROM_IDENTITY[table] == order_by, table
                continue
            if table in ("directory_changes", "cloud_audit", "secret_usage"):
                # An event's id names one event, and its identity, account or credential
                # with it: a replayed event is the same event.
                assert order_by == "event_id", table
                continue
            assert re.search(rf"\b{column}\b", order_by), (table, column, order_by)


def test_the_ids_sharded_by_identity_change_with_the_identity() -> None:
    assert ids.alert_id("k", "E1", "s", 1) != ids.alert_id("k", "E2", "s", 1)
    assert ids.lag_id("E1", "ev", "s") != ids.lag_id("E2", "ev", "s")
    assert ids.interval_id("E1", "account", "a", "a", None) != ids.interval_id(
        "E2", "account", "a", "a", None
    )


def test_ownership_is_sharded_by_its_subject_not_its_changing_identity() -> None:
    assert SHARDING_KEYS["ownership"] == "cityHash64(subject)"
    assert _tables()["ownership"] == "subject"


def test_a_column_change_goes_to_both_tables_local_first_and_a_ttl_to_the_local_one() -> None:
    add = "ALTER TABLE alerts ADD COLUMN IF NOT EXISTS x Nullable(String) AFTER evidence"
    assert for_cluster(add, "main", "db") == [
        "ALTER TABLE alerts_local ON CLUSTER 'main' ADD COLUMN IF NOT EXISTS x Nullable(String) AFTER evidence",
        "ALTER TABLE alerts ON CLUSTER 'main' ADD COLUMN IF NOT EXISTS x Nullable(String) AFTER evidence",
    ]
    ttl = "ALTER TABLE alerts MODIFY TTL toDateTime(deprovisioned_at) + toIntervalSecond(60)"
    assert for_cluster(ttl, "main", "db") == [
        "ALTER TABLE alerts_local ON CLUSTER 'main' MODIFY TTL toDateTime(deprovisioned_at) + toIntervalSecond(60)"
    ]
    assert for_cluster("ALTER TABLE alerts REMOVE TTL", "main", "db") == [
        "ALTER TABLE alerts_local ON CLUSTER 'main' REMOVE TTL"
    ]


def test_a_view_is_created_on_the_cluster_over_the_distributed_tables() -> None:
    view = "CREATE OR REPLACE VIEW v AS SELECT * FROM alerts FINAL WHERE x <= {at:DateTime64(6, 'UTC')}"
    assert for_cluster(view, "main", "db") == [
        "CREATE OR REPLACE VIEW v ON CLUSTER 'main' AS SELECT * FROM alerts FINAL "
        "WHERE x <= {at:DateTime64(6, 'UTC')}"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO alerts VALUES (1)",
        "CREATE MATERIALIZED VIEW m TO alerts AS SELECT 1",
        "ALTER TABLE alerts DELETE WHERE 1",
        "CREATE TABLE IF NOT EXISTS unheard_of (a String) ENGINE = ReplacingMergeTree ORDER BY a",
        "CREATE TABLE IF NOT EXISTS alerts (a String) ENGINE = Memory",
        "DROP TABLE alerts",
    ],
)
def test_a_shape_without_a_known_cluster_form_is_refused(statement: str) -> None:
    with pytest.raises(UnknownStatement):
        for_cluster(statement, "main", "db")


@pytest.mark.parametrize("cluster", ["a'b", "a b", " x", "x;DROP"])  # "": no cluster
def test_a_cluster_name_that_is_not_one_is_refused(cluster: str) -> None:
    with pytest.raises(UnknownStatement):
        for_cluster("ALTER TABLE alerts REMOVE TTL", cluster, "db")
    with pytest.raises(ConfigError):
        load_settings(clickhouse_cluster=cluster)


def test_a_macro_is_a_cluster_name_and_literals_are_escaped() -> None:
    assert load_settings(clickhouse_cluster="{cluster}").clickhouse_cluster == "{cluster}"
    assert literal("it's \\ odd") == "'it\\'s \\\\ odd'"
    table = next(s for s in STATEMENTS if s.startswith("CREATE TABLE IF NOT EXISTS alerts"))
    distributed = for_cluster(table, "{cluster}", "o'db")[1]
    assert "Distributed('{cluster}', 'o\\'db', 'alerts_local'" in distributed


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().clickhouse_cluster is None
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_CLUSTER", "analytics")
    assert Settings().clickhouse_cluster == "analytics"


def test_a_cluster_needs_a_server() -> None:
    with pytest.raises(ConfigError, match="a cluster needs a ClickHouse server"):
        require_server("main", embedded=True)
    require_server("main", embedded=False)
    require_server(None, embedded=True)


def test_without_a_cluster_the_script_is_the_migrations_as_written() -> None:
    script = schema_script("accessdrift", None)
    assert "ON CLUSTER" not in script and "Replicated" not in script
    for statement in STATEMENTS:
        assert f"{statement};" in script


def test_the_cluster_script_creates_the_database_on_every_node_first() -> None:
    lines = schema_script("accessdrift", "main").splitlines()
    assert lines[1] == "CREATE DATABASE IF NOT EXISTS `accessdrift` ON CLUSTER 'main';"
    statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    body = [re.sub(r"^(--[^\n]*\n)+", "", s).strip() for s in statements]
    assert all("ON CLUSTER 'main'" in s for s in body)
    # A local table before the Distributed table over it, in every case.
    for table in SHARDING_KEYS:
        local = next(i for i, s in enumerate(body) if f"EXISTS {table}_local " in s)
        distributed = next(i for i, s in enumerate(body) if f"EXISTS {table} " in s)
        assert local < distributed


class Recorder(ClickHouse):
    """A server-like ClickHouse that records what it is asked to run."""

    def __init__(self, embedded: bool = False) -> None:
        self.database = "accessdrift"
        self.embedded = embedded
        self.commands: list[str] = []
        self.inserted: list[str] = []

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def query(self, sql: str, read_only: bool = True, limit: int | None = None) -> QueryResult:
        return QueryResult([], [])

    def query_params(self, sql: str, parameters: dict[str, Any]) -> QueryResult:
        self.commands.append(f"{sql} -- {parameters['table']}")
        return QueryResult([], [])

    def insert(self, table: str, batch: Columns, dedup_token: str) -> None:
        self.inserted.append(table)


def test_migrate_on_a_cluster_runs_the_cluster_statements_only() -> None:
    server = Recorder()
    applied = migrate(server, "main")
    assert applied == [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    assert server.commands[0] == "CREATE DATABASE IF NOT EXISTS `accessdrift` ON CLUSTER 'main'"
    assert all("ON CLUSTER 'main'" in sql for sql in server.commands)
    assert server.commands == [
        s.rstrip(";") for s in _script_statements(schema_script("accessdrift", "main"))
    ]
    # The bookkeeping rows go to the Distributed table, which every node reads.
    assert set(server.inserted) == {MIGRATIONS_TABLE}


def _script_statements(script: str) -> list[str]:
    text = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    return [part.strip() for part in text.split(";\n") if part.strip()]


def test_migrate_refuses_a_cluster_on_the_embedded_engine_before_running_anything() -> None:
    embedded = Recorder(embedded=True)
    with pytest.raises(ConfigError, match="ACCESSDRIFT_CLICKHOUSE_URL"):
        migrate(embedded, "main")
    assert embedded.commands == [] and embedded.inserted == []


def test_retention_on_a_cluster_reads_and_alters_the_local_tables() -> None:
    server = Recorder()
    changed = apply_retention(server, timedelta(days=30), None, "main")
    assert len(changed) == len(EVENT_TTL_COLUMNS)
    looked_up = [sql.split(" -- ")[1] for sql in server.commands if " -- " in sql]
    assert looked_up == [f"{t}_local" for t in (*EVENT_TTL_COLUMNS, *FINDING_TTL_COLUMNS)]
    alters = [sql for sql in server.commands if sql.startswith("ALTER")]
    assert alters == [
        f"ALTER TABLE {table}_local ON CLUSTER 'main' MODIFY TTL toDateTime({column}) "
        "+ toIntervalSecond(2592000)"
        for table, column in EVENT_TTL_COLUMNS.items()
    ]


def test_migrate_print_shows_the_statements_without_a_connection(tmp_path: Path) -> None:
    env = {
        "ACCESSDRIFT_DATA_DIR": str(tmp_path / "data"),
        "ACCESSDRIFT_CLICKHOUSE_CLUSTER": "main",
        "ACCESSDRIFT_CLICKHOUSE_DATABASE": "drift",
    }
    result = CliRunner().invoke(app, ["migrate", "--print"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output == schema_script("drift", "main")
    assert not (tmp_path / "data").exists(), "nothing opened, nothing created"
