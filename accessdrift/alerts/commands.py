"""`accessdrift alerts ...`: what a person runs to check the routing file and the
deliveries."""

import os
from datetime import UTC, datetime, timedelta

from accessdrift.alerts.config import Routing, load_routing
from accessdrift.alerts.render import slack_message, teams_message, webhook_body
from accessdrift.alerts.route import targets
from accessdrift.alerts.send import Answer, post_json, post_slack
from accessdrift.errors import ConfigError
from accessdrift.query import run_query
from sinks.clickhouse import QueryResult
from streams.settings import Settings


def routing_of(settings: Settings) -> Routing:
    if settings.alert_routes is None:
        raise ConfigError("ACCESSDRIFT_ALERT_ROUTES is not set: no alert goes to anyone")
    return load_routing(settings.alert_routes)


def sample_alert() -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "alert_id": f"test-{now.strftime('%Y%m%dT%H%M%S')}",
        "kind": "used_after_deprovision",
        "severity": "critical",
        "identity_id": "sample-identity",
        "identity_kind": "human",
        "account_id": "aws:111122223333:user/sample",
        "credential_id": "aws:key/AKIASAMPLE0000000000",
        "deprovisioned_at": now - timedelta(hours=2),
        "used_at": now - timedelta(minutes=5),
        "seconds_after": 6900.0,
        "system": "aws",
        "action": "s3:GetObject",
        "source_ip": "192.0.2.10",
        "detected_at": now,
        "evidence": '{"note": "a sample sent by accessdrift alerts test"}',
    }


def send_test(settings: Settings, name: str) -> Answer:
    routing = routing_of(settings)
    if name not in routing.destinations:
        known = ", ".join(sorted(routing.destinations)) or "none"
        raise ConfigError(f"no destination named {name!r} (the file has: {known})")
    destination = routing.destinations[name]
    alert = sample_alert()
    url = destination.url(os.environ)
    if destination.type == "slack":
        return post_slack(url, slack_message([alert], destination.link))
    if destination.type == "teams":
        return post_json(url, teams_message([alert], destination.link))
    return post_json(url, webhook_body([alert]), destination.secret(os.environ))


def destinations_for(
    settings: Settings, kind: str, severity: str, identity_kind: str, system: str | None
) -> list[str]:
    alert = {"kind": kind, "severity": severity, "identity_kind": identity_kind, "system": system}
    return [target.destination for target in targets(routing_of(settings), alert)]


def delivery_status(settings: Settings) -> QueryResult:
    return run_query(
        settings,
        "SELECT destination, status, count() AS deliveries, max(updated_at) AS latest, "
        "any(answer) AS an_answer FROM alert_deliveries FINAL "
        "WHERE status IN ('pending', 'retrying', 'failed') "
        "GROUP BY destination, status ORDER BY destination, status",
    )
