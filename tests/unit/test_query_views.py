"""The analyst path calls the project's own parameterized views (``access_at(at = ...)``,
parsed by ClickHouse as a table function) and nothing else that looks like one: the list
comes from the migrations, and a name with a database, or any real table function, stays
refused. The trees are the shapes ``parseQueryToJSON`` gives (tests/integration runs the
same SQL through ClickHouse's parser)."""

from typing import Any

import pytest

from accessdrift.sinks.migration_files import (
    available_migrations,
    parameterized_views,
    views_taking_parameters,
)
from accessdrift.sinks.query_guard import refusal


def select_from_function(
    name: str, compound: bool = False, arguments: Any = None
) -> dict[str, Any]:
    function: dict[str, Any] = {"type": "Function", "name": name}
    if compound:
        function["is_compound_name"] = True
    if arguments is not None:
        function["arguments"] = {"type": "ExpressionList", "children": arguments}
    element = {
        "type": "TablesInSelectQueryElement",
        "table_expression": {"type": "TableExpression", "table_function": function},
    }
    return {
        "type": "SelectWithUnionQuery",
        "list_of_selects": {
            "type": "ExpressionList",
            "children": [{"type": "SelectQuery", "tables": {"children": [element]}}],
        },
    }  # fmt: skip


AT = [
    {
        "type": "Function",
        "name": "equals",
        "arguments": {
            "type": "ExpressionList",
            "children": [
                {"type": "Identifier", "name": "at"},
                {"type": "Literal", "value": {"field_type": "String", "value": "2026-03-03"}},
            ],
        },
    }
]


def test_the_views_are_derived_from_the_migrations() -> None:
    assert "access_at" in parameterized_views()
    # The other views of the migrations take no parameter: read as tables, not called.
    assert not {"entitlements_of_leavers", "identity_timeline"} & parameterized_views()
    hygiene = {
        "stale_credentials",
        "credential_hygiene",
        "shared_credentials",
        "uncorrelated_accounts_in_use",
    }
    assert not hygiene & parameterized_views()
    created = " ".join(
        statement for migration in available_migrations() for statement in migration.statements
    )
    assert all(f"CREATE OR REPLACE VIEW {name} AS" in created for name in hygiene)


@pytest.mark.parametrize(
    ("statement", "names"),
    [
        ("CREATE OR REPLACE VIEW held_at AS SELECT * FROM t WHERE x <= {at:DateTime64(6)}",
         {"held_at"}),
        ("CREATE VIEW IF NOT EXISTS {database}.`by_kind` AS SELECT 1 WHERE k = { kind : String }",
         {"by_kind"}),
        ("CREATE OR REPLACE VIEW plain AS SELECT * FROM t", set()),
        # {database} is the migration runner's placeholder, not a query parameter.
        ("CREATE VIEW IF NOT EXISTS plain2 AS SELECT * FROM {database}.t", set()),
        ("CREATE TABLE IF NOT EXISTS t (x String) ENGINE = Memory", set()),
        ("ALTER TABLE t ADD COLUMN IF NOT EXISTS at Nullable(String)", set()),
    ],
)  # fmt: skip
def test_a_view_counts_when_its_query_takes_a_parameter(statement: str, names: set[str]) -> None:
    assert views_taking_parameters([statement]) == names


@pytest.mark.parametrize(
    "tree",
    [
        select_from_function("access_at", arguments=AT),
        select_from_function("access_at"),  # ClickHouse says what is missing
        {"type": "ExplainQuery", "query": select_from_function("access_at", arguments=AT)},
        select_from_function("numbers"),
    ],
)
def test_the_projects_parameterized_views_pass(tree: dict[str, Any]) -> None:
    assert refusal(tree) is None


@pytest.mark.parametrize(
    ("tree", "reason"),
    [
        # A database before the name: another database's view, or a function of that name.
        (select_from_function("accessdrift.access_at", compound=True, arguments=AT),
         "table function accessdrift.access_at()"),
        (select_from_function("other.access_at", compound=True, arguments=AT),
         "table function other.access_at()"),
        # One backquoted identifier with a dot in it is not the view either.
        (select_from_function("other.access_at", arguments=AT), "table function other.access_at()"),
        # Compared as written: ACCESS_AT is no view of ours (names are case-sensitive).
        (select_from_function("ACCESS_AT", arguments=AT), "table function access_at()"),
        (select_from_function("access_at_x", arguments=AT), "table function access_at_x()"),
        (select_from_function("entitlements_of_leavers"), "entitlements_of_leavers()"),
        (select_from_function("file"), "table function file()"),
        (select_from_function("url"), "table function url()"),
        (select_from_function("remote"), "table function remote()"),
        (select_from_function("merge"), "table function merge()"),
        # The view's arguments are walked like the rest of the statement.
        (select_from_function("access_at", arguments=[{"type": "Function", "name": "file"}]),
         "function file() is refused"),
        (select_from_function("access_at", arguments=[select_from_function("url")]),
         "table function url()"),
    ],
)  # fmt: skip
def test_everything_else_that_looks_like_a_table_function_is_refused(
    tree: dict[str, Any], reason: str
) -> None:
    found = refusal(tree)
    assert found is not None and reason in found
