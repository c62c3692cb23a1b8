"""The Grafana dashboards: generated, wired to the read-only data source, and every
query valid on the project's schema once the plugin has expanded it.

No broker: the simulated organisation of tests/org_database.py in an embedded
ClickHouse, queried read-only (as the grafana_reader user would).
"""

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from deploy.grafana import dashboards
from tests.grafana_macros import (
    ALL,
    MacroError,
    QueryContext,
    Variable,
    apply_conditional_all,
    expand_macros,
    render,
    replace_variables,
)
from tests.helpers import REPO
from tests.org_database import OrgDatabase, build

# -- The committed JSON is what the builder makes ------------------------------------


def test_committed_json_is_what_the_builder_makes() -> None:
    for path, text in dashboards.rendered().items():
        assert path.exists(), f"{path} missing: run python -m deploy.grafana.dashboards"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from deploy/grafana/dashboards.py: "
            "run `.venv/bin/python -m deploy.grafana.dashboards` (never edit the JSON)"
        )


def _boards() -> dict[str, dict[str, Any]]:
    return {
        uid: json.loads(dashboards.render(board)) for uid, board in dashboards.build_all().items()
    }


def test_dashboards_have_stable_uids_variables_and_one_datasource() -> None:
    boards = _boards()
    assert set(boards) == {
        "accessdrift-latency",
        "accessdrift-zombies",
        "accessdrift-entitlements",
        "accessdrift-hygiene",
    }
    for uid, board in boards.items():
        assert board["uid"] == uid
        names = {v["name"]: v for v in board["templating"]["list"]}
        assert names["system"]["type"] == "query"
        assert names["system"]["multi"] and names["system"]["includeAll"]
        assert names["system"]["datasource"]["uid"] == "accessdrift-clickhouse"
        assert names["identity_kind"]["type"] == "custom"
        assert names["identity_kind"]["query"] == "human,nhi"
        assert names["identity_kind"]["multi"] and names["identity_kind"]["includeAll"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["datasource"] == {
                "type": dashboards.PLUGIN,
                "uid": "accessdrift-clickhouse",
            }
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "accessdrift-clickhouse"
                assert target["editorType"] == "sql"
                # The plugin's format enum: 0 time series, 1 table.
                assert (target["format"], target["queryType"]) in {(0, "timeseries"), (1, "table")}
                assert "${system:singlequote}" in target["rawSql"]
                assert "${identity_kind:singlequote}" in target["rawSql"]


TABLES = (
    "provisioning_lag",
    "alerts",
    "deprovision_pairs",
    "ownership",
    "directory_changes",
    "cloud_audit",
    "secret_usage",
    "access_ledger",
)


def test_tables_are_always_read_with_final() -> None:
    for board in _boards().values():
        queries = [t["rawSql"] for p in board["panels"] for t in p["targets"]]
        queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
        for sql in queries:
            for table in TABLES:
                for match in re.finditer(rf"\bFROM\s+{table}\b(\s+\w+)?", sql):
                    assert (match.group(1) or "").strip() == "FINAL", (table, sql)


# -- The expander against the plugin's own test vectors ------------------------------

# Copied from github.com/grafana/clickhouse-datasource pkg/macros/macros_test.go at
# commit 1d04063a31fb30f9582cd0b3aeaacb7d350b0dcf (TestMacro*, TestInterpolate,
# TestInterpolateNestedMacros, TestInterpolateBackslashEscapedStringLiterals,
# TestInterpolateBacktickAndDollarQuotedRegions).
FROM_371 = datetime(2014, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
TO_371 = datetime(2015, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
FROM_123 = datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=UTC)
TO_456 = datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=UTC)
ZERO = datetime(1, 1, 1, tzinfo=UTC)

UNIT_VECTORS = [
    (FROM_371, TO_371, timedelta(0), "$__fromTime", "toDateTime(1415792726)"),
    (FROM_371, TO_371, timedelta(0), "$__toTime", "toDateTime(1447328726)"),
    (FROM_371, TO_371, timedelta(0), "$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
    (FROM_371, TO_371, timedelta(0), "$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
    (
        FROM_371,
        TO_371,
        timedelta(0),
        "$__dateFilter(dateCol)",
        "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')",
    ),
    (
        FROM_371,
        TO_371,
        timedelta(0),
        "$__dateTimeFilter(dateCol, timeCol)",
        "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND (timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))",
    ),
    (
        ZERO,
        ZERO,
        timedelta(seconds=20),
        "$__timeInterval(col)",
        "toStartOfInterval(toDateTime(col), INTERVAL 20 second)",
    ),
    (
        ZERO,
        ZERO,
        timedelta(seconds=20),
        "$__timeInterval_ms(col)",
        "toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond)",
    ),
    (ZERO, ZERO, timedelta(seconds=20), "$__interval_s", "20"),
    (FROM_371, TO_371, timedelta(0), "$__timeFrom(ts)", "ts >= toDateTime(1415792726)"),
    (FROM_371, TO_371, timedelta(0), "$__timeTo(ts)", "ts <= toDateTime(1447328726)"),
    (
        ZERO,
        ZERO,
        timedelta(0),
        "$__timeGroup(ts, 5m)",
        "toStartOfInterval(toDateTime(ts), INTERVAL 300 second)",
    ),
    (
        ZERO,
        ZERO,
        timedelta(0),
        "$__timeGroup(ts, 1h)",
        "toStartOfInterval(toDateTime(ts), INTERVAL 3600 second)",
    ),
]

INTERPOLATE_VECTORS = [
    # TestInterpolate (no interval)
    (
        "select * from foo where $__timeFilter(cast(sth as timestamp))",
        "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)",
        timedelta(0),
    ),
    (
        "select * from foo where $__timeFilter(cast(sth as timestamp) )",
        "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)",
        timedelta(0),
    ),
    (
        "select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
        "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)",
        timedelta(0),
    ),
    (
        "select * from foo where $__timeFilter_ms(cast(sth as timestamp) )",
        "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)",
        timedelta(0),
    ),
    (
        "select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
        "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100",
        timedelta(0),
    ),
    (
        "select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
        "select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100",
        timedelta(0),
    ),
    (
        "select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100",
        "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100",
        timedelta(0),
    ),
    (
        "select * from foo where ( date >= $__fromTime_ms ) and ( date <= $__toTime_ms ) limit 100",
        "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) ) and ( date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100",
        timedelta(0),
    ),
    # TestInterpolateNestedMacros (interval 1m)
    (
        "SELECT $__timeInterval($__fromTime) AS from_time",
        "SELECT toStartOfInterval(toDateTime(toDateTime(1415792726)), INTERVAL 60 second) AS from_time",
        timedelta(minutes=1),
    ),
    (
        "SELECT $__timeInterval_ms($__fromTime_ms)",
        "SELECT toStartOfInterval(toDateTime64(fromUnixTimestamp64Milli(1415792726123), 3), INTERVAL 60000 millisecond)",
        timedelta(minutes=1),
    ),
    (
        "select * from foo where $__timeFilter(coalesce(closed_at, $__toTime))",
        "select * from foo where coalesce(closed_at, toDateTime(1447328726)) >= toDateTime(1415792726) AND coalesce(closed_at, toDateTime(1447328726)) <= toDateTime(1447328726)",
        timedelta(minutes=1),
    ),
    # TestInterpolateBackslashEscapedStringLiterals
    (
        "select * from foo where msg = 'it\\'s -- fine' and $__fromTime",
        "select * from foo where msg = 'it\\'s -- fine' and toDateTime(1415792726)",
        timedelta(0),
    ),
    (
        "select * from foo where msg = 'a\\'/*x' and $__toTime",
        "select * from foo where msg = 'a\\'/*x' and toDateTime(1447328726)",
        timedelta(0),
    ),
    (
        "select * from foo where msg = 'it''s' and $__fromTime",
        "select * from foo where msg = 'it''s' and toDateTime(1415792726)",
        timedelta(0),
    ),
    # TestInterpolateBacktickAndDollarQuotedRegions
    (
        "SELECT `it's` AS x, msg FROM t WHERE msg = 'a--b' AND $__timeFilter(ts)",
        "SELECT `it's` AS x, msg FROM t WHERE msg = 'a--b' AND ts >= toDateTime(1415792726) AND ts <= toDateTime(1447328726)",
        timedelta(0),
    ),
    (
        "SELECT `a--b`, `c/*d` FROM t WHERE $__fromTime",
        "SELECT `a--b`, `c/*d` FROM t WHERE toDateTime(1415792726)",
        timedelta(0),
    ),
    (
        "SELECT $doc$a--b$doc$ AS x FROM t WHERE $__toTime",
        "SELECT $doc$a--b$doc$ AS x FROM t WHERE toDateTime(1447328726)",
        timedelta(0),
    ),
]


@pytest.mark.parametrize(("time_from", "time_to", "interval", "macro", "expected"), UNIT_VECTORS)
def test_macro_matches_plugin_unit_tests(
    time_from: datetime, time_to: datetime, interval: timedelta, macro: str, expected: str
) -> None:
    assert expand_macros(macro, QueryContext(time_from, time_to, interval)) == expected


@pytest.mark.parametrize(("raw", "expected", "interval"), INTERPOLATE_VECTORS)
def test_interpolate_matches_plugin_tests(raw: str, expected: str, interval: timedelta) -> None:
    assert expand_macros(raw, QueryContext(FROM_123, TO_456, interval)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "$__timeFilter()",
        "$__timeFilter_ms()",
        "$__dateFilter()",
        "$__dateTimeFilter(d)",
        "$__timeInterval()",
        "$__timeInterval_ms()",
        "$__timeFrom()",
        "$__timeTo()",
        "$__timeGroup(ts)",
        "$__timeGroup(ts, nope)",
    ],
)
def test_bad_macro_calls_are_refused_like_the_plugin(raw: str) -> None:
    # TestMacroErrorsAreDownstream: wrong arity and bad durations are errors.
    with pytest.raises(MacroError):
        expand_macros(raw, QueryContext(ZERO, ZERO))


def test_unknown_macros_and_comments() -> None:
    ctx = QueryContext(FROM_123, TO_456)
    assert expand_macros("SELECT $__unknown(x)", ctx) == "SELECT $__unknown(x)"
    # Comments are blanked before expansion (macropro.StripComments): no macro inside
    # one is evaluated.
    comment = "-- $__fromTime"
    assert expand_macros(f"SELECT 1 {comment}\n", ctx) == "SELECT 1 " + " " * len(comment) + "\n"
    # Sub-second interval: at least 1 second.
    assert (
        expand_macros("$__interval_s", QueryContext(ZERO, ZERO, timedelta(milliseconds=500))) == "1"
    )


# Copied from src/data/CHDatasource.test.ts ("Conditional All", "should handle
# $__conditionalAll ...") at the same commit.
def test_conditional_all_matches_plugin_tests() -> None:
    all_selected = {"fieldVal": Variable("fieldVal", ALL)}
    some = {"fieldVal": Variable("fieldVal", "'val1', 'val2'")}
    raw = "select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);"
    assert apply_conditional_all(raw, all_selected) == "select stuff from table where 1=1;"
    assert (
        apply_conditional_all(raw, some) == "select stuff from table where fieldVal in ($fieldVal);"
    )
    two = (
        "select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal)"
        " and $__conditionalAll(fieldVal in ($fieldVal2), $fieldVal2);"
    )
    mixed = {**some, "fieldVal2": Variable("fieldVal2", ALL)}
    assert (
        apply_conditional_all(two, mixed)
        == "select stuff from table where fieldVal in ($fieldVal) and 1=1;"
    )
    assert apply_conditional_all("$__conditionalAll(foo, $fieldVal)", some) == "foo"
    assert apply_conditional_all("$__conditionalAll(foo, $fieldVal)", all_selected) == "1=1"
    # An empty selection counts as All (CHANGELOG: "Allow empty Inputs").
    assert apply_conditional_all("$__conditionalAll(foo, ${v})", {"v": Variable("v", [])}) == "1=1"


def test_template_variable_formats() -> None:
    system = Variable("system", ["aws", "o'k"], options=["aws", "gcp", "o'k"])
    every = Variable("system", ALL, options=["aws", "gcp"])
    custom_all = Variable("system", ALL, options=["aws"], all_value=".*")
    one = {"system": system}
    assert replace_variables("IN (${system:singlequote})", one) == "IN ('aws','o\\'k')"
    assert replace_variables("${system:csv}", one) == "aws,o'k"
    assert replace_variables("${system:doublequote}", one) == '"aws","o\'k"'
    # No format: the datasource's own formatter, 'a','b'.
    assert replace_variables("IN ($system)", one) == "IN ('aws','o'k')"
    assert replace_variables("IN ([[system]])", one) == "IN ('aws','o'k')"
    assert replace_variables("IN (${system:singlequote})", {"system": every}) == "IN ('aws','gcp')"
    assert replace_variables("${system:singlequote}", {"system": custom_all}) == ".*"
    # Not a variable: left for the backend's macros.
    assert replace_variables("$__timeFilter(t) $nope", one) == "$__timeFilter(t) $nope"


# -- Every panel and variable query on the simulated organisation --------------------

# Grafana's rounded intervals (rangeutil.roundInterval, simplified): the bucket a
# panel of about 500 points gets for the range.
INTERVALS = [
    timedelta(seconds=s)
    for s in (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
]
MAIN_PANELS = {
    ("accessdrift-latency", "Leaver lag p50 / p95 by system"),
    ("accessdrift-latency", "SLA compliance by day and system"),
    ("accessdrift-zombies", "Uses after deprovisioning and after revocation"),
    ("accessdrift-zombies", "Open overdue deprovisions"),
    ("accessdrift-zombies", "Open overdue deprovisions now"),
    ("accessdrift-entitlements", "Entitlement drift"),
    ("accessdrift-entitlements", "Entitlement drift findings"),
}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgDatabase]:
    database = build(tmp_path_factory.mktemp("grafana") / "clickhouse")
    yield database
    database.clickhouse.close()


@pytest.fixture(scope="module")
def org_range(org: OrgDatabase) -> QueryContext:
    row = org.clickhouse.query(
        "SELECT min(event_time), max(event_time) FROM cloud_audit FINAL"
    ).rows[0]
    start: datetime = row[0].replace(microsecond=0)
    # $__timeFilter compares with whole seconds: the last event's second must be in.
    end: datetime = row[1].replace(microsecond=0) + timedelta(seconds=1)
    raw = (end - start) / 500
    interval = next((step for step in INTERVALS if step >= raw), INTERVALS[-1])
    return QueryContext(start, end, interval)


@dataclass
class Ran:
    board: str
    title: str
    ref_id: str
    main: bool
    sql: str
    rows: int


def _variables(
    org: OrgDatabase, board: dict[str, Any], ctx: QueryContext, selection: dict[str, list[str]]
) -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for variable in board["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "query":
            result = org.clickhouse.query(render(variable["query"], ctx, {}))
            options = [str(row[0]) for row in result.rows]
        else:
            options = [part.strip() for part in variable["query"].split(",")]
        chosen = selection.get(name)
        found[name] = Variable(name, chosen if chosen is not None else ALL, options)
    return found


def _run_all(org: OrgDatabase, ctx: QueryContext, selection: dict[str, list[str]]) -> list[Ran]:
    ran: list[Ran] = []
    for uid, board in _boards().items():
        variables = _variables(org, board, ctx, selection)
        for panel in board["panels"]:
            main = (uid, panel["title"]) in MAIN_PANELS
            assert main == panel["description"].startswith(dashboards.MAIN), panel["title"]
            for target in panel["targets"]:
                sql = render(target["rawSql"], ctx, variables)
                assert "$" not in sql.replace("$__all", ""), sql
                try:
                    result = org.clickhouse.query(sql)
                except Exception as error:  # report which panel, with its SQL
                    pytest.fail(
                        f"{uid} / {panel['title']} / {target['refId']} failed: {error}\n{sql}"
                    )
                ran.append(Ran(uid, panel["title"], target["refId"], main, sql, len(result.rows)))
    return ran


def test_variable_queries_list_the_systems(org: OrgDatabase, org_range: QueryContext) -> None:
    for board in _boards().values():
        options = _variables(org, board, org_range, {})["system"].options
        assert {"aws", "gcp", "okta", "vault", "entra"} <= set(options)


@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"system": ["aws"]},
        {"system": ["aws", "gcp"], "identity_kind": ["human"]},
        {"identity_kind": ["nhi"]},
    ],
    ids=["all", "aws", "aws+gcp-human", "nhi"],
)
def test_every_panel_query_runs(
    org: OrgDatabase, org_range: QueryContext, selection: dict[str, list[str]]
) -> None:
    ran = _run_all(org, org_range, selection)
    assert len({(r.board, r.title) for r in ran}) == 40
    if "nhi" in selection.get("identity_kind", []):
        return  # the simulated organisation's lag pairs are all humans'
    empty_main = [(r.board, r.title, r.ref_id) for r in ran if r.main and r.rows == 0]
    assert not empty_main, f"main panels without rows: {empty_main}"
    if not selection:
        print("\n".join(f"{r.board} | {r.title} | {r.ref_id} | {r.rows} rows" for r in ran))


