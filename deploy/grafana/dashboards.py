"""The Grafana dashboards of accessdrift, built with grafana-foundation-sdk.

Regenerate the committed JSON after any change here (tests fail until you do):

    .venv/bin/python -m deploy.grafana.dashboards

It writes deploy/grafana/dashboards/provisioning-latency.json,
zombie-credentials.json, entitlement-drift.json and credential-hygiene.json, which
Grafana loads through the file provider of
deploy/grafana/provisioning/dashboards/accessdrift.yaml. Never edit the JSON by hand.

Queries are for grafana-clickhouse-datasource 4.x in SQL mode: the plugin's macros
($__timeFilter, $__timeInterval, $__dateFilter, $__conditionalAll) and Grafana's
variable formats (${system:singlequote}). Tables are always read with FINAL (or
through the analyst views, which do): sinks are idempotent only under FINAL.
tests/integration/test_grafana_dashboards.py expands every query the way the
plugin does and runs it on the embedded engine.
"""

import json
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, common, dashboard, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "accessdrift-clickhouse"
DATASOURCE = dashboard_models.DataSourceRef(type_val=PLUGIN, uid=DATASOURCE_UID)
LATENCY_UID = "accessdrift-latency"
ZOMBIES_UID = "accessdrift-zombies"
ENTITLEMENTS_UID = "accessdrift-entitlements"
HYGIENE_UID = "accessdrift-hygiene"
OUT_DIR = Path(__file__).parent / "dashboards"
FILES = {
    LATENCY_UID: OUT_DIR / "provisioning-latency.json",
    ZOMBIES_UID: OUT_DIR / "zombie-credentials.json",
    ENTITLEMENTS_UID: OUT_DIR / "entitlement-drift.json",
    HYGIENE_UID: OUT_DIR / "credential-hygiene.json",
}
# Default ACCESSDRIFT_DEPROVISION_SLA (CONTRACT.md "Settings"), drawn as a reference line.
DEFAULT_SLA_SECONDS = 24 * 3600.0
MAIN = "Main panel: "

# The plugin's format enum (src/data/utils.ts mapQueryTypeToGrafanaFormat, after
# sqlds): 0 time series, 1 table, 2 logs, 3 traces.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """The plugin's SQL-editor query model (src/types/sql.ts, CHSqlQuery): the SDK
    has no ClickHouse type."""

    def __init__(self) -> None:
        self.ref_id = "A"
        self.raw_sql = ""
        self.format_val = FORMAT_TABLE
        self.query_type = "table"
        self.hide: bool | None = None

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE,
            "editorType": "sql",
            "rawSql": self.raw_sql,
            "format": self.format_val,
            "queryType": self.query_type,
        }
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, raw_sql: str, ref_id: str = "A") -> None:
        self._internal = ClickHouseQuery()
        self._internal.raw_sql = raw_sql.strip()
        self._internal.ref_id = ref_id

    def build(self) -> ClickHouseQuery:
        return self._internal

    def time_series(self) -> typing.Self:
        self._internal.format_val = FORMAT_TIME_SERIES
        self._internal.query_type = "timeseries"
        return self

    def table(self) -> typing.Self:
        self._internal.format_val = FORMAT_TABLE
        self._internal.query_type = "table"
        return self


def sql(raw_sql: str, ref_id: str = "A") -> ClickHouseQueryBuilder:
    return ClickHouseQueryBuilder(raw_sql, ref_id).table()


def series_sql(raw_sql: str, ref_id: str = "A") -> ClickHouseQueryBuilder:
    return ClickHouseQueryBuilder(raw_sql, ref_id).time_series()


# -- Filters shared by the panels ----------------------------------------------------

# $__conditionalAll drops the clause when All is selected (the plugin turns it into
# 1=1), so that All also covers systems no variable query has seen yet; otherwise the
# values are quoted by Grafana's singlequote format.
SYSTEM = "$__conditionalAll(system IN (${system:singlequote}), $system)"
KIND = "$__conditionalAll(identity_kind IN (${identity_kind:singlequote}), $identity_kind)"
FILTERS = f"{SYSTEM}\n  AND {KIND}"

# Every system the detector has written a finding for.
SYSTEM_VARIABLE_SQL = """
SELECT system FROM (
    SELECT DISTINCT system FROM provisioning_lag FINAL
    UNION DISTINCT
    SELECT DISTINCT system FROM deprovision_pairs FINAL
    UNION DISTINCT
    SELECT DISTINCT assumeNotNull(system) AS system FROM alerts FINAL WHERE system IS NOT NULL
)
ORDER BY system
""".strip()


def variables() -> list[cogbuilder.Builder[dashboard_models.VariableModel]]:
    all_option = dashboard_models.VariableOption(selected=True, text=["All"], value=["$__all"])
    system = (
        dashboard.QueryVariable("system")
        .label("System")
        .description("Downstream system (aws, gcp, entra, okta, vault, ...)")
        .datasource(DATASOURCE)
        .query(SYSTEM_VARIABLE_SQL)
        .multi(True)
        .include_all(True)
        .current(all_option)
        .refresh(dashboard_models.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
    )
    kind = (
        dashboard.CustomVariable("identity_kind")
        .label("Identity kind")
        .description("human or nhi (non-human identity)")
        .values("human,nhi")
        .multi(True)
        .include_all(True)
        .current(all_option)
    )
    return [system, kind]


# -- Panel helpers -------------------------------------------------------------------


@dataclass
class Layout:
    """Stable panel ids, so that the generated JSON does not change between runs."""

    next_id: int = 1

    def take(self) -> int:
        taken = self.next_id
        self.next_id += 1
        return taken


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_models.Threshold(value=value, color=color) for value, color in steps])
    )


def stat_panel(
    layout: Layout, title: str, description: str, query: ClickHouseQueryBuilder, unit: str
) -> stat.Panel:
    return (
        stat.Panel()
        .id(layout.take())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query)
        .unit(unit)
        .height(5)
        .span(6)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(
    layout: Layout, title: str, description: str, query: ClickHouseQueryBuilder, span: int = 12
) -> table.Panel:
    return (
        table.Panel()
        .id(layout.take())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query)
        .height(9)
        .span(span)
    )


def series_panel(
    layout: Layout, title: str, description: str, *queries: ClickHouseQueryBuilder
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(layout.take())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .height(9)
        .span(12)
        .legend(
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["max", "mean"])
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


# -- Provisioning latency ------------------------------------------------------------


def lag_sql(change_type: str) -> str:
    return f"""
