"""One destination of the routing file, one message: rendered for its service, posted.

Its type (``accessdrift.alerts.destinations``) renders and posts. The destination's URL,
secret and token are read again for each message, through the same checks as at start
(``accessdrift.alerts.reach``): a variable or a file changed since into something
refused (a metadata address, a link to /proc) makes the delivery ``failed``, and nothing
is sent.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from accessdrift.alerts.destinations import DESTINATIONS
from accessdrift.alerts.destinations.base import Destination
from accessdrift.alerts.render import parts
from accessdrift.alerts.send import Answer
from accessdrift.errors import ConfigError


def post_alerts(
    destination: Destination,
    environ: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]],
    update: bool = False,
) -> Answer:
    """One message per ``max_alerts`` of its type (the dispatcher's messages are one:
    it splits groups by the same number), until one is not sent."""
    kind = DESTINATIONS[destination.type]
    answer = Answer("sent", None, "")
    try:
        for part in parts(alerts, kind.max_alerts):
            answer = kind.post(destination, environ, kind.render_alerts(part, destination, update))
            if answer.outcome != "sent":
                return answer
    except ConfigError as error:
        return _refused(error)
    return answer


def post_notice(
    destination: Destination,
    environ: Mapping[str, str],
    notice: Mapping[str, Any],
    deployment: str,
) -> Answer:
    kind = DESTINATIONS[destination.type]
    try:
        return kind.post(destination, environ, kind.render_notice(notice, destination, deployment))
    except ConfigError as error:
        return _refused(error)


def _refused(error: ConfigError) -> Answer:
    # Sending again cannot help: the operator must fix the variable or the file. The
    # reason names them, never the URL or the secret.
    return Answer("failed", None, f"refused before sending: {error}")
