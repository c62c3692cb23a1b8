"""Microsoft Teams: a Workflows webhook, one Adaptive Card (1.4) per message. Strings from
logs are Markdown-escaped (Adaptive Cards render emphasis, links and lists) and cut."""

from collections.abc import Mapping, Sequence
from typing import Any

from accessdrift.alerts.destinations.base import (
    Alert,
    Destination,
    DestinationType,
    Notice,
    Payload,
)
from accessdrift.alerts.render import (
    cut,
    facts,
    headline,
    link,
    markdown_escape,
    notice_headline,
    title,
)
from accessdrift.alerts.send import Answer, post_json

TEAMS_TEXT_CHARS = 2000
TEAMS_ALERTS_PER_MESSAGE = 5  # 5 x 11 facts x 300 characters: under Teams' 28 KB


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


def _alerts(alerts: Sequence[Alert], destination: Destination, update: bool) -> Payload:
    return teams_message(alerts, destination.link, update)


def _notice(notice: Notice, destination: Destination, deployment: str) -> Payload:
    return teams_notice(notice, deployment)


def _post(destination: Destination, environ: Mapping[str, str], message: Payload) -> Answer:
    return post_json(destination.url(environ), message)


DESTINATION = DestinationType(
    name="teams",
    order=2,
    max_alerts=TEAMS_ALERTS_PER_MESSAGE,
    render_alerts=_alerts,
    render_notice=_notice,
    post=_post,
)
