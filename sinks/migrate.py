"""Versioned, idempotent schema migrations.

Each ``migrations/NNNN_name.sql`` runs once, in order; the versions applied are
kept in ``schema_migrations``. Statements are written with ``IF NOT EXISTS`` so
a migration interrupted half-way can simply run again.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

from accessdrift.errors import ClickHouseError
from sinks.clickhouse import ClickHouse
from sinks.rows import Columns

MIGRATIONS_TABLE = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def available_migrations() -> list[Migration]:
    folder = resources.files("sinks").joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version_text, _, rest = entry.name.partition("_")
        sql = entry.read_text(encoding="utf-8")
        lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
        statements = [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
        migrations.append(Migration(int(version_text), rest.removesuffix(".sql"), statements))
    return sorted(migrations, key=lambda migration: migration.version)


def migrate(clickhouse: ClickHouse) -> list[str]:
    """Apply what is missing; return the names applied (empty when up to date)."""
    clickhouse.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
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
                clickhouse.command(statement.replace("{database}", clickhouse.database))
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


def apply_retention(
    clickhouse: ClickHouse, event_ttl: timedelta | None, finding_ttl: timedelta | None
) -> list[str]:
    """Make each table's TTL what the settings say (none: keep everything); return what
    changed. A setting, not a migration: it may change from one start to the next."""
    changed = []
    for columns, ttl in ((EVENT_TTL_COLUMNS, event_ttl), (FINDING_TTL_COLUMNS, finding_ttl)):
        for table, column in columns.items():
            current = _table_ttl(clickhouse, table)
            if ttl is None:
                if current is not None:
                    clickhouse.command(f"ALTER TABLE {table} REMOVE TTL")
                    changed.append(f"{table}: kept forever")
                continue
            seconds = int(ttl.total_seconds())
            wanted = f"toDateTime({column}) + toIntervalSecond({seconds})"
            if current is None or current.replace(" ", "") != wanted.replace(" ", ""):
                clickhouse.command(f"ALTER TABLE {table} MODIFY TTL {wanted}")
                changed.append(f"{table}: {seconds} s")
    return changed


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
