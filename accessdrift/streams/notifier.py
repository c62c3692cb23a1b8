"""The notifier: ``drift.alerts`` to people, on a thread and a consumer group of its own,
so that a slow or failing chat service never delays detection or the sink.

Decisions are ``accessdrift.alerts.dispatch``'s; this shell reads the topic, asks
ClickHouse what was already delivered, posts, and records each delivery before
(``pending``) and after (``sent``, ``retrying``, ``failed``) the send. A message's
offset is committed once every delivery it started has ended, so a restarted
notifier reads again what was not finished, finds it in ``alert_deliveries`` and
sends only what was not sent: at least once, and once unless the process dies
between a send and its record.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from accessdrift import catalog
from accessdrift.alerts.config import Routing
from accessdrift.alerts.deliver import post_alerts, post_notice
from accessdrift.alerts.dispatch import TERMINAL, Delivery, Dispatcher
from accessdrift.alerts.dispatch import Message as Outgoing
from accessdrift.alerts.health import HealthRules, HealthWatch
from accessdrift.alerts.send import Answer
from accessdrift.alerts.silences import Silence, latest, silencing
from accessdrift.errors import ClickHouseError, RecordError
from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from accessdrift.sinks.deliveries import (
    DELIVERIES_TABLE,
    DELIVERY_COLUMNS,
    StoredDelivery,
    delivery_rows,
)
from accessdrift.sinks.rows import Columns
from accessdrift.streams.batch_sink import BatchSink, Insert
from accessdrift.streams.threads import StageThread

log = logging.getLogger("accessdrift.notifier")
LOGGED_CHARS = 300


def _one_line(value: object) -> str:
    """A value from outside (a service's answer, the broker's or ClickHouse's error, a
    record's) as one line of at most ``LOGGED_CHARS``: newlines and control characters
    escaped (``\\n``, ``\\x1b``), so that no value writes log lines of its own choosing,
    and one can still see what it tried."""
    text = "".join(
        character if character.isprintable() else repr(character)[1:-1]
        for character in str(value)[: LOGGED_CHARS * 2]
    )
    return text if len(text) <= LOGGED_CHARS else text[: LOGGED_CHARS - 1] + "…"


Known = Callable[[list[str]], Mapping[tuple[str, str], StoredDelivery]]
Post = Callable[[str, Outgoing], Answer]


def _delivery_fields(alert: Mapping[str, Any], row: Delivery, answer: Answer) -> dict[str, Any]:
    """The fields of a delivery's log line: its alert's ids and how it went."""
    return {
        "alert_id": row.alert_id,
        "identity_id": alert.get("identity_id"),
        "destination": row.destination,
        "status": row.status,
        "attempts": row.attempts,
        "http_status": answer.http_status,
    }


HEALTH_EVERY_SECONDS = 5.0
SEND_DEADLINE_SECONDS = 30.0
MESSAGES_PER_PASS = 20


class Notifier(StageThread):
    def __init__(
        self,
        settings: Settings,
        routing: Routing,
        insert: Insert,
        known: Known,
        counts: Counter[str],
        environ: Mapping[str, str],
        post: Post | None = None,
    ) -> None:
        self.settings = settings
        self.routing = routing
        self.known = known
        self.counts = counts
        self.environ = environ
        self.post = post or self._post
        self.dispatcher = Dispatcher(routing, settings.alert_retry_window.total_seconds())
        self.topic = settings.topic(catalog.DRIFT_ALERTS)
        # Per partition: offset -> deliveries it started that have not ended.
        self.open: dict[int, dict[int, set[tuple[str, str]]]] = {}
        self.read_up_to: dict[int, int] = {}
        super().__init__("notifier", log)
        # Each write goes in at once, whole, before the notifier goes on: a pending row is
        # in the table before its post, and a message's offset moves only once the rows
        # that end its deliveries are (no rows of the sink's batch waiting in memory).
        self.sink = BatchSink(insert, self.stopping, counts, log, describe=_one_line)
        # Posts run here, so that a service that never finishes its answer costs a thread
        # for a while, not the notifier.
        self._senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notifier-post")
        # slack_sdk logs the webhook URL (a secret) at DEBUG, and a service's answer as it
        # came (newlines and all) at ERROR: the notifier logs each failed delivery itself,
        # on one line and without the URL.
        logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)
        self.health = HealthWatch(
            HealthRules(
                settings.health_silent_after.total_seconds(),
                settings.health_watermark_stall.total_seconds(),
                settings.health_deadletters_per_minute,
            ),
            started=time.time(),
        )
        self.health_checked = 0.0
        self.silences_topic = settings.topic(catalog.SILENCES)
        self.silences: dict[str, Silence] = {}
        for status in ("pending", "sent", "retrying", "failed", "skipped", "silenced"):
            counts[f"deliveries:{status}"] += 0
        counts["deliveries:waiting"] += 0

    def _consume(self) -> None:
        consumer = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"{self.settings.app_id}.notifier",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 15000,
            }
        )
        # Every silence, from the start of its compacted topic, on every start: no group.
        silences = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"{self.settings.app_id}.silences",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        try:
            self._retrying(lambda: self._assign_all(silences), (KafkaException,))
            consumer.subscribe([self.topic], on_revoke=self._on_revoke)
            while not self.stopping.is_set():
                self._read_silences(silences)
                messages = consumer.consume(num_messages=500, timeout=0.2)
                if messages:
                    self._offer(messages)
                self._send_due()
                self._commit(consumer)
                self._check_health()
        finally:
            consumer.close()
            silences.close()

    def _assign_all(self, silences: Consumer) -> None:
        """Every partition of the silences' topic from its start, and read to its end
        before any alert is looked at (an alert read first would miss its silence)."""
        metadata = silences.list_topics(self.silences_topic, timeout=10)
        topic = metadata.topics.get(self.silences_topic)
        partitions = sorted(topic.partitions) if topic is not None and not topic.error else []
        if not partitions:
            raise KafkaException(f"topic {self.silences_topic} not found")
        silences.assign(
            [TopicPartition(self.silences_topic, p, OFFSET_BEGINNING) for p in partitions]
        )
        ends = {}
        for p in partitions:
            low, high = silences.get_watermark_offsets(
                TopicPartition(self.silences_topic, p), timeout=10
            )
            if high > low:
                ends[p] = high
        deadline = time.monotonic() + 30
        while ends and time.monotonic() < deadline and not self.stopping.is_set():
            for message in self._read_silences(silences, timeout=0.5):
                if (message.offset() or 0) + 1 >= ends.get(message.partition() or 0, 0):
                    ends.pop(message.partition() or 0, None)

    def _read_silences(self, silences: Consumer, timeout: float = 0) -> list[Message]:
        records = []
        messages = silences.consume(num_messages=500, timeout=timeout)
        for message in messages:
            value = message.value()
            if message.error() is not None or not isinstance(value, bytes):
                continue
            try:
                records.append(codec_for("Silence").decode_dict(value))
            except RecordError as error:
                log.error("notifier: a silence that does not decode: %s", _one_line(error))
        if records:
            self.silences = latest([*self.silences.values(), *records])
        return [message for message in messages if message.error() is None]

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The next owner reads them again from the committed offsets: nothing of them
        # stays queued here to be sent twice.
        keys = set()
        for partition in partitions:
            for started in self.open.pop(partition.partition, {}).values():
                keys |= started
            self.read_up_to.pop(partition.partition, None)
        self.dispatcher.forget(keys)

    def _offer(self, messages: list[Message]) -> None:
        alerts = []
        for message in messages:
            if message.error() is not None:  # a consumer event (a broker blip), not a record
                log.warning("notifier consumer: %s", _one_line(message.error()))
                continue
            partition, offset = message.partition() or 0, message.offset() or 0
            self.read_up_to[partition] = offset + 1
            value = message.value()
            try:
                if not isinstance(value, bytes):
                    raise RecordError("empty record")
                alerts.append((partition, offset, codec_for("Alert").decode_dict(value)))
            except RecordError as error:  # our own topic: a bug, said loudly, not a stop
                log.error(
                    "notifier: alert at %s/%d not decoded: %s",
                    partition,
                    offset,
                    _one_line(error),
                    extra={"topic": self.topic, "partition": partition, "offset": offset},
                )
                self.counts["deliveries:undecodable"] += 1
        stored = self._retrying(lambda: self.known(sorted({a["alert_id"] for _, _, a in alerts})))
        known = {key: Delivery(**row._asdict()) for key, row in stored.items()}
        rows = []
        now = time.time()
        wall = datetime.fromtimestamp(now, UTC)
        for partition, offset, alert in alerts:
            silence = silencing(self.silences.values(), alert, wall)
            if silence is not None:
                rows += self.dispatcher.silence(
                    alert, known, silence["silence_id"], silence["reason"]
                )
                continue
            offered = self.dispatcher.offer(alert, known, now)
            started = {row.key for row in offered if row.status not in TERMINAL}
            if started:
                self.open.setdefault(partition, {}).setdefault(offset, set()).update(started)
            rows += offered
        self._record(rows)

    def _send_due(self) -> None:
        # A few messages per pass: the loop goes back to Kafka (and stays in its group)
        # however many are due.
        for outgoing in self.dispatcher.due(time.time(), limit=MESSAGES_PER_PASS):
            answer = self._post_within_deadline(outgoing)
            rows = self.dispatcher.record(outgoing, answer, time.time())
            alerts = {alert["alert_id"]: alert for alert in outgoing.alerts}
            for row in rows:
                # One line per alert, with the ids a person searches the logs for
                # (ACCESSDRIFT_LOG_FORMAT=json makes them fields).
                log.info(
                    "alert %s to %s: %s",
                    row.alert_id,
                    _one_line(row.destination),
                    row.status,
                    extra=_delivery_fields(alerts.get(row.alert_id, {}), row, answer),
                )
            if answer.outcome != "sent":
                ids = [row.alert_id for row in rows]
                log.warning(
                    "delivery to %s of %d alerts: %s (HTTP %s): %s",
                    _one_line(outgoing.destination),
                    len(rows),
                    rows[0].status if rows else answer.outcome,
                    answer.http_status,
                    _one_line(answer.text),
                    extra={
                        **({"alert_id": ids[0]} if len(ids) == 1 else {}),
                        "alert_ids": ids,
                        "destination": outgoing.destination,
                        "status": rows[0].status if rows else answer.outcome,
                        "http_status": answer.http_status,
                    },
                )
            self._record(rows)
        self.counts["deliveries:waiting"] = self.dispatcher.waiting

    def _post_within_deadline(self, outgoing: Outgoing) -> Answer:
        """The service's answer, or a retry: whatever the post raises, and however slowly a
        service drips its answer, the notifier goes on (a socket timeout bounds each
        read, not the whole request)."""
        future = self._senders.submit(self.post, outgoing.destination, outgoing)
        try:
            return future.result(timeout=SEND_DEADLINE_SECONDS)
        except FutureTimeout:
            return Answer("retry", None, f"no whole answer within {SEND_DEADLINE_SECONDS:.0f} s")
        except Exception as error:  # a bug in rendering or sending: one delivery, not the worker
            log.exception("delivery to %s failed in accessdrift", _one_line(outgoing.destination))
            return Answer("retry", None, f"{type(error).__name__} in accessdrift")

    def _check_health(self) -> None:
        now = time.time()
        if now - self.health_checked < HEALTH_EVERY_SECONDS or not self.routing.health.to:
            return
        self.health_checked = now
        for notice in self.health.check(dict(self.counts), now):
            for name in self.routing.health.to:
                future = self._senders.submit(self._post_notice, name, notice.as_dict())
                try:
                    answer = future.result(timeout=SEND_DEADLINE_SECONDS)
                except Exception as error:
                    answer = Answer("retry", None, type(error).__name__)
                self.counts[f"health:{notice.state}"] += 1
                log.warning(
                    "health notice %s %s on %s to %s: %s (HTTP %s)",
                    notice.state,
                    notice.condition,
                    _one_line(notice.subject),
                    _one_line(name),
                    answer.outcome,
                    answer.http_status,
                )

    def _post_notice(self, name: str, notice: dict[str, Any]) -> Answer:
        destination = self.routing.destinations[name]
        return post_notice(destination, self.environ, notice, self.settings.topic_prefix)

    def _post(self, name: str, outgoing: Outgoing) -> Answer:
        destination = self.routing.destinations[name]
        return post_alerts(destination, self.environ, outgoing.alerts, outgoing.update)

    def _record(self, rows: list[Delivery]) -> None:
        if not rows:
            return
        token = f"deliveries:{time.time_ns()}"
        self.sink.insert_whole(
            DELIVERIES_TABLE, Columns.from_rows(DELIVERY_COLUMNS, delivery_rows(rows)), token
        )
        for row in rows:
            self.counts[f"deliveries:{row.status}"] += 1
        ended = {row.key for row in rows if row.status in TERMINAL}
        if ended:
            for started_at in self.open.values():
                for offset in list(started_at):
                    started_at[offset] -= ended
                    if not started_at[offset]:
                        del started_at[offset]

    def _commit(self, consumer: Consumer) -> None:
        offsets = []
        for partition, next_offset in self.read_up_to.items():
            started = self.open.get(partition)
            position = min(started) if started else next_offset
            offsets.append(TopicPartition(self.topic, partition, position))
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:  # lost to a rebalance: read again, folded by state
            log.warning("notifier: offsets not committed (%s)", _one_line(error))

    def _retrying(
        self, action: Callable[[], Any], errors: tuple[type[Exception], ...] = (ClickHouseError,)
    ) -> Any:
        """``action`` until it works (ClickHouse or the broker away for a while), with
        backoff; given up only when the notifier stops."""
        delay = 0.5
        while True:
            try:
                return action()
            except errors as error:
                if self.stopping.is_set():
                    raise
                log.error("notifier: %s, retrying in %.1fs", _one_line(error), delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, 30.0)
