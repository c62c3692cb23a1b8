"""The schema on a ClickHouse cluster (ACCESSDRIFT_CLICKHOUSE_CLUSTER, docs/deploy.md): each
migration statement as the cluster needs it, derived from the one the embedded engine and a
single server run, so that no migration is written twice.

A table becomes two, both created ``ON CLUSTER``: ``<table>_local``, the rows of one shard in a
``Replicated*MergeTree`` (the same columns, key, partitions and version column), and
``<table>`` itself, a ``Distributed`` table over them. The ingest inserts and the views and
analysts read by the table's own name, as they do without a cluster. A view is created on every
node; an ``ALTER TABLE ... ADD COLUMN`` changes both tables, a TTL the local one (the rows are
there).

The migrations are our own statements of a few known shapes: a regular expression over each is
enough, and any other shape is refused rather than guessed at (a new migration that writes one
fails the unit test that rewrites them all). tests/integration/test_cluster_schema.py has
ClickHouse's own parser read every statement this module writes.
"""

import re

from accessdrift.errors import AccessDriftError, ConfigError

LOCAL_SUFFIX = "_local"
# ClickHouse's documented layout of replicated tables in ZooKeeper / Keeper: one path per shard
# and table, one replica name per server, from each server's <macros>. Explicit rather than the
# server's default_replica_path: docs/deploy.md says why.
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"

# How each table's rows are spread over the shards. A ReplacingMergeTree keeps the latest
# version of a row only among the rows of one shard (FINAL runs on each shard apart), so the key
# must give every version of a row the same shard: it is a function of the table's ORDER BY.
# identity_id wherever the row's id is derived from it (alert_id, lag_id, interval_id take the
# identity; identity_links orders by it): one identity's rows, and the joins over them, stay on
# one shard. Not ownership: a subject's identity changes when a link claims a fallback account,
# and its key is the subject. The event tables without an identity go by the account or
# credential an event is about; the bookkeeping tables by their own key. Never rand(): a retried
# batch must reach the same shards to be deduplicated by its token there.
SHARDING_KEYS = {
    "directory_changes": "cityHash64(identity_id)",
    "identity_links": "cityHash64(identity_id)",
    "provisioning_lag": "cityHash64(identity_id)",
    "alerts": "cityHash64(identity_id)",
    "deprovision_pairs": "cityHash64(identity_id)",
    "access_ledger": "cityHash64(identity_id)",
    "cloud_audit": "cityHash64(account_id)",
    "secret_usage": "cityHash64(credential_id)",
    "ownership": "cityHash64(subject)",
    "ingest_positions": "cityHash64(topic, partition)",
    "alert_deliveries": "cityHash64(alert_id)",
    "alert_silences": "cityHash64(silence_id)",
    "schema_migrations": "cityHash64(version)",
}

# The commands that change a table's columns change the Distributed table's too; the others are
# about the stored rows, on the local table alone.
_BOTH = ("ADD COLUMN", "DROP COLUMN", "MODIFY COLUMN", "RENAME COLUMN", "COMMENT COLUMN")
_LOCAL_ONLY = ("MODIFY TTL", "REMOVE TTL")

_NAME = r"`?(?P<name>[A-Za-z_][A-Za-z0-9_]*)`?"
_CREATE_TABLE = re.compile(
    rf"CREATE\s+TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*"
    r"(?P<columns>\(.*\))\s*"
    r"ENGINE\s*=\s*(?P<engine>(?:Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?"
    r"MergeTree)\b(?:\s*\((?P<arguments>[^()]*)\))?"
    r"(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_VIEW = re.compile(
    rf"(?P<head>CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?){_NAME}"
    r"(?P<body>\s+AS\b.*)",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_TABLE = re.compile(
    rf"ALTER\s+TABLE\s+{_NAME}\s+(?P<command>.+)",
    re.IGNORECASE | re.DOTALL,
)
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_.{}-]+")


class UnknownStatement(AccessDriftError):
    """A statement whose cluster form this module does not know."""


