"""A signed webhook: any HTTPS receiver, ``{"alerts": [Alert, ...]}`` (or
``{"notices": [...]}``) as compact JSON, HMAC-SHA256 signed with the destination's
secret (``accessdrift.alerts.sign``): the receiver checks who sent it and when."""

import json
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
from accessdrift.alerts.render import json_value
from accessdrift.alerts.send import Answer, post_json

WEBHOOK_ALERTS_PER_MESSAGE = 100


def webhook_document(alerts: Sequence[Mapping[str, Any]], update: bool = False) -> dict[str, Any]:
    """``{"alerts": [Alert, ...]}``: every field present (null as null), times RFC 3339 with
    microseconds and ``Z``, ``evidence`` a JSON object."""
    rendered = []
    for alert in alerts:
        item = {key: json_value(key, value) for key, value in alert.items()}
        rendered.append(item)
    document: dict[str, Any] = {"alerts": rendered}
    if update:
        document["update"] = True
    return document


def webhook_notice_document(notice: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    """``{"notices": [...]}``: beside ``{"alerts": [...]}``, signed the same way."""
    return {"notices": [{**notice, "deployment": deployment}]}


def body(document: Mapping[str, Any]) -> bytes:
    """The bytes sent, and signed."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_body(alerts: Sequence[Mapping[str, Any]], update: bool = False) -> bytes:
    return body(webhook_document(alerts, update))


def webhook_notice_body(notice: Mapping[str, Any], deployment: str) -> bytes:
    return body(webhook_notice_document(notice, deployment))


def _alerts(alerts: Sequence[Alert], destination: Destination, update: bool) -> Payload:
    return webhook_document(alerts, update)


def _notice(notice: Notice, destination: Destination, deployment: str) -> Payload:
    return webhook_notice_document(notice, deployment)


def _post(destination: Destination, environ: Mapping[str, str], document: Payload) -> Answer:
    url = destination.url(environ)
    return post_json(url, body(document), destination.secret(environ))


def _check(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    if refusing(destination.key_of("secret"), lambda: destination.secret(environ)) is None:
        raise Refused("type", f"destination {name!r}: a webhook needs secret_env or secret_file")


DESTINATION = DestinationType(
    name="webhook",
    order=3,
    max_alerts=WEBHOOK_ALERTS_PER_MESSAGE,
    render_alerts=_alerts,
    render_notice=_notice,
    post=_post,
    check=_check,
)
