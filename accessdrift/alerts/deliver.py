"""One destination of the routing file, one message: rendered for its service, posted.

The destination's URL, secret and token are read again for each message, through the
same checks as at start (``accessdrift.alerts.config``): a variable or a file changed
since into something refused (a metadata address, a link to /proc) makes the delivery
``failed``, and nothing is sent.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from accessdrift.alerts.config import Destination
from accessdrift.alerts.render import (
    pagerduty_event,
    pagerduty_notice,
    slack_message,
    slack_notice,
    teams_message,
    teams_notice,
    webhook_body,
    webhook_notice_body,
)
from accessdrift.alerts.send import Answer, post_json, post_slack, post_slack_api
from accessdrift.errors import ConfigError


def post_alerts(
    destination: Destination,
    environ: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]],
    update: bool = False,
) -> Answer:
    try:
        return _post_alerts(destination, environ, alerts, update)
    except ConfigError as error:
        return _refused(error)


def _refused(error: ConfigError) -> Answer:
    # Sending again cannot help: the operator must fix the variable or the file. The
    # reason names them, never the URL or the secret.
    return Answer("failed", None, f"refused before sending: {error}")


def _post_alerts(
    destination: Destination,
    environ: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]],
    update: bool,
) -> Answer:
    if destination.type == "slack":
        return _slack(destination, environ, slack_message(alerts, destination.link, update))
    url = destination.url(environ)
    if destination.type == "teams":
        return post_json(url, teams_message(alerts, destination.link, update))
    if destination.type == "pagerduty":
        return _pagerduty(destination, environ, alerts)
    return post_json(url, webhook_body(alerts, update), destination.secret(environ))


def _pagerduty(
    destination: Destination, environ: Mapping[str, str], alerts: Sequence[Mapping[str, Any]]
) -> Answer:
    key = destination.secret(environ)
    answer = Answer("sent", None, "")
    for alert in alerts:  # one event each (the dispatcher sends one at a time)
        event = pagerduty_event(alert, key.get_secret_value() if key else "", destination.link)
        answer = post_json(destination.url(environ), event)
        if answer.outcome != "sent":
            return answer
    return answer


def post_notice(
    destination: Destination,
    environ: Mapping[str, str],
    notice: Mapping[str, Any],
    deployment: str,
) -> Answer:
    try:
        return _post_notice(destination, environ, notice, deployment)
    except ConfigError as error:
        return _refused(error)


def _post_notice(
    destination: Destination,
    environ: Mapping[str, str],
    notice: Mapping[str, Any],
    deployment: str,
) -> Answer:
    if destination.type == "slack":
        return _slack(destination, environ, slack_notice(notice, deployment))
    url = destination.url(environ)
    if destination.type == "teams":
        return post_json(url, teams_notice(notice, deployment))
    if destination.type == "pagerduty":
        key = destination.secret(environ)
        event = pagerduty_notice(notice, key.get_secret_value() if key else "", deployment)
        return post_json(url, event)
    return post_json(url, webhook_notice_body(notice, deployment), destination.secret(environ))


def _slack(destination: Destination, environ: Mapping[str, str], message: dict[str, Any]) -> Answer:
    url = destination.url(environ)
    if destination.uses_slack_api:
        channel = destination.channel or ""
        return post_slack_api(url, destination.token(environ), channel, message)
    return post_slack(url, message)
