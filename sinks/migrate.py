"""Versioned, idempotent schema migrations.

Each ``migrations/NNNN_name.sql`` runs once, in order; the versions applied are
kept in ``schema_migrations``. Statements are written with ``IF NOT EXISTS`` so
a migration interrupted half-way can simply run again.
"""

from dataclasses import dataclass
from importlib import resources

from accessdrift.errors import ClickHouseError
from sinks.clickhouse import ClickHouse

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
            [[migration.version, migration.name]],
            ["version", "name"],
            dedup_token=f"migration-{migration.version}",
        )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied
