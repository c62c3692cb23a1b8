"""The dashboard as one self-contained HTML page: inline style, inline SVG, no script.

It refreshes itself with ``<meta http-equiv="refresh" content="30">``: the browser
reloads the page, the worker queries again. No JavaScript, so the page's CSP can
forbid every script. Nothing on it is fetched from anywhere, not even from the
worker: it renders with no network at all.

The page and the error page are Jinja2 templates (``templates/``) with autoescape
on, as the evidence's are: every value from the data is text, whatever it holds.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from accessdrift.dashboard.data import (
    CHART_WINDOW,
    Compliance,
    DashboardData,
    DriftFinding,
    Finding,
    HygieneCounts,
    HygieneFinding,
    duration,
)
from accessdrift.dashboard.svg import (
    Line,
    LineSeries,
    bar_chart,
    duration_ticks,
    line_chart,
    plain,
)

REFRESH_SECONDS = 30


@dataclass(frozen=True)
class CounterCard:
    name: str
    value: int
    label: str


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    link: str | None  # a path on this worker, or no link at all
    since: str


@dataclass(frozen=True)
class DriftRow:
    finding: DriftFinding
    link: str | None  # as FindingRow's
    at: str


@dataclass(frozen=True)
class HygieneRow:
    finding: HygieneFinding
    link: str | None  # as FindingRow's
    since: str
    age: str


def _share(share: float | None) -> str:
    return f"{100 * share:.1f}%" if share is not None else "-"


def _lag(seconds: float | None) -> str:
    return duration(seconds) if seconds is not None else "-"


# Templates beside this module; autoescape for every template, whatever its name (the
# evidence's set-up, accessdrift/evidence/render.py); a name the page does not pass
# is an error, not an empty string.
ENVIRONMENT = Environment(
    loader=PackageLoader("accessdrift.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)
ENVIRONMENT.filters["plain"] = plain
ENVIRONMENT.filters["share"] = _share
ENVIRONMENT.filters["lag"] = _lag
DASHBOARD = ENVIRONMENT.get_template("dashboard.html.jinja")
ERROR = ENVIRONMENT.get_template("error.html.jinja")


def evidence_path(identity_id: str) -> str:
    """The worker's evidence page of one identity: the id quoted whole (``/`` too)."""
    return "/evidence/" + quote(identity_id, safe="")


def render_dashboard(
    data: DashboardData,
    evidence_url: Callable[[str], str] = evidence_path,
    *,
    now: datetime | None = None,
) -> str:
    rendered_at = (now or datetime.now(UTC)).astimezone(UTC)
    watermark = (
        data.watermark.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if data.watermark is not None
        else "no events yet"
    )
    counts = data.counts
    counters = [
        CounterCard("open-overdue", counts.open_overdue, "open overdue deprovisions"),
        CounterCard(
            "credentials-used", counts.credentials_used, "credentials used after deprovisioning"
        ),
        CounterCard("orphaned-nhis", counts.orphaned_nhis, "orphaned NHIs"),
        CounterCard("uncorrelated-accounts", counts.uncorrelated_accounts, "uncorrelated accounts"),
    ]
    sla_rows = [item for item in data.compliance if item.due]
    # The charts are Markup: svg.py builds each with Markup.format, which escapes every
    # name, label and title it is given, so the template may take them as they are.
    charts: dict[str, Markup] = {
        "latency": _latency(data),
        "sla": _compliance(sla_rows),
        "change_type": _by_change_type(data),
        "uses": _uses(data),
        "drift": _drift(data),
        "hygiene_system": _hygiene(
            "Open credential hygiene findings per system",
            "hygiene-system-chart",
            data.hygiene_by_system,
        ),
        "hygiene_age": _hygiene(
            "Open credential hygiene findings by age", "hygiene-age-chart", data.hygiene_by_age
        ),
    }
    return DASHBOARD.render(
        data=data,
        watermark=watermark,
        rendered_at=rendered_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        refresh_seconds=REFRESH_SECONDS,
        chart_window_days=CHART_WINDOW.days,
        counters=counters,
        charts=charts,
        sla_rows=sla_rows,
        findings=[_finding_row(item, evidence_url) for item in data.findings],
        drift_rows=[_drift_row(item, evidence_url) for item in data.drift_findings],
        hygiene_rows=[_hygiene_row(item, evidence_url) for item in data.hygiene_findings],
    )


