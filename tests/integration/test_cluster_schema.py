"""ClickHouse's own parser reads every statement `migrate` would run on a cluster
(ACCESSDRIFT_CLICKHOUSE_CLUSTER), through the embedded engine: it parses what it cannot run (it
has no cluster). Each tree is compared with the tree of the statement it was derived from, so
that the cluster form changes the engine, the name and ON CLUSTER, and nothing else.

chDB only: no broker, no server.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from accessdrift.errors import ConfigError
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.cluster import REPLICA_NAME, REPLICA_PATH, SHARDING_KEYS
from accessdrift.sinks.migrate import (
    EVENT_TTL_COLUMNS,
    FINDING_TTL_COLUMNS,
    MIGRATIONS_TABLE,
    available_migrations,
    migrate,
    schema_script,
    statements_for,
)

CLUSTER = "analytics"
DATABASE = "accessdrift_cluster_test"


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    connection = ClickHouse(f"chdb://{tmp_path_factory.mktemp('cluster')}", DATABASE)
    yield connection
    connection.close()


def parsed(clickhouse: ClickHouse, sql: str) -> dict[str, Any]:
    result = clickhouse.query_params("SELECT parseQueryToJSON({sql:String})", {"sql": sql})
    tree: dict[str, Any] = json.loads(result.rows[0][0])
    return tree


def _script_statements(script: str) -> list[str]:
    text = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    return [part.strip() for part in text.split(";\n") if part.strip().rstrip(";")]


def _without(tree: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in tree.items() if key not in keys}


def _literal(value: str) -> dict[str, Any]:
    return {"type": "Literal", "value": {"field_type": "String", "value": value}}


def test_every_statement_of_the_cluster_script_parses_on_the_cluster(
    clickhouse: ClickHouse,
) -> None:
    statements = _script_statements(schema_script(DATABASE, CLUSTER))
    assert len(statements) > 40
    for sql in statements:
        assert parsed(clickhouse, sql.rstrip(";"))["cluster"] == CLUSTER, sql[:120]


def _sources() -> list[str]:
    bookkeeping = (
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    return [bookkeeping] + [
        statement for migration in available_migrations() for statement in migration.statements
    ]


def test_a_cluster_form_changes_only_the_engine_name_and_cluster(clickhouse: ClickHouse) -> None:
    tables = 0
    for source in _sources():
        original = parsed(clickhouse, source.replace("{database}", DATABASE))
        forms = [parsed(clickhouse, sql) for sql in statements_for(source, DATABASE, CLUSTER)]
        assert all(form["cluster"] == CLUSTER for form in forms)
        if original["type"] == "CreateQuery" and "storage" in original:
            tables += 1
            _check_table(original, *forms)
        elif original["type"] == "CreateQuery":
            (view,) = forms
            assert original["is_ordinary_view"] and view["is_ordinary_view"]
            assert _without(view, "cluster") == _without(original, "cluster")
        else:
            assert original["type"] == "AlterQuery"
            local, distributed = forms
            name = original["table"]
            assert local["table"] == f"{name}_local" and distributed["table"] == name
            assert local["command_list"] == original["command_list"]
            assert distributed["command_list"] == original["command_list"]
    assert tables == len(SHARDING_KEYS)


def _check_table(
    original: dict[str, Any], local: dict[str, Any], distributed: dict[str, Any]
) -> None:
    name = original["table"]
    assert local["table"] == f"{name}_local" and distributed["table"] == name
    assert local["if_not_exists"] and distributed["if_not_exists"]
    assert local["columns_list"] == original["columns_list"]
    assert distributed["columns_list"] == original["columns_list"]

    engine, storage = local["storage"]["engine"], original["storage"]["engine"]
    assert engine["name"] == f"Replicated{storage['name']}"
    kept = storage.get("arguments", {}).get("children", [])
    assert engine["arguments"]["children"] == [
        _literal(REPLICA_PATH),
        _literal(REPLICA_NAME),
        *kept,
    ]
    for clause in ("order_by", "partition_by", "primary_key", "ttl_table"):
        assert local["storage"].get(clause) == original["storage"].get(clause), (name, clause)
    settings = original["storage"].get("settings")
    if settings is None:
        assert "settings" not in local["storage"]
    else:
        renamed = [
            {**change, "name": change["name"].removeprefix("non_")}
            for change in settings["changes"]
        ]
        assert local["storage"]["settings"]["changes"] == renamed

    engine = distributed["storage"]["engine"]
    assert engine["name"] == "Distributed"
    cluster, database, table, key = engine["arguments"]["children"]
    assert (cluster, database, table) == (
        _literal(CLUSTER),
        _literal(DATABASE),
        _literal(f"{name}_local"),
    )
    assert key["type"] == "Function" and key["name"] == "cityHash64", name
    assert set(distributed["storage"]) <= {"type", "engine"}, "no key or partition of its own"


def test_the_retention_statements_parse_on_the_cluster(clickhouse: ClickHouse) -> None:
    for table, column in {**EVENT_TTL_COLUMNS, **FINDING_TTL_COLUMNS}.items():
        for command in (f"MODIFY TTL toDateTime({column}) + toIntervalSecond(60)", "REMOVE TTL"):
            (sql,) = statements_for(f"ALTER TABLE {table} {command}", DATABASE, CLUSTER)
            tree = parsed(clickhouse, sql)
            assert (tree["table"], tree["cluster"]) == (f"{table}_local", CLUSTER)


def test_the_embedded_engine_refuses_a_cluster_and_creates_nothing(
    clickhouse: ClickHouse,
) -> None:
    with pytest.raises(ConfigError, match="a cluster needs a ClickHouse server"):
        migrate(clickhouse, CLUSTER)
    tables = clickhouse.query("SHOW TABLES", read_only=False).rows
    assert tables == [], "nothing was created before the refusal"
