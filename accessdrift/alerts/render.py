"""Messages per service, built from alerts (decoded ``Alert`` records): pure.

Every string in an alert may come from a log and is hostile: it is escaped for
its target (Slack mrkdwn: ``&``, ``<``, ``>``, which is how Slack writes links and
mentions; Adaptive Card Markdown: its markup characters), and cut to the
service's limits with a visible marker.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

TITLES = {
    ("used_after_deprovision", "human"): "Credential of a departed employee used",
    ("used_after_deprovision", "nhi"): "Credential of a retired workload used",
    ("used_after_revocation", "human"): "Revoked credential used",
    ("used_after_revocation", "nhi"): "Revoked workload credential used",
    ("attempted_after_deprovision", "human"): "Departed employee's credential tried",
    ("attempted_after_deprovision", "nhi"): "Retired workload's credential tried",
    ("deprovision_overdue", "human"): "Leaver's access not removed in time",
    ("deprovision_overdue", "nhi"): "Retired workload's access not removed in time",
    ("orphaned_nhi", "nhi"): "Workload identity without an owner",
    ("orphaned_nhi", "human"): "Identity without an owner",
}
TRUNCATED = "…[truncated]"
SLACK_SECTION_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_HEADER_CHARS = 150
SLACK_BLOCKS = 50
SLACK_BLOCKS_PER_ALERT = 3
SLACK_ALERTS_PER_MESSAGE = (SLACK_BLOCKS - 1) // SLACK_BLOCKS_PER_ALERT
TEAMS_TEXT_CHARS = 2000
TEAMS_ALERTS_PER_MESSAGE = 5  # 5 x 11 facts x 300 characters: under Teams' 28 KB


def title(alert: Mapping[str, Any]) -> str:
    kind, identity_kind = str(alert.get("kind")), str(alert.get("identity_kind"))
    return TITLES.get((kind, identity_kind), kind.replace("_", " ").capitalize())


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def slack_escape(text: str) -> str:
    """Slack's own three: with them escaped, ``<!channel>``, ``<@U123>`` and
    ``<https://x|y>`` are text, not a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_value(text: str) -> str:
    """A value from a log, for Slack: one line, in a code span (no bold, no links, no
    mentions inside; a backtick in it would close the span, so it becomes ')."""
    inside = slack_escape(text.replace("`", "'"))
    return f"`{inside}`"


# Adaptive Cards' Markdown: emphasis, links, headings and code anywhere, lists at the
# start of a line (a value is one line). Dots and dashes elsewhere stay as they are:
# some Teams clients show a backslash before them literally (198\.51\.100\.7).
_MARKDOWN = re.compile(r"([\\`*_\[\]()#|>~<])")
_LIST_START = re.compile(r"^(\s*)([-+]|\d+\.)")


def markdown_escape(text: str) -> str:
    """Backslash before the Markdown characters Adaptive Cards render."""
    return _LIST_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", _MARKDOWN.sub(r"\\\1", text))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
VALUE_CHARS = 300


def one_line(value: object, limit: int = VALUE_CHARS) -> str:
    """A log's string as one line of at most ``limit`` characters: newlines and control
    characters would let a field fake further fields, or a verdict, below it."""
    return cut(" ".join(_CONTROL.sub(" ", str(value)).split()), limit)


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "—" if value is None else str(value)


