"""Slack: an incoming webhook, or the Web API's ``chat.postMessage`` with a bot token;
a Block Kit message either way. Strings from logs are Slack mrkdwn-escaped (``&``, ``<``,
``>``: no mention, no link) and cut to Block Kit's limits."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from accessdrift.alerts.destinations.base import (
    Alert,
    Destination,
    DestinationType,
    Notice,
    Payload,
    Refused,
    checked_file,
    checked_variable,
    refusing,
    settings_of,
)
from accessdrift.alerts.render import (
    cut,
    facts,
    headline,
    link,
    notice_headline,
    slack_escape,
    slack_value,
    title,
)
from accessdrift.alerts.send import Answer, post_slack, post_slack_api

SLACK_API = "https://slack.com/api/"
SLACK_SECTION_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_HEADER_CHARS = 150
SLACK_BLOCKS = 50
SLACK_BLOCKS_PER_ALERT = 3
SLACK_ALERTS_PER_MESSAGE = (SLACK_BLOCKS - 1) // SLACK_BLOCKS_PER_ALERT


class SlackSettings(Destination):
    token_env: str | None = None
    token_file: Path | None = None
    channel: str | None = Field(
        default=None, description="Slack's Web API (chat.postMessage): the channel id or name"
    )

    _token_variable = field_validator("token_env")(checked_variable)
    _token_file = field_validator("token_file")(checked_file)

    @property
    def uses_slack_api(self) -> bool:
        """A Slack destination with a bot token posts through the Web API
        (``chat.postMessage``; its URL, if given, is the API's base URL)."""
        return self.type == "slack" and (self.token_env is not None or self.token_file is not None)

    def token(self, environ: Mapping[str, str]) -> SecretStr:
        return self.read(self.token_env, self.token_file, environ, "token")


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


def _alerts(alerts: Sequence[Alert], destination: Destination, update: bool) -> Payload:
    return slack_message(alerts, destination.link, update)


def _notice(notice: Notice, destination: Destination, deployment: str) -> Payload:
    return slack_notice(notice, deployment)


def _post(destination: Destination, environ: Mapping[str, str], message: Payload) -> Answer:
    slack = settings_of(destination, SlackSettings)
    url = slack.url(environ)
    if slack.uses_slack_api:
        return post_slack_api(url, slack.token(environ), slack.channel or "", message)
    return post_slack(url, message)


def _default_url(destination: Destination) -> str | None:
    return SLACK_API if settings_of(destination, SlackSettings).uses_slack_api else None


def _check(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    slack = settings_of(destination, SlackSettings)
    if slack.uses_slack_api:
        refusing(slack.key_of("token"), lambda: slack.token(environ))
        if not slack.channel:
            raise Refused(
                slack.key_of("token"), f"destination {name!r}: a Slack bot token needs a channel"
            )


def _check_elsewhere(name: str, destination: Destination) -> None:
    slack = settings_of(destination, SlackSettings)
    if slack.token_env or slack.channel:
        raise Refused(
            "token_env" if slack.token_env else "channel",
            f"destination {name!r}: token and channel are for Slack",
        )


DESTINATION = DestinationType(
    name="slack",
    order=1,
    max_alerts=SLACK_ALERTS_PER_MESSAGE,
    render_alerts=_alerts,
    render_notice=_notice,
    post=_post,
    settings=SlackSettings,
    default_url=_default_url,
    check=_check,
    check_elsewhere=_check_elsewhere,
)
