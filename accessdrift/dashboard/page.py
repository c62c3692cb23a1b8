"""The dashboard as one self-contained HTML page: inline style, inline SVG, no script.

It refreshes itself with ``<meta http-equiv="refresh" content="30">``: the browser
reloads the page, the worker queries again. No JavaScript, so the page's CSP can
forbid every script. Nothing on it is fetched from anywhere, not even from the
worker: it renders with no network at all.
"""

import html
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from accessdrift.dashboard.data import CHART_WINDOW, DashboardData, Finding, duration
from accessdrift.dashboard.svg import (
    Line,
    LineSeries,
    bar_chart,
    duration_ticks,
    line_chart,
    plain,
)

REFRESH_SECONDS = 30

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1600px;
       padding: 0 1em; color: #1b1f24; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta { color: #57606a; font-size: .9em; margin: 0 0 1em; }
.counters { display: flex; flex-wrap: wrap; gap: .8em; }
.counter { border: 1px solid #d0d7de; border-radius: 6px; padding: .6em 1em; min-width: 12em; }
.counter .value { display: block; font-size: 2em; font-weight: 600; }
.counter .label { color: #57606a; font-size: .9em; }
.counter.alarm .value { color: #b3261e; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr));
          gap: 0 2em; }
svg.chart { max-width: 100%; height: auto; font-size: 11px; }
svg .axis { stroke: #57606a; } svg .grid { stroke: #eaeef2; }
svg .tick, svg .axis-label { fill: #57606a; } svg .no-data { fill: #8c959f; font-size: 16px; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border-bottom: 1px solid #eaeef2; padding: .3em .6em; text-align: left; }
th { background: #f6f8fa; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.severity-critical { color: #b3261e; font-weight: 600; } .severity-high { color: #c2410c; }
.empty-note { color: #8c959f; }
"""


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
    sections = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        # No icon to fetch: the browser would ask the worker for /favicon.ico.
        '<link rel="icon" href="data:,">',
        "<title>accessdrift dashboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>accessdrift</h1>",
        f'<p class="meta">Latest event time ingested: {_e(watermark)} &middot; rendered '
        f"{_e(rendered_at.strftime('%Y-%m-%d %H:%M:%S UTC'))} &middot; refreshes every "
        f"{REFRESH_SECONDS} s &middot; buckets: one {_e(data.bucket)} &middot; charts: at most "
        f"the {CHART_WINDOW.days} days up to the latest event time</p>",
        _counters(data),
        '<div class="charts">',
        _box("Provisioning latency per system (closed pairs, p50 and p95)", _latency(data)),
        _box("Leavers' deprovisioning within SLA, per system", _compliance(data)),
        _box("Lag by change type (p50 and p95)", _by_change_type(data)),
        _box("Uses after deprovisioning and after revocation", _uses(data)),
        "</div>",
        _findings(data, evidence_url),
        "</body></html>",
    ]
    return "\n".join(sections)


def _counters(data: DashboardData) -> str:
    counts = data.counts
    items = [
        ("open-overdue", counts.open_overdue, "open overdue deprovisions"),
        ("credentials-used", counts.credentials_used, "credentials used after deprovisioning"),
        ("orphaned-nhis", counts.orphaned_nhis, "orphaned NHIs"),
        ("uncorrelated-accounts", counts.uncorrelated_accounts, "uncorrelated accounts"),
    ]
    cards = "".join(
        f'<div class="counter{" alarm" if value else ""}" id="counter-{name}">'
        f'<span class="value">{plain(value)}</span><span class="label">{_e(label)}</span></div>'
        for name, value, label in items
    )
    return f'<div class="counters">{cards}</div>'


def _box(title: str, body: str) -> str:
    return f'<section class="chart-box"><h2>{_e(title)}</h2>{body}</section>'


def _latency(data: DashboardData) -> str:
    return line_chart(
        "Provisioning latency",
        "latency-chart",
        [LineSeries(item.name, [(p.at, p.value) for p in item.points]) for item in data.latency],
        lines=[Line(item.label, item.value) for item in data.sla],
        format_value=duration,
        tick_values=duration_ticks,
        y_label="lag",
    )


def _compliance(data: DashboardData) -> str:
    rows = [item for item in data.compliance if item.due]
    chart = bar_chart(
        "Share of leavers' pairs closed within SLA",
        "sla-chart",
        [item.system for item in rows],
        [("within SLA", [100 * item.share if item.share is not None else None for item in rows])],
        format_value=lambda value: f"{value:.0f}%",
        y_label="within SLA",
        top=100,
    )
    if not rows:
        return chart
    body = "".join(
        f"<tr><td>{_e(item.system)}</td><td class='number'>{plain(item.due)}</td>"
        f"<td class='number'>{plain(item.within_sla)}</td><td class='number'>"
        f"{plain(item.late)}</td><td class='number'>{plain(item.still_open)}</td>"
        f"<td class='number'>{_e(_share(item.share))}</td></tr>"
        for item in rows
    )
    return (
        f"{chart}<table id='sla-table'><thead><tr><th>system</th><th>due</th>"
        "<th>within SLA</th><th>closed late</th><th>still open</th><th>share</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _by_change_type(data: DashboardData) -> str:
    items = data.by_change_type
    chart = bar_chart(
        "Lag by change type",
        "change-type-chart",
        [item.change_type for item in items],
        [("p50", [item.p50 for item in items]), ("p95", [item.p95 for item in items])],
        format_value=duration,
        tick_values=duration_ticks,
        y_label="lag",
    )
    if not items:
        return chart
    body = "".join(
        f"<tr><td>{_e(item.change_type)}</td><td class='number'>{plain(item.pairs)}</td>"
        f"<td class='number'>{_e(_lag(item.p50))}</td>"
        f"<td class='number'>{_e(_lag(item.p95))}</td></tr>"
        for item in items
    )
    return (
        f"{chart}<table id='change-type-table'><thead><tr><th>change</th><th>pairs</th>"
        f"<th>p50</th><th>p95</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _uses(data: DashboardData) -> str:
    return line_chart(
        "Uses after deprovisioning",
        "uses-chart",
        [LineSeries(item.name, [(p.at, p.value) for p in item.points]) for item in data.uses],
        y_label=f"uses per {data.bucket}",
    )


def _findings(data: DashboardData, evidence_url: Callable[[str], str]) -> str:
    heading = "<h2>Open findings, worst first</h2>"
    if not data.findings:
        return f'{heading}<p class="empty-note" id="findings-empty">no data: no open finding</p>'
    shown = len(data.findings)
    note = (
        f'<p class="meta">{plain(shown)} of {plain(data.findings_total)} shown.</p>'
        if data.findings_total > shown
        else ""
    )
    rows = "".join(_finding_row(item, evidence_url) for item in data.findings)
    return (
        f"{heading}{note}<table id='findings'><thead><tr><th>severity</th><th>finding</th>"
        "<th>identity</th><th>kind</th><th>system</th><th>account or credential</th>"
        f"<th>since</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _finding_row(item: Finding, evidence_url: Callable[[str], str]) -> str:
    target = evidence_url(item.identity_id)
    # Only a path on this worker becomes a link: never a scheme (javascript:) or a host.
    if target.startswith("/") and not target.startswith("//"):
        identity = f'<a class="identity" href="{_e(target)}">{_e(item.identity_id)}</a>'
    else:
        identity = _e(item.identity_id)
    since = item.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if item.since else ""
    return (
        f'<tr class="finding" data-kind="{_e(item.kind)}">'
        f'<td class="severity-{_e(item.severity)}">{_e(item.severity)}</td>'
        f"<td>{_e(item.kind.replace('_', ' '))}</td><td>{identity}</td>"
        f"<td>{_e(item.identity_kind)}</td><td>{_e(item.system)}</td>"
        f"<td><code>{_e(item.subject)}</code></td><td>{_e(since)}</td>"
        f"<td>{_e(item.detail)}</td></tr>"
    )


def _share(share: float | None) -> str:
    return f"{100 * share:.1f}%" if share is not None else "-"


def _lag(seconds: float | None) -> str:
    return duration(seconds) if seconds is not None else "-"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_error(status: int, title: str, message: str) -> str:
    """A page for a 404 or a 502: the same style, the message escaped."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{_e(title)}</title><link rel="icon" href="data:,">'
        f"<style>{STYLE}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">HTTP {int(status)}</p>'
        f'<p id="error-message">{_e(message)}</p>'
        '<p><a href="/dashboard/">Back to the dashboard</a></p></body></html>'
    )