def after(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    span = timedelta(seconds=round(seconds))
    days, rest = span.days, span.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return f"{days}d {hours}h after"
    if hours:
        return f"{hours}h {minutes}m after"
    return f"{minutes}m {rest % 60}s after"


def facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a person reads about one alert, in order: plain text, each value one line
    of bounded length (``one_line``), not yet escaped for a service."""
    return [(label, one_line(value)) for label, value in _facts(alert)]


def _facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("Identity", f"{alert.get('identity_id')} ({alert.get('identity_kind')})"),
        ("Severity", str(alert.get("severity"))),
        ("Account", str(alert.get("account_id") or "—")),
        ("Credential", str(alert.get("credential_id") or "—")),
        ("System", str(alert.get("system") or "—")),
        (
            "Revoked" if alert.get("kind") == "used_after_revocation" else "Deprovisioned",
            when(alert.get("deprovisioned_at")),
        ),
    ]
    if alert.get("used_at") is not None:
        rows.append(("Used", f"{when(alert.get('used_at'))}, {after(alert.get('seconds_after'))}"))
    rows.append(("Action", str(alert.get("action") or "—")))
    rows.append(("Source IP", str(alert.get("source_ip") or "—")))
    agent = user_agent(alert)
    if agent:
        rows.append(("User agent", agent))
    return rows


def user_agent(alert: Mapping[str, Any]) -> str | None:
    try:
        evidence = json.loads(str(alert.get("evidence") or "{}"))
    except ValueError:
        return None
    found = _find_key(evidence, "user_agent")
    return str(found) if found else None


def _find_key(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if value.get(key):
            return value[key]
        for item in value.values():
            found = _find_key(item, key)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_key(item, key)
            if found:
                return found
    return None


def link(template: str | None, alert: Mapping[str, Any]) -> str | None:
    """The template with ``{alert_id}`` / ``{identity_id}`` filled in, URL-quoted."""
    if not template:
        return None
    return template.replace("{alert_id}", quote(str(alert.get("alert_id")), safe="")).replace(
        "{identity_id}", quote(str(alert.get("identity_id")), safe="")
    )


def headline(alerts: Sequence[Mapping[str, Any]], update: bool) -> str:
    first = alerts[0]
    prefix = "Update: " if update else ""
    severity = str(first.get("severity")).upper()
    if len(alerts) == 1:
        return f"{prefix}{severity}: {title(first)}"
    return (
        f"{prefix}{severity}: {len(alerts)} alerts about {one_line(first.get('identity_id'), 60)}"
    )


def parts(alerts: Sequence[Mapping[str, Any]], size: int) -> list[Sequence[Mapping[str, Any]]]:
    return [alerts[start : start + size] for start in range(0, len(alerts), size)]


# -- Slack ---------------------------------------------------------------------


def slack_message(
    alerts: Sequence[Mapping[str, Any]], link_template: str | None = None, update: bool = False
) -> dict[str, Any]:
    """One Block Kit message of at most ``SLACK_ALERTS_PER_MESSAGE`` alerts (callers split
    larger groups with ``parts``): a header, then per alert its facts, its id and link."""
    header = cut(headline(alerts, update), SLACK_HEADER_CHARS)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}
    ]
    for alert in alerts:
        fields = [
            {
                "type": "mrkdwn",
                "text": cut(f"*{label}*\n{slack_value(value)}", SLACK_FIELD_CHARS),
            }
            for label, value in facts(alert)[:10]
        ]
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": cut(f"*{slack_escape(title(alert))}*", SLACK_SECTION_CHARS),
                },
                "fields": fields,
            }
        )
        context = f"alert_id `{slack_escape(str(alert.get('alert_id')))}`"
        url = link(link_template, alert)
        if url:
            context += f" · <{slack_escape(url)}|open>"
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(context, 3000)}]}
        )
        blocks.append({"type": "divider"})
    ids = ", ".join(str(alert.get("alert_id")) for alert in alerts)
    return {"text": cut(slack_escape(f"{header} ({ids})"), 3000), "blocks": blocks[:SLACK_BLOCKS]}


# -- Microsoft Teams -------------------------------------------------------------


def teams_message(
    alerts: Sequence[Mapping[str, Any]], link_template: str | None = None, update: bool = False
) -> dict[str, Any]:
    """A Workflows webhook message carrying one Adaptive Card (1.4)."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": markdown_escape(cut(headline(alerts, update), 200)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention",
        }
    ]
    actions: list[dict[str, str]] = []
    for alert in alerts:
        body.append(
            {
                "type": "TextBlock",
                "text": markdown_escape(title(alert)),
                "weight": "Bolder",
                "wrap": True,
                "separator": True,
            }
        )
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": label, "value": markdown_escape(cut(value, TEAMS_TEXT_CHARS))}
                    for label, value in facts(alert)
                ]
                + [{"title": "alert_id", "value": markdown_escape(str(alert.get("alert_id")))}],
            }
        )
        url = link(link_template, alert)
        if url and len(actions) < 5:
            actions.append({"type": "Action.OpenUrl", "title": "Open", "url": url})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return workflows_message(card)


