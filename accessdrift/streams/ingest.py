"""The canonical topics in (decode, write to ClickHouse, hand to the resolver), and
the findings out to ClickHouse.

Every input event passes here, so this stage cannot afford what a Faust stream
spends per message (about 250 µs, measured: it held the worker to ~1,700 events/s,
and the one Faust fetcher served the canonical backlog before the resolver's
topic, so detection waited behind ingestion). It reads with librdkafka in
batches on its own thread and sends each batch on as bundles to the resolve
topic; the Faust agents keep the internal topics, where one message is a bundle.

At least once: a batch's offsets are committed after its rows are in ClickHouse
and its bundles are acknowledged by the broker. A replay after a crash is
absorbed downstream: the tables are ReplacingMergeTree by event id and the
detection core keeps each fact once by its id.

The parts (beside this file): ``resolver_feed.py`` forwards to the resolver,
``batch_sink.py`` buffers and inserts the rows, ``offsets.py`` keeps
where each partition is (the group's position and the database's) and commits,
``deadletters.py`` sends what does not decode or ClickHouse refuses. This
module reads, and keeps their order: forward first, rows on flush, every send
acknowledged, then the commit.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Message, Producer

from accessdrift import catalog, errors
from accessdrift.errors import EventInTheFuture, RecordError, RecordTooLarge
from accessdrift.kafka.producer import DeliveryCheck
from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from accessdrift.sinks.positions import Positions
from accessdrift.sinks.rows import ALL_TABLES, EVENT_TABLES
from accessdrift.streams.batch_sink import BatchSink, Insert, PendingRows
from accessdrift.streams.deadletters import produce_dead_letter
from accessdrift.streams.offsets import Offsets
from accessdrift.streams.resolver_feed import ResolverFeed
from accessdrift.streams.sink_health import SinkHealth
from accessdrift.streams.threads import StageThread

log = logging.getLogger("accessdrift.ingest")

IDLE_REPORT_SECONDS = 1.0
# A record read waits at most this long for more to join its bundle to the resolver.
FORWARD_LINGER_SECONDS = 0.005
# How long one wait for the first message of a batch lasts (the loop's idle tick).
IDLE_POLL_SECONDS = 0.1

Pending = PendingRows[Message]
"""What was read and forwarded since the last sink flush: committed only once all of
it is in ClickHouse."""


class BatchIngest(StageThread):
    """A thread: topics through a batch consumer, into ClickHouse. Two run in a worker:
    the canonical topics (``forward``: their records also on to the resolver, group
    ``<app id>.canonical``) and the findings (``drift.*`` and the silences, group
    ``<app id>.findings``), so that an alert's row never waits behind a backlog of
    input events in the same consumer's queue."""

    def __init__(
        self,
        settings: Settings,
        insert: Insert,
        positions: Callable[[], Positions],
        resolve_topic: str,
        counts: Counter[str],
        health: SinkHealth | None = None,
        forward: bool = True,
    ) -> None:
        self.settings = settings
        self.resolve_topic = resolve_topic
        self.counts = counts
        self.forward = forward
        if forward:
            self.group = settings.canonical_group
            self.record_of_topic = {
                settings.topic(spec.topic): record for record, spec in catalog.INPUTS.items()
            }
        else:
            self.group = settings.findings_group
            self.record_of_topic = {
                settings.topic(spec.topic): record for record, spec in catalog.FINDINGS.items()
            }
        self.deadletter_topic = settings.topic(catalog.DEADLETTER)
        super().__init__("batch-ingest" if forward else "findings-ingest", log)
        self.deliveries = DeliveryCheck()
        self.feed = ResolverFeed(resolve_topic, settings.resolver_partitions, counts)
        # health: None when the insert reports its own outcome (SinkExecutor.insert_blocking,
        # on the ClickHouse thread, in the order the inserts ran).
        self.sink = BatchSink(
            insert, self.stopping, counts, log, retries="ingest:insert_retries", health=health
        )
        self.offsets = Offsets(
            self.record_of_topic,
            forward,
            positions,
            counts,
            self.stopping,
            (settings.database, settings.topic_prefix),
        )
        # Counters are read by the web views on the event loop: create every key now so
        # that this thread only ever updates existing ones.
        for topic, record in self.record_of_topic.items():
            counts[f"sink:{ALL_TABLES[record].table}"] += 0
            counts[f"lag:{topic}"] += 0
        counts["ingest:insert_retries"] += 0
        counts["ingest:dead-lettered"] += 0
        counts["ingest:forwarded"] += 0  # records handed to the resolver
        counts["ingest:rebuilt"] += 0
        counts["ingest:commits-lost"] += 0
        counts["ingest:offset-reads-retried"] += 0

    def _consume(self) -> None:
        config = self.settings.kafka_client_config()
        consumer = Consumer(
            {
                **config,
                # A new resolver layout is a new group: it reads the canonical topics
                # from their start and so rebuilds the resolver's state (docs/operations.md).
                "group.id": self.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                # As for the Faust consumer (accessdrift/streams/app.py): a killed worker's
                # partitions move after 15 s, not librdkafka's default of 45.
                "session.timeout.ms": 15000,
            }
        )
        producer = Producer(
            {
                **config,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "compression.type": "lz4",
                # Every bundle and dead letter reported: one lost stops the commit.
                "on_delivery": self.deliveries.on_delivery,
            }
        )
        try:
            if self.forward:
                self._wait_for_topic(consumer, self.resolve_topic)
            consumer.subscribe(list(self.record_of_topic), on_assign=self.offsets.on_assign)
            batch_size = self.settings.sink_batch_size
            flush_seconds = self.settings.sink_flush_interval.total_seconds()
            pending = Pending()
            reported = lag_recorded = time.monotonic()
            while not self.stopping.is_set():
                messages = self._next_messages(consumer, batch_size - pending.count, pending)
                if messages:
                    # Detection first: what was read goes on to the resolver now, and
                    # its rows wait for the sink's batch (docs/architecture.md).
                    self._take(messages, producer, consumer, pending)
                    reported = time.monotonic()
                if pending.due(batch_size, flush_seconds):
                    self._sink(pending, producer)
                    self.offsets.commit(consumer)
                    pending = Pending()
                    if time.monotonic() - lag_recorded >= IDLE_REPORT_SECONDS:
                        self.offsets.record_lag(consumer)
                        lag_recorded = time.monotonic()
                elif (
                    not messages
                    and not pending.count
                    and time.monotonic() - reported >= IDLE_REPORT_SECONDS
                ):
                    if self.forward:
                        # Nothing to read: say where each partition is, every second (a
                        # heartbeat: the resolver trusts "caught up" only while it hears it).
                        self.feed.heartbeat(producer, self.offsets.at_end(consumer))
                        producer.poll(0)
                    self.offsets.record_lag(consumer)
                    reported = time.monotonic()
        finally:
            consumer.close()
            producer.flush(10)

    def _wait_for_topic(self, consumer: Consumer, topic: str) -> None:
        """Faust declares the resolve topic as it starts: bundles wait until it exists."""
        while not self.stopping.is_set():
            metadata = consumer.list_topics(timeout=5)
            if topic in metadata.topics and not metadata.topics[topic].error:
                return
            time.sleep(0.2)

    def _next_messages(self, consumer: Consumer, room: int, pending: Pending) -> list[Message]:
        """What is there to read now, at most ``room`` messages. ``consume`` waits for
        its whole count or its timeout: under load the count is there at once; at a
        trickle, the first message wakes the loop (``poll``) and what follows it within
        ``FORWARD_LINGER_SECONDS`` joins it, so a record waits milliseconds for the
        resolver, not the sink's flush interval."""
        if room <= 0:
            return []
        if pending.count:
            # Rows wait for the sink: read until their flush is due, no longer.
            due = pending.since + self.settings.sink_flush_interval.total_seconds()
            wait = max(0.0, min(IDLE_POLL_SECONDS, due - time.monotonic()))
        else:
            wait = IDLE_POLL_SECONDS
        first = consumer.poll(wait)
        if first is None:
            return []
        if room == 1:
            return [first]
        rest = consumer.consume(num_messages=room - 1, timeout=FORWARD_LINGER_SECONDS)
        return [first, *rest]

    def _handle(self, messages: list[Message], producer: Producer, consumer: Consumer) -> None:
        """One batch whole: forwarded, written to ClickHouse, acknowledged by the broker."""
        pending = Pending()
        self._take(messages, producer, consumer, pending)
        self._sink(pending, producer)

    def _take(
        self, messages: list[Message], producer: Producer, consumer: Consumer, pending: Pending
    ) -> None:
        """Decode ``messages``, send the canonical records on to the resolver at once, and
        keep their rows in ``pending`` for the sink. What does not decode is a dead letter."""
        pending.taking(len(messages))
        latest_allowed = datetime.now(UTC) + self.settings.future_tolerance
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("canonical consumer: %s", error.str())
                continue
            topic = message.topic() or ""
            key = (topic, message.partition() or 0)
            offset = message.offset() or 0
            pending.written[key] = offset + 1
            record = self.record_of_topic[topic]
            value = message.value()
            try:
                if not isinstance(value, bytes):
                    raise RecordError("empty record (tombstone or null value)")
                if len(value) > self.settings.max_record_bytes:
                    raise RecordTooLarge(
                        f"record of {len(value)} bytes over the cap of "
                        f"{self.settings.max_record_bytes}"
                    )
                decoded = codec_for(record).decode_dict(value)
                if record in EVENT_TABLES and decoded["event_time"] > latest_allowed:
                    raise EventInTheFuture(
                        f"event_time {decoded['event_time'].isoformat()} is more than "
                        f"{self.settings.future_tolerance} ahead of this machine's clock "
                        "(ACCESSDRIFT_FUTURE_TOLERANCE); send it again once it is not"
                    )
            except RecordError as problem:
                self._dead_letter(producer, message, problem)
                continue
            pending.add(record, decoded, value, message)
            if record in EVENT_TABLES and self.offsets.fed_before(key, offset):
                self.counts["ingest:rebuilt"] += 1
            elif record in EVENT_TABLES:
                self.feed.add(record, topic, message.partition(), decoded)
        self.feed.send(producer, lambda: self.offsets.at_end(consumer))
        producer.poll(0)

    def _sink(self, pending: Pending, producer: Producer) -> None:
        """The pending rows into ClickHouse, then every bundle acknowledged by the broker:
        after this the offsets read so far may be committed."""
        self.sink.flush(
            pending, lambda message, refusal: self._dead_letter(producer, message, refusal)
        )
        # As long as librdkafka keeps trying (its message timeout): a broker failover
        # with too few replicas in sync holds writes for a while, and the worker waits
        # rather than stopping. Only a stop cuts the wait short, and then nothing is
        # committed.
        remaining = producer.flush(1.0)
        while remaining and not self.stopping.is_set():
            remaining = producer.flush(1.0)
        if remaining:
            raise errors.KafkaError(f"{remaining} bundles not acknowledged by the broker")
        # A record librdkafka gave up on leaves its queue too: the thread stops (the
        # worker's watchdog with it) before the commit, and the batch is read again.
        self.deliveries.raise_if_failed("bundles and dead letters of the batch ingest")

    def _dead_letter(self, producer: Producer, message: Message, error: Exception) -> None:
        produce_dead_letter(producer, self.deadletter_topic, message, error, stage="sink")
        self.counts["ingest:dead-lettered"] += 1
