"""Versioned, idempotent schema migrations.

Each ``migrations/NNNN_name.sql`` runs once, in order; the versions applied are
kept in ``schema_migrations``. Statements are written with ``IF NOT EXISTS`` so
a migration interrupted half-way can simply run again.

With a cluster (ACCESSDRIFT_CLICKHOUSE_CLUSTER) every statement runs in the form
``accessdrift/sinks/cluster.py`` derives from it: replicated local tables, Distributed
tables under the tables' own names, views and column changes ``ON CLUSTER``.
"""

import re
from datetime import timedelta

from accessdrift.errors import ClickHouseError
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.cluster import create_database, for_cluster, local_table, require_server
from accessdrift.sinks.migration_files import Migration, available_migrations
from accessdrift.sinks.rows import Columns

MIGRATIONS_TABLE = "schema_migrations"

__all__ = [
    "MIGRATIONS_TABLE",
    "Migration",
    "apply_retention",
    "available_migrations",
    "migrate",
    "schema_script",
]

_BOOKKEEPING = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
    "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
    "ENGINE = ReplacingMergeTree ORDER BY version"
)


def statements_for(statement: str, database: str, cluster: str | None) -> list[str]:
    """What runs for one statement of a migration: itself on one server or the embedded
    engine, its cluster form on a cluster. ``{database}`` is filled in first: the replica
    path's own ``{database}`` is a macro for the server to expand."""
    text = statement.replace("{database}", database)
    return [text] if cluster is None else for_cluster(text, cluster, database)


def schema_script(database: str, cluster: str | None) -> str:
    """Every statement ``migrate`` runs on an empty database, in order, without running one:
    for a DBA to read, or to run by hand (``accessdrift migrate --print``). The bookkeeping
    rows ``migrate`` inserts are not in it."""
    parts = [
        f"-- accessdrift schema for database {database}"
        + (f" on cluster {cluster}" if cluster else "")
    ]
    if cluster is not None:
        parts.append(create_database(database, cluster) + ";")
    parts.extend(f"{text};" for text in statements_for(_BOOKKEEPING, database, cluster))
    for migration in available_migrations():
        parts.append(f"\n-- {migration.version:04d}_{migration.name}")
        parts.extend(
            f"{text};"
            for statement in migration.statements
            for text in statements_for(statement, database, cluster)
        )
    return "\n".join(parts) + "\n"


def migrate(clickhouse: ClickHouse, cluster: str | None = None) -> list[str]:
    """Apply what is missing; return the names applied (empty when up to date). ``cluster``:
    create the schema on that ClickHouse cluster (docs/deploy.md)."""
    require_server(cluster, clickhouse.embedded)
    if cluster is not None:
        clickhouse.command(create_database(clickhouse.database, cluster))
    for text in statements_for(_BOOKKEEPING, clickhouse.database, cluster):
        clickhouse.command(text)
    done = {
        row[0]
        for row in clickhouse.query(
            f"SELECT version FROM {MIGRATIONS_TABLE} FINAL", read_only=False
        ).rows
    }
    applied = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            try:
                for text in statements_for(statement, clickhouse.database, cluster):
                    clickhouse.command(text)
            except ClickHouseError as error:
                raise ClickHouseError(
                    f"migration {migration.version:04d}_{migration.name} failed: {error}"
                ) from error
        clickhouse.insert(
            MIGRATIONS_TABLE,
            Columns(("version", "name"), [[migration.version], [migration.name]]),
            dedup_token=f"migration-{migration.version}",
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


# Table -> the event-time column its rows age by.
EVENT_TTL_COLUMNS = {
    "directory_changes": "event_time",
    "cloud_audit": "event_time",
    "secret_usage": "event_time",
    "identity_links": "event_time",
}
FINDING_TTL_COLUMNS = {
    "provisioning_lag": "source_time",
    "deprovision_pairs": "source_time",
    "alerts": "deprovisioned_at",
}
# Not access_ledger: the column an interval would age by (valid_to) differs between its
# versions, and a TTL merge works part by part. The closing version deleted while the
# version that opened it (valid_to null) waited in another part would show the access
# held again. The ledger is kept whole; it is a row per interval, not per event.


def apply_retention(
    clickhouse: ClickHouse,
    event_ttl: timedelta | None,
    finding_ttl: timedelta | None,
    cluster: str | None = None,
) -> list[str]:
    """Make each table's TTL what the settings say (none: keep everything); return what
    changed. A setting, not a migration: it may change from one start to the next. On a
    cluster the rows, and so the TTL, are in the local tables."""
    changed = []
    for columns, ttl in ((EVENT_TTL_COLUMNS, event_ttl), (FINDING_TTL_COLUMNS, finding_ttl)):
        for table, column in columns.items():
            stored = table if cluster is None else local_table(table)
            current = _table_ttl(clickhouse, stored)
            if ttl is None:
                if current is not None:
                    _alter(clickhouse, table, "REMOVE TTL", cluster)
                    changed.append(f"{table}: kept forever")
                continue
            seconds = int(ttl.total_seconds())
            wanted = f"toDateTime({column}) + toIntervalSecond({seconds})"
            if current is None or current.replace(" ", "") != wanted.replace(" ", ""):
                _alter(clickhouse, table, f"MODIFY TTL {wanted}", cluster)
                changed.append(f"{table}: {seconds} s")
    return changed


def _alter(clickhouse: ClickHouse, table: str, command: str, cluster: str | None) -> None:
    for text in statements_for(f"ALTER TABLE {table} {command}", clickhouse.database, cluster):
        clickhouse.command(text)


def _table_ttl(clickhouse: ClickHouse, table: str) -> str | None:
    result = clickhouse.query_params(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} "
        "AND name = {table:String}",
        {"db": clickhouse.database, "table": table},
    )
    if not result.rows:
        return None
    match = re.search(r"\bTTL (.+?) SETTINGS ", str(result.rows[0][0]))
    return match.group(1).strip() if match else None
