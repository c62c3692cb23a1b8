"""What to send where, when: the notifier's decisions over plain data, with the
clock passed in (no I/O here; ``accessdrift/streams/notifier.py`` reads, posts and records).

Each alert reaches each destination of each route it matches once (``route``).
Alerts to one destination with the same ``group_by`` values wait ``group_wait``
and go out as one message; once a group has been sent, its next message waits
``group_interval`` (as Alertmanager does). An alert whose ``detected_at`` is older
than ``max_age`` when first seen is ``skipped``. A send that fails is tried again
with backoff (or after ``Retry-After``) until ``retry_window`` has passed since
its first attempt, then ``failed``; a 4xx that retrying cannot fix fails at once.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from accessdrift.alerts.config import Routing
from accessdrift.alerts.destinations import DESTINATIONS
from accessdrift.alerts.route import group_key, targets
from accessdrift.alerts.send import Answer, backoff

TERMINAL = frozenset({"sent", "failed", "skipped", "silenced"})


def alert_version(alert: Mapping[str, Any]) -> str:
    """What changes when detection improves an alert (same ``alert_id``): its first use,
    then a digest of the rest, then ``.resolved`` once it stopped being true
    (``resolved_at``, a stale finding's newer version). Ordered: an earlier first use is
    a better version; with the same first use, the resolved one is."""
    fields = {
        key: str(alert.get(key)) for key in ("used_at", "seconds_after", "action", "source_ip")
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    used = alert.get("used_at")
    used_us = int(used.timestamp() * 1_000_000) if isinstance(used, datetime) else NO_USE
    resolved = RESOLVED if alert.get("resolved_at") is not None else ""
    return f"{used_us:020d}.{digest}{resolved}"


NO_USE = 10**19
RESOLVED = ".resolved"


def better(version: str, than: str) -> bool:
    """Does ``version`` improve on ``than``: an earlier first use, or the same one and
    resolved where ``than`` is not? (A version read again from an older record is not
    newer for being read later: a replayed unresolved version never follows the
    resolved one, and the resolved one read again is no second resolution.)"""

    def first_use(text: str) -> int:
        head, dot, _ = text.partition(".")
        return int(head) if dot and head.isdigit() else NO_USE

    mine, theirs = first_use(version), first_use(than)
    if mine != theirs:
        return mine < theirs
    return version.endswith(RESOLVED) and not than.endswith(RESOLVED)


@dataclass(frozen=True)
class Delivery:
    """One alert at one destination: a row of ``alert_deliveries``."""

    alert_id: str
    destination: str
    status: str
    attempts: int = 0
    last_http_status: int | None = None
    sent_at: datetime | None = None
    alert_version: str = ""
    updates: int = 0
    answer: str = ""
    first_try: float | None = None  # wall seconds of the first attempt: the retry window

    @property
    def key(self) -> tuple[str, str]:
        return self.alert_id, self.destination


@dataclass
class Message:
    """A message to send: its alerts and their deliveries, in order."""

    destination: str
    alerts: list[Mapping[str, Any]]
    deliveries: list[Delivery]
    update: bool = False
    due: float = 0.0


@dataclass
class Dispatcher:
    routing: Routing
    retry_window: float = 24 * 3600.0
    groups: dict[tuple[str, tuple[str, ...], bool], Message] = field(default_factory=dict)
    retries: list[Message] = field(default_factory=list)
    last_sent: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)
    sent_times: dict[str, list[float]] = field(default_factory=dict)
    # Every waiting delivery's message, by (alert_id, destination): offers look here,
    # not through every message (tens of thousands wait while a destination is down).
    waiting_in: dict[tuple[str, str], Message] = field(default_factory=dict)

    def offer(
        self, alert: Mapping[str, Any], known: Mapping[tuple[str, str], Delivery], now: float
    ) -> list[Delivery]:
        """A new or repeated alert: the rows to record now (``pending`` before a send,
        ``skipped`` for history); nothing for one already handled."""
        rows = []
        version = alert_version(alert)
        alert_id = str(alert["alert_id"])
        for target in targets(self.routing, alert):
            before = known.get((alert_id, target.destination))
            update = False
            if before is not None and before.status in TERMINAL:
                if not (
                    before.status == "sent"
                    and better(version, before.alert_version)
                    and not before.updates
                ):
                    continue
                # Improved after it was sent: one update message. Nothing is recorded
                # before it (the row stays `sent`): a crash before it goes loses the
                # update, never doubles the alert.
                update = True
                if self._requeue(alert_id, target.destination, alert, version):
                    continue
            elif self._requeue(alert_id, target.destination, alert, version):
                continue  # waiting still: it goes out in its newest version
            elif before is None and self._too_old(alert, now):
                rows.append(
                    Delivery(
                        alert_id,
                        target.destination,
                        "skipped",
                        alert_version=version,
                        answer="older than max_age when first seen",
                    )
                )
                continue
            delivery = Delivery(
                alert_id,
                target.destination,
                "pending",
                attempts=before.attempts if before and not update else 0,
                alert_version=version,
                updates=before.updates if before else 0,
                sent_at=before.sent_at if before else None,
                # Resumed after a restart, the retry window runs from the first attempt.
                first_try=before.first_try if before and not update else None,
            )
            key_values = group_key(target, alert)
            group = self.groups.get((*key_values, update))
            if group is None:
                previous = self.last_sent.get(key_values)
                wait = target.route.group_wait.total_seconds()
                due = now + wait
                if previous is not None:
                    due = max(due, previous + target.route.group_interval.total_seconds())
                group = Message(target.destination, [], [], update=update, due=due)
                self.groups[(*key_values, update)] = group
            group.alerts.append(alert)
            group.deliveries.append(delivery)
            self.waiting_in[delivery.key] = group
            if not update:
                rows.append(delivery)
        return rows

    def silence(
        self,
        alert: Mapping[str, Any],
        known: Mapping[tuple[str, str], Delivery],
        silence_id: str,
        reason: str,
    ) -> list[Delivery]:
        """An alert a silence holds back: ``silenced`` at each destination it would have
        reached and has not yet (so an auditor sees what was muted, and by which)."""
        rows = []
        alert_id = str(alert["alert_id"])
        for target in targets(self.routing, alert):
            before = known.get((alert_id, target.destination))
            if before is not None and before.status in TERMINAL:
                continue
            if self._queued((alert_id, target.destination)):
                continue
            rows.append(
                Delivery(
                    alert_id,
                    target.destination,
                    "silenced",
                    alert_version=alert_version(alert),
                    answer=f"silence {silence_id}: {reason}"[:500],
                )
            )
        return rows

    def _requeue(
        self, alert_id: str, destination: str, alert: Mapping[str, Any], version: str
    ) -> bool:
        """An alert already waiting to go there: it keeps the better version; True if so."""
        message = self.waiting_in.get((alert_id, destination))
        if message is None:
            return False
        for index, delivery in enumerate(message.deliveries):
            if delivery.key == (alert_id, destination):
                if better(version, delivery.alert_version):
                    message.alerts[index] = alert
                    message.deliveries[index] = replace(delivery, alert_version=version)
                break
        return True

    def _queued(self, key: tuple[str, str]) -> bool:
        return key in self.waiting_in

    def _too_old(self, alert: Mapping[str, Any], now: float) -> bool:
        detected = alert.get("detected_at")
        if not isinstance(detected, datetime):
            return False
        age = now - detected.astimezone(UTC).timestamp()
        return age > self.routing.max_age.total_seconds()

    def due(self, now: float, limit: int | None = None) -> list[Message]:
        """Messages to send now, oldest first, within each destination's rate limit; at
        most about ``limit`` (the rest stay due)."""
        ready: list[Message] = []
        for key, group in list(self.groups.items()):
            if limit is not None and len(ready) >= limit:
                break
            if group.due <= now and self._allowed(group.destination, now):
                del self.groups[key]
                self._unwait(group)
                self.last_sent[(key[0], key[1])] = now
                # Alerts per message, by its type: a Slack message has at most 50 blocks,
                # a Teams card must stay under the service's size limit, a PagerDuty
                # event is one alert (its dedup_key).
                size = DESTINATIONS[self.routing.destinations[group.destination].type].max_alerts
                for start in range(0, len(group.alerts), size):
                    ready.append(
                        Message(
                            group.destination,
                            group.alerts[start : start + size],
                            group.deliveries[start : start + size],
                            group.update,
                            group.due,
                        )
                    )
        for message in list(self.retries):
            if limit is not None and len(ready) >= limit:
                break
            if message.due <= now and self._allowed(message.destination, now):
                self.retries.remove(message)
                self._unwait(message)
                ready.append(message)
        return ready

    def _unwait(self, message: Message) -> None:
        for delivery in message.deliveries:
            self.waiting_in.pop(delivery.key, None)

    def _allowed(self, destination: str, now: float) -> bool:
        limit = self.routing.destinations[destination].rate_limit
        if limit is None:
            return True
        recent = [moment for moment in self.sent_times.get(destination, []) if now - moment < 60]
        self.sent_times[destination] = recent
        if len(recent) >= limit:
            return False
        recent.append(now)
        return True

    def record(self, message: Message, answer: Answer, now: float) -> list[Delivery]:
        """The rows after a send; a message worth another try is queued again."""
        wall = datetime.fromtimestamp(now, UTC)
        rows = []
        for delivery in message.deliveries:
            first = delivery.first_try if delivery.first_try is not None else now
            tried = replace(
                delivery,
                attempts=delivery.attempts + 1,
                last_http_status=answer.http_status,
                answer=answer.text,
                first_try=first,
            )
            if answer.outcome == "sent":
                updates = delivery.updates + (1 if message.update else 0)
                rows.append(replace(tried, status="sent", sent_at=wall, updates=updates))
            elif answer.outcome == "retry" and now - first < self.retry_window:
                rows.append(replace(tried, status="retrying"))
            else:
                rows.append(replace(tried, status="failed"))
        again = [
            (alert, row)
            for alert, row in zip(message.alerts, rows, strict=True)
            if row.status == "retrying"
        ]
        if again:
            wait = max(answer.retry_after or 0.0, backoff(again[0][1].attempts))
            retry = Message(
                message.destination,
                [alert for alert, _ in again],
                [row for _, row in again],
                message.update,
                now + wait,
            )
            self.retries.append(retry)
            for row in retry.deliveries:
                self.waiting_in[row.key] = retry
        if message.update:
            # The alert itself was sent: an update that has not gone yet leaves it so.
            return [row for row in rows if row.status == "sent"]
        return rows

    def forget(self, keys: set[tuple[str, str]]) -> None:
        """Drop these deliveries from what waits (their partitions moved elsewhere)."""
        if not keys:
            return
        for message in [*self.groups.values(), *self.retries]:
            kept = [
                (a, d)
                for a, d in zip(message.alerts, message.deliveries, strict=True)
                if d.key not in keys
            ]
            message.alerts = [a for a, _ in kept]
            message.deliveries = [d for _, d in kept]
        self.groups = {key: group for key, group in self.groups.items() if group.deliveries}
        self.retries = [message for message in self.retries if message.deliveries]
        for key in keys:
            self.waiting_in.pop(key, None)

    @property
    def waiting(self) -> int:
        return len(self.waiting_in)