def require_server(cluster: str | None, embedded: bool) -> None:
    """Refuse a cluster with the embedded engine: it is one process's engine, not a node of
    a cluster, and each worker's would hold only what that worker ingested."""
    if cluster is not None and embedded:
        raise ConfigError(
            f"ACCESSDRIFT_CLICKHOUSE_CLUSTER is {cluster!r} but ClickHouse is the embedded "
            "engine, which has no cluster: a cluster needs a ClickHouse server "
            "(ACCESSDRIFT_CLICKHOUSE_URL=http://user:password@host:8123/db), or unset "
            "ACCESSDRIFT_CLICKHOUSE_CLUSTER (docs/deploy.md)"
        )


def literal(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def local_table(table: str) -> str:
    return f"{table}{LOCAL_SUFFIX}"


def create_database(database: str, cluster: str) -> str:
    """The database on every node (the client creates it on the one it talks to only)."""
    return f"CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER {literal(cluster)}"


def for_cluster(statement: str, cluster: str, database: str) -> list[str]:
    """The statements that do on ``cluster`` what ``statement`` does on one server, in the
    order they must run. ``database`` is named in the Distributed tables: a literal is what
    each node reads, whatever its session's default database."""
    if not _CLUSTER_NAME.fullmatch(cluster):
        raise UnknownStatement(f"{cluster!r} is not a ClickHouse cluster name")
    text = statement.strip().rstrip(";").strip()
    on_cluster = f"ON CLUSTER {literal(cluster)}"
    table = _CREATE_TABLE.fullmatch(text)
    if table is not None:
        return _tables(table, cluster, database)
    view = _CREATE_VIEW.fullmatch(text)
    if view is not None:
        return [f"{view['head']}{view['name']} {on_cluster}{view['body']}"]
    alter = _ALTER_TABLE.fullmatch(text)
    if alter is not None:
        name, command = alter["name"], alter["command"]
        words = " ".join(command.split()[:2]).upper()
        local = f"ALTER TABLE {local_table(name)} {on_cluster} {command}"
        if words in _BOTH:
            return [local, f"ALTER TABLE {name} {on_cluster} {command}"]
        if words in _LOCAL_ONLY:
            return [local]
    raise UnknownStatement(
        f"no cluster form for this statement (accessdrift/sinks/cluster.py knows CREATE TABLE "
        f"... ENGINE = *MergeTree, CREATE VIEW and ALTER TABLE {', '.join(_BOTH + _LOCAL_ONLY)}):"
        f" {text[:200]}"
    )


def _tables(table: re.Match[str], cluster: str, database: str) -> list[str]:
    name = table["name"]
    key = SHARDING_KEYS.get(name)
    if key is None:
        raise UnknownStatement(
            f"table {name} has no sharding key: add one to SHARDING_KEYS in "
            "accessdrift/sinks/cluster.py (a function of its ORDER BY)"
        )
    if_not_exists = "IF NOT EXISTS " if table["if_not_exists"] else ""
    arguments = [literal(REPLICA_PATH), literal(REPLICA_NAME)]
    if table["arguments"] and table["arguments"].strip():
        arguments.append(table["arguments"].strip())
    # A replicated table deduplicates an insert token by replicated_deduplication_window:
    # the same window the single server's table keeps.
    rest = re.sub(
        r"\bnon_replicated_deduplication_window\b", "replicated_deduplication_window", table["rest"]
    )
    on_cluster = f"ON CLUSTER {literal(cluster)}"
    local = (
        f"CREATE TABLE {if_not_exists}{local_table(name)} {on_cluster}\n{table['columns']}\n"
        f"ENGINE = Replicated{table['engine']}({', '.join(arguments)}){rest}"
    )
    distributed = (
        f"CREATE TABLE {if_not_exists}{name} {on_cluster}\n{table['columns']}\n"
        f"ENGINE = Distributed({literal(cluster)}, {literal(database)}, "
        f"{literal(local_table(name))}, {key})"
    )
    return [local, distributed]
