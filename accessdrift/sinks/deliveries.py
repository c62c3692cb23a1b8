"""``alert_deliveries`` rows (migration 0004): the notifier's durable state.

The sink knows a delivery only as a row: what it writes is anything with the row's
fields (``DeliveryFields``, which the notifier's ``Delivery`` has), what it reads back
is a ``StoredDelivery`` with the same fields, for the notifier to make its own of."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from accessdrift.sinks.clickhouse import ClickHouse

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


class DeliveryFields(Protocol):
    """One alert at one destination, as far as its row goes."""

    @property
    def alert_id(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def last_http_status(self) -> int | None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def alert_version(self) -> str: ...
    @property
    def updates(self) -> int: ...
    @property
    def answer(self) -> str: ...
    @property
    def first_try(self) -> float | None:
        """Wall seconds of the first attempt (``first_attempt_at``)."""
        ...


class StoredDelivery(NamedTuple):
    """A delivery as ``alert_deliveries`` holds it (its latest row)."""

    alert_id: str
    destination: str
    status: str
    attempts: int
    last_http_status: int | None
    sent_at: datetime | None
    alert_version: str
    updates: int
    answer: str
    first_try: float | None


def delivery_rows(deliveries: Iterable[DeliveryFields]) -> list[list[Any]]:
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
) -> dict[tuple[str, str], StoredDelivery]:
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
        found[(alert_id, destination)] = StoredDelivery(
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