def _latency(data: DashboardData) -> Markup:
    return line_chart(
        "Provisioning latency",
        "latency-chart",
        [LineSeries(item.name, [(p.at, p.value) for p in item.points]) for item in data.latency],
        lines=[Line(item.label, item.value) for item in data.sla],
        format_value=duration,
        tick_values=duration_ticks,
        y_label="lag",
    )


def _compliance(rows: list[Compliance]) -> Markup:
    return bar_chart(
        "Share of leavers' pairs closed within SLA",
        "sla-chart",
        [item.system for item in rows],
        [("within SLA", [100 * item.share if item.share is not None else None for item in rows])],
        format_value=lambda value: f"{value:.0f}%",
        y_label="within SLA",
        top=100,
    )


def _by_change_type(data: DashboardData) -> Markup:
    items = data.by_change_type
    return bar_chart(
        "Lag by change type",
        "change-type-chart",
        [item.change_type for item in items],
        [("p50", [item.p50 for item in items]), ("p95", [item.p95 for item in items])],
        format_value=duration,
        tick_values=duration_ticks,
        y_label="lag",
    )


def _uses(data: DashboardData) -> Markup:
    return line_chart(
        "Uses after deprovisioning",
        "uses-chart",
        [LineSeries(item.name, [(p.at, p.value) for p in item.points]) for item in data.uses],
        y_label=f"uses per {data.bucket}",
    )


def _drift(data: DashboardData) -> Markup:
    items = data.drift_by_system
    return bar_chart(
        "Entitlement drift alerts per system: granted after deprovisioning, kept after a move",
        "drift-chart",
        [item.system for item in items],
        # Short names: a legend's column is 170 px (the table under it says them in full).
        [
            ("granted, privileged", [item.granted_privileged for item in items]),
            ("granted, other", [item.granted_other for item in items]),
            ("kept, privileged", [item.retained_privileged for item in items]),
            ("kept, other", [item.retained_other for item in items]),
        ],
        y_label="alerts",
    )


def _hygiene(title: str, chart_id: str, items: tuple[HygieneCounts, ...]) -> Markup:
    return bar_chart(
        title,
        chart_id,
        [item.name for item in items],
        [
            ("unused", [item.stale for item in items]),
            ("rotation overdue", [item.rotation for item in items]),
            ("shared", [item.shared for item in items]),
            ("uncorrelated", [item.uncorrelated for item in items]),
            ("outlived owner", [item.trust for item in items]),
        ],
        y_label="findings",
    )


def _local_link(identity_id: str, evidence_url: Callable[[str], str]) -> str | None:
    target = evidence_url(identity_id)
    # Only a path on this worker becomes a link: never a scheme (javascript:) or a host.
    local = target.startswith("/") and not target.startswith("//")
    return target if local else None


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _finding_row(item: Finding, evidence_url: Callable[[str], str]) -> FindingRow:
    return FindingRow(item, _local_link(item.identity_id, evidence_url), _when(item.since))


def _drift_row(item: DriftFinding, evidence_url: Callable[[str], str]) -> DriftRow:
    return DriftRow(item, _local_link(item.identity_id, evidence_url), _when(item.at))


def _hygiene_row(item: HygieneFinding, evidence_url: Callable[[str], str]) -> HygieneRow:
    return HygieneRow(
        item,
        _local_link(item.identity_id, evidence_url),
        _when(item.since),
        duration(item.age_seconds),
    )


def render_error(status: int, title: str, message: str) -> str:
    """A page for a 404 or a 502: the same style, the message escaped."""
    return ERROR.render(status=int(status), title=title, message=message)
