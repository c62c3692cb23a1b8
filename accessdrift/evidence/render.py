"""The evidence of one identity for an auditor: JSON, Markdown, HTML.

Every value may come from a log and is hostile: HTML through Jinja2 with autoescape
on (a self-contained page: inline style, no script, nothing from elsewhere),
Markdown with every character that means something escaped and each value on one
line.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

STATUS_WORDS = {
    "closed": "deprovisioned",
    "preceded": "deprovisioned before the change",
    "overdue": "NOT deprovisioned, past its SLA",
    "open": "not deprovisioned yet, within its SLA",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


def duration(seconds: float | None) -> str:
    """``8040.5`` -> ``2 h 14 min``; negative: before."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    left = abs(seconds)
    if left < 60:
        return f"{sign}{left:.0f} s"
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3_600)
    minutes = left // 60
    parts = [f"{int(days)} d"] if days else []
    if hours or days:
        parts.append(f"{int(hours)} h")
    if not days:
        parts.append(f"{int(minutes)} min")
    return sign + " ".join(parts)


def sla_word(entry: dict[str, Any]) -> str:
    if entry["within_sla"] is True:
        return "within SLA"
    if entry["within_sla"] is False:
        return "late (past SLA)"
    return "overdue" if entry["status"] == "overdue" else "open"


def summary(evidence: dict[str, Any]) -> dict[str, int]:
    downstream = [d for change in evidence["changes"] for d in change["downstream"] or []]
    return {
        "changes": len(evidence["changes"]),
        "downstream": len(downstream),
        "within_sla": sum(1 for d in downstream if d["within_sla"] is True),
        "late": sum(1 for d in downstream if d["within_sla"] is False),
        "not_deprovisioned": sum(1 for d in downstream if d["status"] in ("open", "overdue")),
        "uses_after_deprovision": len(evidence["uses_after_deprovision"]),
        "alerts": len(evidence["alerts"]),
    }


def to_json(evidence: dict[str, Any]) -> str:
    return json.dumps(evidence, indent=2, sort_keys=False) + "\n"


# What can start markup inside a line: emphasis, code, links, HTML, table cells.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def md(value: Any) -> str:
    """One table-safe line: markdown's characters escaped, newlines and controls shown."""
    if value is None:
        return "-"
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(value))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def to_markdown(evidence: dict[str, Any]) -> str:
    counts = summary(evidence)
    lines = [
        f"# Access evidence: {md(evidence['identity_id'])}",
        "",
        f"- Identity kind: {md(evidence['identity_kind'])}",
        f"- Data as of (latest event): {md(evidence['as_of'])}",
        f"- Generated: {md(evidence['generated_at'])}",
        f"- Directory changes: {counts['changes']}; accounts and credentials they had to "
        f"reach: {counts['downstream']} ({counts['within_sla']} within SLA, {counts['late']} "
        f"late, {counts['not_deprovisioned']} not deprovisioned)",
        f"- Uses after deprovisioning: {counts['uses_after_deprovision']}; alerts: "
        f"{counts['alerts']}",
        "",
        "## Directory changes",
    ]
    for change in evidence["changes"]:
        lines += [
            "",
            f"### {md(change['change_type'])} at {md(change['source_time'])} "
            f"(source {md(change['source'])}, event {md(change['event_id'])})",
            "",
        ]
        if change["downstream"] is None:
            lines.append("No deprovisioning to reach (joiners and movers are measured as lag).")
            continue
        if not change["downstream"]:
            lines.append("No account or credential to reach (a repeat of an earlier change).")
            continue
        lines += [
            "| system | account | credential | status | deprovisioned at | lag | SLA |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {md(d['system'])} | {md(d['account_id'])} | {md(d['credential_id'])} | "
            f"{md(STATUS_WORDS.get(d['status'], d['status']))} | {md(d['downstream_time'])} | "
            f"{md(duration(d['lag_seconds']))} | {md(sla_word(d))} (due {md(d['due_at'])}) |"
            for d in change["downstream"]
        ]
    lines += ["", "## Uses after deprovisioning", ""]
    if evidence["uses_after_deprovision"]:
        lines += [
            "| time | account or key | system | action | source IP |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {md(u['used_at'])} | {md(u['subject'])} | {md(u['system'])} | "
            f"{md(u['action'])} | {md(u['source_ip'])} |"
            for u in evidence["uses_after_deprovision"]
        ]
    else:
        lines.append("None seen.")
    lines += ["", "## Alerts", ""]
    if evidence["alerts"]:
        lines += ["| alert | kind | severity | subject | first use |", "|---|---|---|---|---|"]
        lines += [
            f"| {md(a['alert_id'])} | {md(a['kind'])} | {md(a['severity'])} | "
            f"{md(a['credential_id'] or a['account_id'])} | {md(a['used_at'])} |"
            for a in evidence["alerts"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Controls evidenced", ""]
    lines += [
        f"- **{md(c['id'])}** ({md(c['title'])}): {md(c['evidenced_by'])}"
        for c in evidence["controls"]
    ]
    return "\n".join(lines) + "\n"


# Templates beside this module; autoescape for every template, whatever its name.
_ENVIRONMENT = Environment(
    loader=PackageLoader("accessdrift.evidence", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_ENVIRONMENT.filters["duration"] = duration
_ENVIRONMENT.filters["sla"] = sla_word
_ENVIRONMENT.globals["STATUS_WORDS"] = STATUS_WORDS

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1d2430; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccd; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eef1f6; } td.bad { background: #fde2e1; } td.late { background: #fff1d6; }
td.good { background: #e3f4e6; } code { word-break: break-all; }
.summary li { margin: .2em 0; } .muted { color: #667; }
"""

HTML = _ENVIRONMENT.get_template("evidence.html.jinja")


def to_html(evidence: dict[str, Any], evidence_url: Callable[[str], str] | None = None) -> str:
    """A self-contained page; ``evidence_url`` links other identities (an NHI's owner)."""
    return HTML.render(e=evidence, s=summary(evidence), link=evidence_url, style=STYLE, csp=CSP)