def test_one_system_narrows_the_panels(org: OrgDatabase, org_range: QueryContext) -> None:
    every = {(r.board, r.title, r.ref_id): r for r in _run_all(org, org_range, {})}
    aws = {(r.board, r.title, r.ref_id): r for r in _run_all(org, org_range, {"system": ["aws"]})}
    key = ("accessdrift-latency", "Slowest systems", "A")
    assert every[key].rows > aws[key].rows > 0
    assert "system IN ('aws')" in aws[key].sql
    assert "1=1" in every[key].sql


# -- Deployment wiring ---------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def test_compose_wires_grafana_to_the_read_only_user() -> None:
    services = _compose()["services"]
    grafana, clickhouse = services["grafana"], services["clickhouse"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/accessdrift.yaml").read_text()
    )["providers"][0]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert dashboards.OUT_DIR == REPO / "deploy/grafana/dashboards"

    env = grafana["environment"]
    # Grafana 12: plugins.preinstall_sync, "id@version"; a 4.x release pinned.
    assert re.fullmatch(
        r"grafana-clickhouse-datasource@4\.\d+\.\d+", env["GF_PLUGINS_PREINSTALL_SYNC"]
    )
    assert "GF_INSTALL_PLUGINS" not in env

    source = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/clickhouse.yaml").read_text()
    )["datasources"][0]
    assert source["uid"] == dashboards.DATASOURCE_UID
    assert source["type"] == dashboards.PLUGIN
    for key, value in {
        "host": "clickhouse",
        "port": 8123,
        "protocol": "http",
        "defaultDatabase": "accessdrift",
        "username": "grafana_reader",
    }.items():
        assert source["jsonData"][key] == value
    assert source["secureJsonData"]["password"] == "$CLICKHOUSE_GRAFANA_PASSWORD"
    assert "CLICKHOUSE_GRAFANA_PASSWORD" in env

    assert (
        _mounts(clickhouse)["/etc/clickhouse-server/users.d/grafana_reader.xml"]
        == "./deploy/clickhouse/users.d/grafana_reader.xml"
    )
    assert "CLICKHOUSE_GRAFANA_PASSWORD" in clickhouse["environment"]


def test_no_default_passwords() -> None:
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                # ${VAR:?message}: compose refuses to start without it.
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), (name, key, value)


def test_grafana_reader_is_read_only_on_accessdrift() -> None:
    root = ET.parse(REPO / "deploy/clickhouse/users.d/grafana_reader.xml").getroot()
    profile = root.find("profiles/grafana_reader")
    assert profile is not None and profile.findtext("readonly") == "1"
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None
    user = root.find("users/grafana_reader")
    assert user is not None
    password = user.find("password")
    assert password is not None and password.get("from_env") == "CLICKHOUSE_GRAFANA_PASSWORD"
    assert not (password.text or "").strip()
    assert user.findtext("profile") == "grafana_reader"
    assert [d.text for d in user.findall("allow_databases/database")] == ["accessdrift"]
    assert user.findtext("access_management") == "0"


def test_docs_exist() -> None:
    text = (REPO / "docs/grafana.md").read_text()
    assert "python -m deploy.grafana.dashboards" in text
    assert "CLICKHOUSE_GRAFANA_PASSWORD" in text
