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
        "not_matched_at_sla": sum(
            len(change.get("not_matched_at_sla") or []) for change in evidence["changes"]
        ),
    }


HELD_LISTS = {"accounts": "account", "credentials": "credential", "entitlements": "entitlement"}


def _subject(what: str, item: dict[str, Any]) -> Any:
    return {"account": item.get("account_id"), "credential": item.get("credential_id")}.get(
        what, item.get("entitlement", item.get("subject"))
    )


def _key(system: Any, what: Any, subject: Any, account: Any) -> tuple[Any, ...]:
    # An account is its own subject: its account_id says nothing more.
    return (system, what, subject, None if what == "account" else account)


def held_rows(
    systems: list[dict[str, Any]], not_matched: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One row per thing held (a system that held nothing: one row saying so), each
    marked when it should have gone by then (``not_matched``)."""
    gone = {
        _key(n["system"], n["subject_type"], n["subject"], n["account_id"])
        for n in not_matched or []
    }
    rows: list[dict[str, Any]] = []
    for entry in systems:
        before = len(rows)
        for name, what in HELD_LISTS.items():
            for item in entry.get(name) or []:
                subject = _subject(what, item)
                account = item.get("account_id")
                rows.append(
                    {
                        "system": entry["system"],
                        "at": entry.get("at"),
                        "reached": entry.get("reached"),
                        "what": what,
                        "subject": subject,
                        "account_id": account if what != "account" else None,
                        "privileged": item.get("privileged"),
                        "valid_from": item.get("valid_from"),
                        "valid_to": item.get("valid_to"),
                        "not_matched": _key(entry["system"], what, subject, account) in gone,
                    }
                )
        if len(rows) == before:
            rows.append(
                {"system": entry["system"], "at": entry.get("at"), "reached": entry.get("reached"),
                 "what": None, "subject": None, "account_id": None, "privileged": None,
                 "valid_from": None, "valid_to": None, "not_matched": False}
            )  # fmt: skip
    return rows


def expectation(row: dict[str, Any]) -> str:
    if row["reached"] is False:
        return "SLA not reached yet"
    if row["what"] is None:
        return "nothing held"
    return "NOT removed by its SLA" if row["not_matched"] else "-"


def _held_markdown(change: dict[str, Any], ledger: bool) -> list[str]:
    if not ledger:
        return ["", "The access ledger has no interval of this identity."]
    lines = ["", f"Held at the change ({md(change['source_time'])}):", ""]
    at_change = held_rows(change.get("held_at_change") or [])
    if at_change:
        lines += [
            "| system | what | account, key or entitlement | of account | privileged | since "
            "| until |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {md(r['system'])} | {md(r['what'])} | {md(r['subject'])} | {md(r['account_id'])} | "
            f"{md(_yes(r['privileged']))} | {md(r['valid_from'])} | {md(r['valid_to'])} |"
            for r in at_change
        ]
    else:
        lines.append("Nothing.")
    lines += ["", "Held at the change's SLA (the time per system):", ""]
    at_sla = held_rows(change.get("held_at_sla") or [], change.get("not_matched_at_sla"))
    if at_sla:
        lines += [
            "| system | at | what | account, key or entitlement | of account | privileged | until "
            "| by the SLA |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {md(r['system'])} | {md(r['at'])} | {md(r['what'])} | {md(r['subject'])} | "
            f"{md(r['account_id'])} | {md(_yes(r['privileged']))} | {md(r['valid_to'])} | "
            f"{md(expectation(r))} |"
            for r in at_sla
        ]
    else:
        lines.append("Nothing.")
    return lines


def _yes(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


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
        f"- Still held at a change's SLA though it should have gone: "
        f"{counts['not_matched_at_sla']}",
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
        ledger = bool(evidence.get("ledger_intervals"))
        if change["downstream"] is None:
            lines.append("No deprovisioning to reach (joiners and movers are measured as lag).")
            lines += _held_markdown(change, ledger)
            continue
        if not change["downstream"]:
            lines.append("No account or credential to reach (a repeat of an earlier change).")
            lines += _held_markdown(change, ledger)
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
        lines += _held_markdown(change, ledger)
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
_ENVIRONMENT.filters["expectation"] = expectation
_ENVIRONMENT.filters["yes"] = _yes
_ENVIRONMENT.globals["STATUS_WORDS"] = STATUS_WORDS
_ENVIRONMENT.globals["held_rows"] = held_rows

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
