"""``alert_deliveries`` rows (migration 0004): the notifier's durable state."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from accessdrift.alerts.dispatch import Delivery
from sinks.clickhouse import ClickHouse

DELIVERIES_TABLE = "alert_deliveries"
DELIVERY_COLUMNS = (
    "alert_id",
    "destination",
    "status",
    "attempts",
    "last_http_status",
    "sent_at",
    "updated_at",
    "first_attempt_at",
    "alert_version",
    "updates",
    "answer",
)


def delivery_rows(deliveries: Iterable[Delivery]) -> list[list[Any]]:
    now = datetime.now(UTC)
    return [
        [
            d.alert_id,
            d.destination,
            d.status,
            d.attempts,
            d.last_http_status,
            d.sent_at,
            now,
            datetime.fromtimestamp(d.first_try, UTC) if d.first_try is not None else None,
            d.alert_version,
            d.updates,
            d.answer,
        ]
        for d in deliveries
    ]


def read_deliveries(
    clickhouse: ClickHouse, alert_ids: list[str]
) -> dict[tuple[str, str], Delivery]:
    """The latest state of these alerts' deliveries."""
    if not alert_ids:
        return {}
    result = clickhouse.query_params(
        "SELECT alert_id, destination, status, attempts, last_http_status, sent_at, "
        f"alert_version, updates, answer, first_attempt_at FROM {DELIVERIES_TABLE} FINAL "
        "WHERE alert_id IN {ids:Array(String)}",
        {"ids": alert_ids},
    )
    found = {}
    for (
        alert_id,
        destination,
        status,
        attempts,
        http,
        sent_at,
        version,
        updates,
        answer,
        first_attempt,
    ) in result.rows:
        found[(alert_id, destination)] = Delivery(
            alert_id,
            destination,
            status,
            int(attempts),
            http,
            sent_at,
            version,
            int(updates),
            answer,
            first_attempt.timestamp() if first_attempt is not None else None,
        )
    return found
