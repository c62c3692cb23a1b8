"""What every destination type's messages are built from (``accessdrift.alerts.destinations``):
the title and the facts a person reads about an alert, and the escaping and cutting
of its strings. Pure.

Every string in an alert may come from a log and is hostile: it is escaped for
its target (Slack mrkdwn: ``&``, ``<``, ``>``, which is how Slack writes links and
mentions; Adaptive Card Markdown: its markup characters), and cut to the
service's limits with a visible marker.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from accessdrift import catalog

TRUNCATED = "…[truncated]"


def title(alert: Mapping[str, Any]) -> str:
    """The title its detector gives the alert's kind (``accessdrift/catalog.py``)."""
    return catalog.alert_title(str(alert.get("kind")), str(alert.get("identity_kind")))


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


# What ``deprovisioned_at`` is, per kind (T0 of a leaver unless said otherwise): the
# hygiene kinds' reference times are no deprovisioning (docs/hygiene.md).
REFERENCE_LABEL = {
    "used_after_revocation": "Revoked",
    "mover_access_retained": "Moved",
    "stale_credential": "Unused since",
    "stale_account": "Unused since",
    "rotation_overdue": "Created",
    "shared_credential": "First party",
    "uncorrelated_account_active": "First seen",
    "trust_path_of_leaver": "Left",
}
# What ``used_at`` is, when it is not a use: a grant, the second party's use or claim, a
# role's assumption.
USED_LABEL = {
    "granted_after_deprovision": "Granted",
    "shared_credential": "Second party",
    "trust_path_of_leaver": "Assumed",
}
TRUST_PATH = "trust_path_of_leaver"
# What the leaver was to the role, from the evidence's ``path`` (trust.py's two).
LEAVER_ROLE = {
    "created by the leaver": "created the role",
    "held by a workload whose owner left": "owned the workload that holds it",
}


def facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a person reads about one alert, in order: plain text, each value one line
    of bounded length (``one_line``), not yet escaped for a service."""
    return [(label, one_line(value)) for label, value in _facts(alert)]


def _facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    if alert.get("kind") == TRUST_PATH:
        return _trust_facts(alert)
    rows = [
        ("Identity", f"{alert.get('identity_id')} ({alert.get('identity_kind')})"),
        ("Severity", str(alert.get("severity"))),
        ("Account", str(alert.get("account_id") or "—")),
        ("Credential", str(alert.get("credential_id") or "—")),
    ]
    if alert.get("entitlement"):
        rows.append(("Entitlement", str(alert["entitlement"])))
    rows += [
        ("System", str(alert.get("system") or "—")),
        (
            REFERENCE_LABEL.get(str(alert.get("kind")), "Deprovisioned"),
            when(alert.get("deprovisioned_at")),
        ),
    ]
    if alert.get("used_at") is not None:
        label = USED_LABEL.get(str(alert.get("kind")), "Used")
        rows.append((label, f"{when(alert.get('used_at'))}, {after(alert.get('seconds_after'))}"))
    if alert.get("resolved_at") is not None:
        # A newer version of a finding that stopped being true (a stale key used again,
        # revoked, disabled or deleted): said before anything else can be cut.
        rows.append(("Resolved", when(alert.get("resolved_at"))))
    rows += _hygiene_facts(alert)
    rows.append(("Action", str(alert.get("action") or "—")))
    rows.append(("Source IP", str(alert.get("source_ip") or "—")))
    agent = user_agent(alert)
    if agent:
        rows.append(("User agent", agent))
    return rows


def _hygiene_facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the evidence adds for a person, for the hygiene kinds: who the two parties
    of a shared credential were, and the privileged entitlement an overdue key's or an
    unowned account's account held. Only strings are taken; the caller makes them one
    line, and each service's renderer escapes them."""
    kind = str(alert.get("kind"))
    if kind not in ("shared_credential", "rotation_overdue", "uncorrelated_account_active"):
        return []
    evidence = _evidence(alert)
    rows = []
    if kind == "shared_credential":
        if evidence.get("how") == "links":
            parties = [evidence.get("other_identity_id"), alert.get("identity_id")]
        else:
            parties = [
                _field(evidence.get("first_use"), "account_id"),
                _field(evidence.get("second_use"), "account_id"),
            ]
        named = [str(party) for party in parties if isinstance(party, str) and party]
        if named:
            rows.append(("Parties", " and ".join(named)))
    else:
        privileged = evidence.get("privileged_entitlement")
        if isinstance(privileged, str) and privileged:
            rows.append(("Privileged", privileged))
    return rows