# -- PagerDuty Events API v2 ----------------------------------------------------------

PAGERDUTY_SEVERITY = {
    "critical": "critical",
    "high": "error",
    "medium": "warning",
    "low": "info",
    "info": "info",
}


def pagerduty_event(
    alert: Mapping[str, Any], routing_key: str, link_template: str | None = None
) -> dict[str, Any]:
    """One ``trigger`` event; ``dedup_key`` is the ``alert_id``, so PagerDuty itself folds a
    repeat into the incident it opened. Its fields are plain text."""
    summary = f"{title(alert)}: {alert.get('identity_id')} ({alert.get('identity_kind')})"
    detected = alert.get("detected_at")
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": str(alert.get("alert_id")),
        "payload": {
            "summary": cut(summary, 1024),
            "source": str(alert.get("system") or "accessdrift"),
            "severity": PAGERDUTY_SEVERITY.get(str(alert.get("severity")), "warning"),
            "timestamp": _webhook_value("detected_at", detected) if detected else None,
            "component": str(alert.get("account_id") or alert.get("credential_id") or ""),
            "group": str(alert.get("identity_id")),
            "class": str(alert.get("kind")),
            "custom_details": {
                **{label: cut(value, TEAMS_TEXT_CHARS) for label, value in facts(alert)},
                "alert_id": str(alert.get("alert_id")),
            },
        },
    }
    url = link(link_template, alert)
    if url:
        event["links"] = [{"href": url, "text": "Open in accessdrift"}]
    return event


def pagerduty_notice(
    notice: Mapping[str, Any], routing_key: str, deployment: str
) -> dict[str, Any]:
    """A health notice: ``trigger`` when it fires, ``resolve`` when it ends, one incident
    per condition and subject."""
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if notice["state"] == "resolved" else "trigger",
        "dedup_key": f"accessdrift-health:{deployment}:{notice['condition']}:{notice['subject']}",
        "payload": {
            "summary": cut(f"{notice_headline(notice)}: {notice['summary']}", 1024),
            "source": f"accessdrift {deployment or 'default'}",
            "severity": "error",
            "class": str(notice["condition"]),
        },
    }


# -- signed webhook ----------------------------------------------------------------


def workflows_message(card: dict[str, Any]) -> dict[str, Any]:
    """What a Teams Workflows webhook takes: a message with one Adaptive Card attached."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def webhook_body(alerts: Sequence[Mapping[str, Any]], update: bool = False) -> bytes:
    """``{"alerts": [Alert, ...]}``: every field present (null as null), times RFC 3339 with
    microseconds and ``Z``, ``evidence`` a JSON object."""
    rendered = []
    for alert in alerts:
        item = {key: _webhook_value(key, value) for key, value in alert.items()}
        rendered.append(item)
    document: dict[str, Any] = {"alerts": rendered}
    if update:
        document["update"] = True
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _webhook_value(key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if key == "evidence" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"raw": value}
    return value


# -- health notices ------------------------------------------------------------------


def notice_headline(notice: Mapping[str, Any]) -> str:
    state = "resolved" if notice["state"] == "resolved" else "PROBLEM"
    return f"accessdrift health {state}: {notice['condition'].replace('_', ' ')}"


def slack_notice(notice: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    headline = cut(notice_headline(notice), SLACK_HEADER_CHARS)
    text = f"{notice['summary']} (deployment {deployment or 'default'}, at {notice['at']})"
    return {
        "text": slack_escape(f"{headline}: {text}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": False}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": cut(slack_escape(text), SLACK_SECTION_CHARS)},
            },
        ],
    }


def teams_notice(notice: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    text = f"{notice['summary']} (deployment {deployment or 'default'}, at {notice['at']})"
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": markdown_escape(notice_headline(notice)),
                "weight": "Bolder",
                "wrap": True,
            },
            {"type": "TextBlock", "text": markdown_escape(text), "wrap": True},
        ],
    }
    return workflows_message(card)


def webhook_notice_body(notice: Mapping[str, Any], deployment: str) -> bytes:
    """``{"notices": [...]}``: beside ``{"alerts": [...]}``, signed the same way."""
    document = {"notices": [{**notice, "deployment": deployment}]}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