SELECT
    $__timeInterval(source_time) AS time,
    system,
    quantileExact(0.5)(lag_seconds) AS p50,
    quantileExact(0.95)(lag_seconds) AS p95
FROM provisioning_lag FINAL
WHERE status = 'closed'
  AND change_type = '{change_type}'
  AND $__timeFilter(source_time)
  AND {FILTERS}
GROUP BY time, system
ORDER BY time, system
"""


LEAVER_SLA_SQL = f"""
SELECT
    $__timeInterval(source_time) AS time,
    max(sla_seconds) AS sla_seconds
FROM deprovision_pairs FINAL
WHERE change_type = 'leaver'
  AND $__timeFilter(source_time)
  AND {FILTERS}
GROUP BY time
ORDER BY time
"""


def lag_panel(layout: Layout, change_type: str, main: bool) -> timeseries.Panel:
    queries = [series_sql(lag_sql(change_type))]
    description = (
        f"p50 and p95 of the provisioning lag (T1 - T0) of closed {change_type} pairs, by "
        "system, bucketed by the source-of-truth time. The dashed line is the default "
        "24h SLA."
    )
    if change_type == "leaver":
        queries.append(series_sql(LEAVER_SLA_SQL, "B"))
        description += " The SLA series is the SLA each leaver pair was judged against."
    panel = (
        series_panel(
            layout,
            f"{change_type.capitalize()} lag p50 / p95 by system",
            (MAIN if main else "") + description,
            *queries,
        )
        .unit("s")
        .min(0)
        # Series per system: "p95 aws" rather than a bare "p95".
        .display_name("${__field.name} ${__field.labels.system}")
        .thresholds(thresholds((None, "transparent"), (DEFAULT_SLA_SECONDS, "red")))
        .thresholds_style(
            common.GraphThresholdsStyleConfig().mode(common_models.GraphTresholdsStyleMode.DASHED)
        )
    )
    if change_type == "leaver":
        panel = panel.override_by_query(
            "B",
            [
                dashboard_models.DynamicConfigValue(id_val="displayName", value="SLA"),
                dashboard_models.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": "red"}
                ),
            ],
        )
    return panel


def latency_dashboard() -> dashboard.Dashboard:
    layout = Layout()
    compliance = stat_panel(
        layout,
        "SLA compliance (leavers)",
        "Share of leavers' accounts and credentials due in the range that were "
        "deprovisioned within their SLA (sla_compliance_daily).",
        sql(f"""
SELECT if(sum(due) = 0, NULL, sum(closed_within_sla) / sum(due)) AS compliance
FROM sla_compliance_daily
WHERE $__dateFilter(day)
  AND {FILTERS}