def _trust_facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A role a leaver left behind, assumed: the chain first (the role, who assumed it
    and with what, who created it, who left), then when and from where. Slack shows a
    section's first 10 fields: all but the system are among them."""
    evidence = _evidence(alert)
    assumed, created = evidence.get("assumed"), evidence.get("created")
    creator = _text(_field(created, "by_account"))
    made_at = _time(_field(created, "event_time"))
    if creator != "—" and made_at is not None:
        creator = f"{creator}, {when(made_at)}"
    leaver = _text(evidence.get("leaver"))
    part = LEAVER_ROLE.get(str(evidence.get("path")))
    if leaver != "—" and part is not None:
        leaver = f"{leaver} ({part})"
    used = f"{when(alert.get('used_at'))}, {after(alert.get('seconds_after'))}"
    return [
        ("Identity", f"{alert.get('identity_id')} ({alert.get('identity_kind')})"),
        ("Severity", str(alert.get("severity"))),
        ("Role", _text(alert.get("account_id"), evidence.get("role"))),
        ("Assumed by", _text(_field(assumed, "by_account"))),
        ("With credential", _text(_field(assumed, "with_credential"))),
        ("Created by", creator),
        ("Leaver", leaver),
        (REFERENCE_LABEL[TRUST_PATH], when(alert.get("deprovisioned_at"))),
        (USED_LABEL[TRUST_PATH], used),
        ("Source IP", _text(alert.get("source_ip"), _field(assumed, "source_ip"))),
        # Its action is always "assume" (the headline says it): 11 facts, as Teams' limit
        # is counted (teams.py).
        ("System", str(alert.get("system") or "—")),
    ]


def _text(*values: Any) -> str:
    """The first value that is a non-empty string, or a dash: evidence of another shape
    (a number, a list, an object) is not shown."""
    return next((value for value in values if isinstance(value, str) and value), "—")


def _time(value: Any) -> datetime | None:
    """An ISO time of the evidence, or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _field(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _evidence(alert: Mapping[str, Any]) -> dict[str, Any]:
    try:
        evidence = json.loads(str(alert.get("evidence") or "{}"))
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's stack
        return {}
    return evidence if isinstance(evidence, dict) else {}


def user_agent(alert: Mapping[str, Any]) -> str | None:
    try:
        found = _find_key(json.loads(str(alert.get("evidence") or "{}")), "user_agent")
    except (ValueError, RecursionError):  # not JSON, or nested past the stack
        return None
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
    """``Resolved:`` when every alert of the message stopped being true (a stale finding's
    newer version), else ``Update:`` for an improved one already sent."""
    first = alerts[0]
    resolved = all(alert.get("resolved_at") is not None for alert in alerts)
    prefix = "Resolved: " if resolved else "Update: " if update else ""
    severity = str(first.get("severity")).upper()
    if len(alerts) == 1:
        return f"{prefix}{severity}: {title(first)}"
    return (
        f"{prefix}{severity}: {len(alerts)} alerts about {one_line(first.get('identity_id'), 60)}"
    )


def parts(alerts: Sequence[Mapping[str, Any]], size: int) -> list[Sequence[Mapping[str, Any]]]:
    return [alerts[start : start + size] for start in range(0, len(alerts), size)]


def notice_headline(notice: Mapping[str, Any]) -> str:
    state = "resolved" if notice["state"] == "resolved" else "PROBLEM"
    return f"accessdrift health {state}: {notice['condition'].replace('_', ' ')}"


def json_value(key: str, value: Any) -> Any:
    """A field of an alert as the contract's JSON has it: times RFC 3339 with microseconds
    and ``Z``, ``evidence`` a JSON object."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if key == "evidence" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"raw": value}
    return value
