"""PagerDuty's Events API v2: one ``trigger`` event per alert, its ``dedup_key`` the
``alert_id``, so PagerDuty itself folds a repeat into the incident it opened; an alert's
resolved version (``resolved_at``: a stale finding that stopped being true) is a
``resolve`` of that incident. Its fields
are plain text (PagerDuty shows them as such). The integration's routing key, a secret,
is read at each send and goes first in the event."""

from collections.abc import Mapping, Sequence
from typing import Any

from accessdrift.alerts.destinations.base import (
    Alert,
    Destination,
    DestinationType,
    Notice,
    Payload,
    Refused,
    refusing,
)
from accessdrift.alerts.render import cut, facts, json_value, link, notice_headline, title
from accessdrift.alerts.send import Answer, post_json

PAGERDUTY_EVENTS = "https://events.pagerduty.com/v2/enqueue"
DETAIL_CHARS = 2000  # a custom detail, as long as a Teams fact
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
    """One ``trigger`` event for one alert (``resolve`` for its resolved version)."""
    return {"routing_key": routing_key, **_event(alert, link_template)}


def _event(alert: Mapping[str, Any], link_template: str | None) -> dict[str, Any]:
    summary = f"{title(alert)}: {alert.get('identity_id')} ({alert.get('identity_kind')})"
    detected = alert.get("detected_at")
    event: dict[str, Any] = {
        "event_action": "resolve" if alert.get("resolved_at") is not None else "trigger",
        "dedup_key": str(alert.get("alert_id")),
        "payload": {
            "summary": cut(summary, 1024),
            "source": str(alert.get("system") or "accessdrift"),
            "severity": PAGERDUTY_SEVERITY.get(str(alert.get("severity")), "warning"),
            "timestamp": json_value("detected_at", detected) if detected else None,
            "component": str(alert.get("account_id") or alert.get("credential_id") or ""),
            "group": str(alert.get("identity_id")),
            "class": str(alert.get("kind")),
            "custom_details": {
                **{label: cut(value, DETAIL_CHARS) for label, value in facts(alert)},
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
    return {"routing_key": routing_key, **_notice_event(notice, deployment)}


def _notice_event(notice: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    return {
        "event_action": "resolve" if notice["state"] == "resolved" else "trigger",
        "dedup_key": f"accessdrift-health:{deployment}:{notice['condition']}:{notice['subject']}",
        "payload": {
            "summary": cut(f"{notice_headline(notice)}: {notice['summary']}", 1024),
            "source": f"accessdrift {deployment or 'default'}",
            "severity": "error",
            "class": str(notice["condition"]),
        },
    }


def _alerts(alerts: Sequence[Alert], destination: Destination, update: bool) -> Payload:
    # One alert: ``max_alerts`` is 1. Without its routing key, read when it is sent.
    [alert] = alerts
    return _event(alert, destination.link)


def _notice(notice: Notice, destination: Destination, deployment: str) -> Payload:
    return _notice_event(notice, deployment)


def _post(destination: Destination, environ: Mapping[str, str], event: Payload) -> Answer:
    url = destination.url(environ)
    key = destination.secret(environ)
    routing_key = key.get_secret_value() if key else ""
    return post_json(url, {"routing_key": routing_key, **event})


def _default_url(destination: Destination) -> str | None:
    return PAGERDUTY_EVENTS


def _check(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    if refusing(destination.key_of("secret"), lambda: destination.secret(environ)) is None:
        raise Refused(
            "type",
            f"destination {name!r}: PagerDuty needs its integration's routing key "
            "in secret_env or secret_file",
        )


DESTINATION = DestinationType(
    name="pagerduty",
    order=4,
    max_alerts=1,  # an event is one alert: its dedup_key
    render_alerts=_alerts,
    render_notice=_notice,
    post=_post,
    default_url=_default_url,
    check=_check,
)