"""),
        "percentunit",
    ).thresholds(thresholds((None, "red"), (0.9, "orange"), (0.99, "green")))
    due = stat_panel(
        layout,
        "Leaver pairs due",
        "Leavers' accounts and credentials whose deprovisioning fell due in the range.",
        sql(f"""
SELECT sum(due) AS due
FROM sla_compliance_daily
WHERE $__dateFilter(day)
  AND {FILTERS}
"""),
        "short",
    )
    overdue = stat_panel(
        layout,
        "Pairs overdue now",
        "Pairs of every change type past their SLA and still not done, as of the "
        "detector's watermark (not limited to the time range).",
        sql(f"""
SELECT count() AS overdue
FROM provisioning_lag FINAL
WHERE status = 'overdue'
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    closed = stat_panel(
        layout,
        "Closed pairs",
        "Lag pairs closed (downstream change seen) whose directory change is in the range.",
        sql(f"""
SELECT count() AS closed
FROM provisioning_lag FINAL
WHERE status = 'closed'
  AND $__timeFilter(source_time)
  AND {FILTERS}
"""),
        "short",
    )
    leaver = lag_panel(layout, "leaver", main=True)
    daily = (
        series_panel(
            layout,
            "SLA compliance by day and system",
            MAIN + "Per day a leaver's pair fell due: the share closed within its SLA "
            "(sla_compliance_daily), one series per system.",
            series_sql(f"""
SELECT
    toDateTime(day) AS time,
    system,
    sum(closed_within_sla) / sum(due) AS compliance
FROM sla_compliance_daily
WHERE $__dateFilter(day)
  AND {FILTERS}
GROUP BY time, system
ORDER BY time, system
"""),
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .display_name("${__field.labels.system}")
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(60)
    )
    joiner = lag_panel(layout, "joiner", main=False)
    mover = lag_panel(layout, "mover", main=False)
    identities = table_panel(
        layout,
        "Slowest identities",
        "Identities by their worst lag in the range; an overdue pair counts with its lag "
        "so far (up to the detector's watermark).",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    arrayStringConcat(arraySort(groupUniqArray(toString(change_type))), ', ') AS change_types,
    arrayStringConcat(arraySort(groupUniqArray(toString(system))), ', ') AS systems,
    count() AS pairs,
    countIf(status = 'overdue') AS overdue,
    max(ifNull(lag_seconds,
        toFloat64(dateDiff('second', source_time, (SELECT watermark FROM event_watermark)))))
        AS worst_lag_seconds
FROM provisioning_lag FINAL
WHERE $__timeFilter(source_time)
  AND {FILTERS}
GROUP BY identity_id, identity_kind
ORDER BY worst_lag_seconds DESC, identity_id
LIMIT 20
"""),
    ).override_by_name("worst_lag_seconds", [dashboard_models.DynamicConfigValue("unit", "s")])
    systems = table_panel(
        layout,
        "Slowest systems",
        "Per system and change type: closed pairs, p50 / p95 / max lag, pairs overdue.",
        sql(f"""
SELECT
    system,
    change_type,
    countIf(status = 'closed') AS closed,
    countIf(status = 'overdue') AS overdue,
    quantileExactIf(0.5)(lag_seconds, status = 'closed') AS p50_seconds,
    quantileExactIf(0.95)(lag_seconds, status = 'closed') AS p95_seconds,
    maxIf(lag_seconds, status = 'closed') AS max_seconds
FROM provisioning_lag FINAL
WHERE $__timeFilter(source_time)
  AND {FILTERS}
GROUP BY system, change_type
ORDER BY p95_seconds DESC, system, change_type
"""),
    ).override_by_regexp(".*_seconds", [dashboard_models.DynamicConfigValue("unit", "s")])
    p95_bars = (
        bargauge.Panel()
        .id(layout.take())
        .title("p95 lag by system (range)")
        .description("p95 of the lag of every closed pair in the range, by system.")
        .datasource(DATASOURCE)
        .with_target(
            sql(f"""
SELECT system, quantileExact(0.95)(lag_seconds) AS p95
FROM provisioning_lag FINAL
WHERE status = 'closed'
  AND $__timeFilter(source_time)
  AND {FILTERS}
GROUP BY system
ORDER BY p95 DESC
""")
        )
        .unit("s")
        .height(9)
        .span(24)
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().values(True).calcs([]).fields("/^p95$/"))
        .thresholds(
            thresholds(
                (None, "green"), (DEFAULT_SLA_SECONDS / 2, "orange"), (DEFAULT_SLA_SECONDS, "red")
            )
        )
    )
    board = (
        dashboard.Dashboard("accessdrift: provisioning latency")
        .uid(LATENCY_UID)
        .description(
            "How long downstream systems take to follow the source of truth: lag p50 / p95 "
            "by system for joiners, movers and leavers, against the deprovisioning SLA."
        )
        .tags(["accessdrift"])
        .timezone("utc")
        .time("now-7d", "now")
        .refresh("1m")
        .editable()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
    )
    for panel in (
        compliance,
        due,
        overdue,
        closed,
        leaver,
        daily,
        joiner,
        mover,
        identities,
        systems,
        p95_bars,
    ):
        board = board.with_panel(panel)
    return board


# -- Zombie credentials --------------------------------------------------------------


def zombies_dashboard() -> dashboard.Dashboard:
    layout = Layout()
    uses = stat_panel(
        layout,
        "Uses after deprovisioning",
        "Successful uses in the range of accounts and keys whose identity was "
        "deprovisioned or whose key was revoked (uses_after_deprovision).",
        sql(f"""
SELECT count() AS uses
FROM uses_after_deprovision
WHERE $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    open_count = stat_panel(
        layout,
        "Open overdue deprovisions now",
        MAIN + "Leavers' accounts and credentials past their SLA and still not "
        "deprovisioned, as of the detector's watermark (not limited to the range).",
        sql(f"""
SELECT count() AS open_overdue
FROM open_overdue_deprovisions
WHERE {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    orphans = stat_panel(
        layout,
        "Orphaned NHIs (owner left in range)",
        "Non-human identities whose owner left and that got no new owner within the SLA "
        "(alerts of kind orphaned_nhi whose owner left in the range).",
        sql(f"""
SELECT count() AS orphaned
FROM alerts FINAL
WHERE kind = 'orphaned_nhi'
  AND $__timeFilter(deprovisioned_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "orange")))
    identities_count = stat_panel(
        layout,
        "Identities with zombie credentials",
        "Distinct identities with a use after deprovisioning or revocation in the range.",
        sql(f"""
SELECT uniqExact(identity_id) AS identities
FROM uses_after_deprovision
WHERE $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    )
    over_time = (
        series_panel(
            layout,
            "Uses after deprovisioning and after revocation",
            MAIN + "Successful uses per interval, split by what they came after: the "
            "identity's deprovisioning (used_after_deprovision) or the key's revocation "
            "(used_after_revocation).",
            series_sql(f"""
SELECT
    $__timeInterval(used_at) AS time,
    kind,
    count() AS uses
FROM uses_after_deprovision
WHERE $__timeFilter(used_at)
  AND {FILTERS}
GROUP BY time, kind
ORDER BY time, kind
"""),
        )
        .unit("short")
        .min(0)
        .display_name("${__field.labels.kind}")
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(70)
        .stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    )
    open_table = table_panel(
        layout,
        "Open overdue deprovisions",
        MAIN + "Each leaver's account or credential past its SLA and still active, most "
        "overdue first (open_overdue_deprovisions).",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    system,
    subject_kind,
    ifNull(credential_id, account_id) AS subject,
    left_at,
    due_at,
    seconds_overdue
FROM open_overdue_deprovisions
WHERE {FILTERS}
ORDER BY seconds_overdue DESC, identity_id, subject
LIMIT 200
"""),
    ).override_by_name("seconds_overdue", [dashboard_models.DynamicConfigValue("unit", "s")])
    top_identities = table_panel(
        layout,
        "Top identities",
        "Identities by uses after deprovisioning or revocation in the range.",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    count() AS uses,
    uniqExact(subject) AS credentials,
    arrayStringConcat(arraySort(groupUniqArray(toString(system))), ', ') AS systems,
    min(used_at) AS first_use,
    max(used_at) AS last_use,
    uniqExactIf(source_ip, source_ip IS NOT NULL) AS source_ips
FROM uses_after_deprovision
WHERE $__timeFilter(used_at)
  AND {FILTERS}
GROUP BY identity_id, identity_kind
ORDER BY uses DESC, identity_id
LIMIT 20
"""),
    )
    top_ips = table_panel(
        layout,
        "Top source IPs",
        "Source addresses of uses after deprovisioning or revocation in the range.",
        sql(f"""
SELECT
    source_ip,
    count() AS uses,
    uniqExact(identity_id) AS identities,
    arrayStringConcat(arraySort(groupUniqArray(identity_id)), ', ') AS identity_ids,
    min(used_at) AS first_use,
    max(used_at) AS last_use
FROM uses_after_deprovision
WHERE source_ip IS NOT NULL
  AND $__timeFilter(used_at)
  AND {FILTERS}
GROUP BY source_ip
ORDER BY uses DESC, source_ip
LIMIT 20
"""),
    )
    orphan_table = table_panel(
        layout,
        "Orphaned NHIs",
        "Non-human identities left without an owner past the SLA (alerts of kind "
        "orphaned_nhi), newest first.",
        sql(f"""
SELECT
    identity_id,
    system,
    JSONExtractString(evidence, 'owner_id') AS owner_id,
    deprovisioned_at AS owner_left_at,
    severity,
    alert_id
FROM alerts FINAL
WHERE kind = 'orphaned_nhi'
  AND $__timeFilter(deprovisioned_at)
  AND {FILTERS}
ORDER BY owner_left_at DESC, identity_id
LIMIT 100
"""),
        span=24,
    )
    board = (
        dashboard.Dashboard("accessdrift: zombie credentials")
        .uid(ZOMBIES_UID)
        .description(
            "Credentials still used after their identity was deprovisioned or the key "
            "revoked, leavers' access past its SLA, and NHIs without an owner."
        )
        .tags(["accessdrift"])
        .timezone("utc")
        .time("now-7d", "now")
        .refresh("1m")
        .editable()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
    )
    for panel in (
        uses,
        open_count,
        orphans,
        identities_count,
        over_time,
        open_table,
        top_identities,
        top_ips,
        orphan_table,
    ):
        board = board.with_panel(panel)
    return board


# -- Entitlement drift ---------------------------------------------------------------

# Whether a granted_after_deprovision alert's entitlement is privileged: the detector's
# verdict, in the alert's evidence (the patterns of ACCESSDRIFT_PRIVILEGED_ENTITLEMENTS
# or the grant's own; false for an account or a key). access_retained_after_move has
# its own column.
PRIVILEGED_GRANT = "JSONExtract(evidence, 'privileged', 'Bool')"

# Both kinds, one row per alert, in the columns the panels share. `at` is when it
# became a finding: the grant (or creation) after leaving, or the mover's deadline.
# The alerts are filtered in a subquery of their own: an alias of the outer SELECT
# (`system`, `account_id`) would otherwise shadow the column of the same name.
DRIFT_SQL = f"""
    SELECT
        kind,
        severity,
        identity_id,
        identity_kind,
        ifNull(system, '') AS system,
        ifNull(account_id, '') AS account_id,
        ifNull(entitlement, ifNull(credential_id, '')) AS entitlement,
        privileged,
        at,
        changed_at
    FROM (
        SELECT
            *,
            {PRIVILEGED_GRANT} AS privileged,
            assumeNotNull(used_at) AS at,
            deprovisioned_at AS changed_at
        FROM alerts FINAL
        WHERE kind = 'granted_after_deprovision' AND used_at IS NOT NULL
    )
    UNION ALL
    SELECT
        'mover_access_retained' AS kind,
        severity,
        identity_id,
        identity_kind,
        system,
        account_id,
        entitlement,
        privileged,
        due_at AS at,
        moved_at AS changed_at
    FROM access_retained_after_move
"""


def entitlements_dashboard() -> dashboard.Dashboard:
    layout = Layout()
    granted = stat_panel(
        layout,
        "Granted after deprovisioning",
        "Accounts, keys and entitlements created for or granted to a leaver's accounts "
        "after the leaver (and its grace), in the range (alerts of kind "
        "granted_after_deprovision, by the time of the grant).",
        sql(f"""
SELECT count() AS granted
FROM alerts FINAL
WHERE kind = 'granted_after_deprovision'
  AND $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    granted_privileged = stat_panel(
        layout,
        "Privileged grants after deprovisioning",
        "Of those, the privileged entitlements (ACCESSDRIFT_PRIVILEGED_ENTITLEMENTS).",
        sql(f"""
SELECT count() AS privileged_grants
FROM alerts FINAL
WHERE kind = 'granted_after_deprovision'
  AND $__timeFilter(used_at)
  AND {PRIVILEGED_GRANT}
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    # The counts are named apart from the view's columns: an alias of the SELECT would
    # shadow the column of the same name in WHERE.
    retained = stat_panel(
        layout,
        "Kept after a move, still held now",
        "Entitlements a mover held before the move and still holds past the mover SLA, "
        "that the new role does not list, as of the detector's watermark (not limited to "
        "the range; access_retained_after_move).",
        sql(f"""
SELECT count() AS held_now
FROM access_retained_after_move
WHERE still_held
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "orange")))
    retained_privileged = stat_panel(
        layout,
        "Privileged, kept after a move, now",
        "Of those, the privileged entitlements.",
        sql(f"""
SELECT count() AS privileged_held_now
FROM access_retained_after_move
WHERE still_held AND privileged
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    over_time = (
        series_panel(
            layout,
            "Entitlement drift",
            MAIN + "Entitlement drift alerts per interval and system, privileged "
            "entitlements apart: granted after deprovisioning (at the grant) and kept after "
            "a move (at the mover's deadline).",
            series_sql(f"""
SELECT
    $__timeInterval(at) AS time,
    concat(system, ' ', replaceAll(kind, '_', ' '), if(privileged, ', privileged', ''))
        AS finding,
    count() AS alerts
FROM ({DRIFT_SQL})
WHERE $__timeFilter(at)
  AND {FILTERS}
GROUP BY time, finding
ORDER BY time, finding
"""),
        )
        .unit("short")
        .min(0)
        .display_name("${__field.labels.finding}")
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(70)
        .stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    )
    findings = table_panel(
        layout,
        "Entitlement drift findings",
        MAIN + "The latest alerts of both kinds in the range: what was granted to a "
        "leaver's account after the leaver, and what a mover kept past the mover SLA.",
        sql(f"""
SELECT
    at,
    kind,
    severity,
    identity_id,
    identity_kind,
    system,
    account_id,
    entitlement,
    privileged,
    changed_at AS left_or_moved_at
FROM ({DRIFT_SQL})
WHERE $__timeFilter(at)
  AND {FILTERS}
ORDER BY at DESC, identity_id, account_id, entitlement
LIMIT 200
"""),
        span=24,
    )
    leavers = table_panel(
        layout,
        "Leavers' entitlements",
        "Every entitlement a leaver's accounts held at the leaver or were granted after it, "
        "leavers in the range (entitlements_of_leavers): still held first.",
        sql(f"""
SELECT
    identity_id,
    left_at,
    system,
    account_id,
    entitlement,
    privileged,
    held_at_leave,
    granted_after_leave,
    still_held,
    removed_after_seconds
FROM entitlements_of_leavers
WHERE $__timeFilter(left_at)
  AND {FILTERS}
ORDER BY still_held DESC, privileged DESC, left_at DESC, identity_id, account_id, entitlement
LIMIT 200
"""),
    ).override_by_name("removed_after_seconds", [dashboard_models.DynamicConfigValue("unit", "s")])
    movers = table_panel(
        layout,
        "Access kept after a move",
        "Each entitlement held before a move and still held past the mover SLA, moves in "
        "the range (access_retained_after_move): still held first.",
        sql(f"""
SELECT
    identity_id,
    moved_at,
    due_at,
    system,
    account_id,
    entitlement,
    privileged,
    granted_at,
    revoked_at,
    still_held,
    severity
FROM access_retained_after_move
WHERE $__timeFilter(moved_at)
  AND {FILTERS}
ORDER BY still_held DESC, privileged DESC, moved_at DESC, identity_id, account_id, entitlement
LIMIT 200
"""),
    )
    board = (
        dashboard.Dashboard("accessdrift: entitlement drift")
        .uid(ENTITLEMENTS_UID)
        .description(
            "Access that drifted from the directory: entitlements, accounts and keys granted "
            "to leavers after they left, and entitlements movers kept past the mover SLA."
        )
        .tags(["accessdrift"])
        .timezone("utc")
        .time("now-7d", "now")
        .refresh("1m")
        .editable()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
    )
    for panel in (
        granted,
        granted_privileged,
        retained,
        retained_privileged,
        over_time,
        findings,
        leavers,
        movers,
    ):
        board = board.with_panel(panel)
    return board


# -- Credential hygiene --------------------------------------------------------------

# The six kinds of docs/hygiene.md, one row per alert in the columns the panels share.
# `at` is when it became a finding: a stale one at its deadline (the detector's
# evidence), the others at the use, claim or assumption that raised them.
HYGIENE_SQL = """
    SELECT
        kind,
        severity,
        identity_id,
        identity_kind,
        ifNull(system, '') AS system,
        coalesce(used_at,
                 parseDateTime64BestEffortOrNull(JSONExtractString(evidence, 'stale_at'), 6, 'UTC'),
                 deprovisioned_at) AS at
    FROM alerts FINAL
    WHERE kind IN ('stale_credential', 'stale_account', 'rotation_overdue',
                   'shared_credential', 'uncorrelated_account_active', 'trust_path_of_leaver')
"""
# Five counters in a row of 24 columns.
HYGIENE_STAT_SPANS = (5, 5, 5, 5, 4)


def hygiene_dashboard() -> dashboard.Dashboard:
    layout = Layout()
    stale = stat_panel(
        layout,
        "Unused credentials and accounts, open now",
        "Active credentials and accounts of active identities unused for "
        "ACCESSDRIFT_STALE_AFTER and not used, revoked, disabled or deleted since, as of the "
        "latest event time (not limited to the range; stale_credentials).",
        sql(f"""
SELECT count() AS open_stale
FROM stale_credentials
WHERE open
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "orange")))
    rotation = stat_panel(
        layout,
        "Overdue keys used",
        "NHI credentials used more than ACCESSDRIFT_MAX_CREDENTIAL_AGE after their "
        "creation, by the time of that use (alerts of kind rotation_overdue).",
        sql(f"""
SELECT count() AS overdue
FROM alerts FINAL
WHERE kind = 'rotation_overdue'
  AND $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "orange")))
    shared = stat_panel(
        layout,
        "Credentials shared",
        "Credentials and accounts used by, or claimed by, two parties within "
        "ACCESSDRIFT_SHARING_WINDOW, by the time the second came (shared_credentials).",
        sql(f"""
SELECT count() AS shared
FROM shared_credentials
WHERE $__timeFilter(second_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    uncorrelated = stat_panel(
        layout,
        "Unowned accounts used",
        "Accounts no identity claims, used ACCESSDRIFT_UNCORRELATED_AFTER after they were "
        "first seen (or at once when privileged), by the time of that use "
        "(uncorrelated_accounts_in_use).",
        sql(f"""
SELECT count() AS uncorrelated
FROM uncorrelated_accounts_in_use
WHERE $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "orange")))
    outlived = stat_panel(
        layout,
        "Roles assumed after their owner left",
        "Roles a leaver created, or held by a workload whose only owner left, assumed by "
        "anyone after that leaver's T0 + SLA, by the time of the first such assumption "
        "(alerts of kind trust_path_of_leaver).",
        sql(f"""
SELECT count() AS outlived
FROM alerts FINAL
WHERE kind = 'trust_path_of_leaver'
  AND $__timeFilter(used_at)
  AND {FILTERS}
"""),
        "short",
    ).thresholds(thresholds((None, "green"), (1, "red")))
    counters = [
        panel.span(span)
        for panel, span in zip(
            (stale, rotation, shared, uncorrelated, outlived), HYGIENE_STAT_SPANS, strict=True
        )
    ]
    over_time = (
        series_panel(
            layout,
            "Credential hygiene findings",
            "Hygiene alerts per interval, system and kind: a stale credential or account at "
            "the moment it became stale, the others at the use, claim or assumption that "
            "raised them.",
            series_sql(f"""
SELECT
    $__timeInterval(at) AS time,
    concat(system, ' ', replaceAll(kind, '_', ' ')) AS finding,
    count() AS alerts
FROM ({HYGIENE_SQL})
WHERE $__timeFilter(at)
  AND {FILTERS}
GROUP BY time, finding
ORDER BY time, finding
"""),
        )
        .unit("short")
        .min(0)
        .display_name("${__field.labels.finding}")
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(70)
        .stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    )
    by_age = table_panel(
        layout,
        "Open findings by system and age",
        "Per system and age (from the kind's reference time to the latest event time: "
        "unused since, created, first shared, first seen, owner left): open findings of "
        "each kind, and the stale ones resolved since (credential_hygiene; not limited to "
        "the range).",
        sql(f"""
SELECT
    system,
    age_bucket AS age,
    sumIf(open, kind IN ('stale_credential', 'stale_account')) AS unused,
    sumIf(open, kind = 'rotation_overdue') AS rotation_overdue,
    sumIf(open, kind = 'shared_credential') AS shared,
    sumIf(open, kind = 'uncorrelated_account_active') AS uncorrelated_in_use,
    sumIf(open, kind = 'trust_path_of_leaver') AS outlived_owner,
    sumIf(resolved, kind IN ('stale_credential', 'stale_account')) AS unused_resolved
FROM credential_hygiene
WHERE {FILTERS}
GROUP BY system, age_bucket, age_from_days
ORDER BY system, age_from_days
"""),
    )
    stale_table = table_panel(
        layout,
        "Unused credentials and accounts",
        "Every stale credential and account still open, and those resolved in the range "
        "(stale_credentials): the longest unused first.",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    system,
    subject_kind,
    subject,
    since,
    days_stale,
    open,
    resolved_at,
    severity
FROM stale_credentials
WHERE (open OR $__timeFilter(resolved_at))
  AND {FILTERS}
ORDER BY open DESC, days_stale DESC, identity_id, subject
LIMIT 200
"""),
    )
    rotation_table = table_panel(
        layout,
        "Keys used past their rotation age",
        "Each NHI credential used past ACCESSDRIFT_MAX_CREDENTIAL_AGE in the range: when it "
        "was created, first used past the age, how old it was then; high when its account "
        "held a privileged entitlement.",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    system,
    account_id,
    credential_id,
    deprovisioned_at AS created_at,
    used_at,
    seconds_after AS age_at_use_seconds,
    severity
FROM alerts FINAL
WHERE kind = 'rotation_overdue'
  AND $__timeFilter(used_at)
  AND {FILTERS}
ORDER BY age_at_use_seconds DESC, identity_id, credential_id
LIMIT 200
"""),
    ).override_by_name("age_at_use_seconds", [dashboard_models.DynamicConfigValue("unit", "s")])
    shared_table = table_panel(
        layout,
        "Shared credentials",
        "Each credential or account two parties used (or two identities claimed) within "
        "the sharing window, in the range: who and when (shared_credentials).",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    system,
    subject,
    how,
    first_party,
    first_at,
    second_party,
    second_at,
    seconds_apart,
    severity
FROM shared_credentials
WHERE $__timeFilter(second_at)
  AND {FILTERS}
ORDER BY second_at DESC, identity_id, subject
LIMIT 200
"""),
    ).override_by_name("seconds_apart", [dashboard_models.DynamicConfigValue("unit", "s")])
    uncorrelated_table = table_panel(
        layout,
        "Uncorrelated accounts in use",
        "Each account no identity claimed, used in the range: first seen, used, the "
        "privileged entitlement it held if any, and who claims it now "
        "(uncorrelated_accounts_in_use).",
        sql(f"""
SELECT
    account_id,
    identity_kind,
    system,
    first_seen,
    used_at,
    seconds_after_first_seen,
    privileged_entitlement,
    still_unclaimed,
    claimed_by,
    severity
FROM uncorrelated_accounts_in_use
WHERE $__timeFilter(used_at)
  AND {FILTERS}
ORDER BY still_unclaimed DESC, privileged DESC, used_at DESC, account_id
LIMIT 200
"""),
    ).override_by_name(
        "seconds_after_first_seen", [dashboard_models.DynamicConfigValue("unit", "s")]
    )
    outlived_table = table_panel(
        layout,
        "Roles that outlived their owners",
        "Each role assumed in the range after its creator, or its workload's only owner, "
        "left and the SLA ran out: the path, the leaver, when they left, who assumed the "
        "role and with which credential, and who created it (trust_path_of_leaver).",
        sql(f"""
SELECT
    identity_id,
    identity_kind,
    system,
    account_id AS role,
    JSONExtractString(evidence, 'path') AS path,
    JSONExtractString(evidence, 'leaver') AS leaver,
    deprovisioned_at AS left_at,
    used_at AS assumed_at,
    seconds_after,
    JSONExtractString(evidence, 'assumed', 'by_account') AS assumed_by,
    JSONExtractString(evidence, 'assumed', 'with_credential') AS with_credential,
    JSONExtractString(evidence, 'assumed', 'source_ip') AS assumed_from,
    JSONExtractString(evidence, 'created', 'by_account') AS created_by,
    severity
FROM alerts FINAL
WHERE kind = 'trust_path_of_leaver'
  AND $__timeFilter(used_at)
  AND {FILTERS}
ORDER BY assumed_at DESC, role
LIMIT 200
"""),
        span=24,
    ).override_by_name("seconds_after", [dashboard_models.DynamicConfigValue("unit", "s")])
    board = (
        dashboard.Dashboard("accessdrift: credential hygiene")
        .uid(HYGIENE_UID)
        .description(
            "Credentials and accounts that should not be as they are: unused but active, "
            "keys used past their rotation age, credentials shared between parties, "
            "accounts no identity owns still in use, and roles assumed after their creator "
            "or their workload's owner left."
        )
        .tags(["accessdrift"])
        .timezone("utc")
        .time("now-30d", "now")
        .refresh("1m")
        .editable()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
    )
    for panel in (
        *counters,
        over_time,
        by_age,
        stale_table,
        rotation_table,
        shared_table,
        uncorrelated_table,
        outlived_table,
    ):
        board = board.with_panel(panel)
    return board


# -- Output --------------------------------------------------------------------------


def build_all() -> dict[str, dashboard_models.Dashboard]:
    return {
        LATENCY_UID: latency_dashboard().build(),
        ZOMBIES_UID: zombies_dashboard().build(),
        ENTITLEMENTS_UID: entitlements_dashboard().build(),
        HYGIENE_UID: hygiene_dashboard().build(),
    }


def render(board: dashboard_models.Dashboard) -> str:
    """The JSON as committed: sorted keys, so that a diff shows only real changes."""
    return json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[Path, str]:
    return {FILES[uid]: render(board) for uid, board in build_all().items()}


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
