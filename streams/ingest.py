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

Two positions per partition: the consumer group's (how far detection has been
fed, on the broker) and the database's (``ingest_positions``: how far this
database holds the partition). They are the same but for a database new to a
deployment the broker already knows (a fresh data folder, a new server, a
dropped database): then the partition is read again from where the database
stops, or from its start, into the tables only; detection, fed before, is not
fed twice.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from accessdrift import catalog
from accessdrift.core.partitions import partition_of
from accessdrift.core.routing import subjects_of
from accessdrift.core.timeutil import to_micros
from accessdrift.deadletter import classify, dead_letter_bytes
from accessdrift.errors import (
    ClickHouseError,
    EventInTheFuture,
    RecordError,
    RecordTooLarge,
    RowsRefused,
)
from accessdrift.settings import Settings
from schemas.codec import codec_for
from sinks.positions import POSITION_COLUMNS, POSITIONS_TABLE, Positions, position_rows
from sinks.rows import ALL_TABLES, EVENT_TABLES, Columns, dedup_token, to_columns
from streams import resolve_records
from streams.bundles import pack_records, pack_records_chunks
from streams.progress import PROGRESS_SOURCE, InputProgress, Report, encode_report
from streams.sink_health import SinkHealth
from streams.threads import StageThread

log = logging.getLogger("accessdrift.ingest")

RETRY_MAX_SECONDS = 30.0
IDLE_REPORT_SECONDS = 1.0
# Commit errors that mean "these partitions are not yours any more" (or nothing new).
LOST_COMMIT = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._NO_OFFSET,
        KafkaError._STATE,
        # The group coordinator moved (its broker died): the next commit, once it is
        # found again, covers these offsets; a batch read twice is folded downstream.
        KafkaError._WAIT_COORD,
    }
)

# A record read waits at most this long for more to join its bundle to the resolver.
FORWARD_LINGER_SECONDS = 0.005
# How long one wait for the first message of a batch lasts (the loop's idle tick).
IDLE_POLL_SECONDS = 0.1

Insert = Callable[[str, Columns, str], None]


@dataclass
class Pending:
    """What was read and forwarded since the last sink flush: rows per record kind (with
    their bytes, for the dedup token, and their messages, for dead letters) and the
    offsets they reach. Committed only once all of it is in ClickHouse."""

    by_record: dict[str, tuple[list[dict[str, Any]], list[bytes], list[Message]]] = field(
        default_factory=dict
    )
    written: Positions = field(default_factory=dict)
    count: int = 0
    since: float = 0.0


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
        # None when the insert reports its own outcome (SinkExecutor.insert_blocking,
        # on the ClickHouse thread, in the order the inserts ran).
        self.health = health
        self.insert = insert
        self.positions = positions
        self.resolve_topic = resolve_topic
        self.resolver_partitions = settings.resolver_partitions
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
        self.progress = InputProgress()
        # Where each assigned partition started (its committed offset): a partition
        # not read since its assignment is at its end when that is its high offset.
        self._started_at: dict[tuple[str, int], int] = {}
        # Below this offset a partition was fed to detection before: rows only.
        self._forward_from: dict[tuple[str, int], int] = {}
        super().__init__("batch-ingest" if forward else "findings-ingest", log)
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
                # As for the Faust consumer (streams/app.py): a killed worker's
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
            }
        )
        try:
            if self.forward:
                self._wait_for_topic(consumer, self.resolve_topic)
            consumer.subscribe(list(self.record_of_topic), on_assign=self._on_assign)
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
                if pending.count and (
                    pending.count >= batch_size or time.monotonic() - pending.since >= flush_seconds
                ):
                    self._sink(pending, producer)
                    self._commit(consumer)
                    pending = Pending()
                    if time.monotonic() - lag_recorded >= IDLE_REPORT_SECONDS:
                        self._record_lag(consumer)
                        lag_recorded = time.monotonic()
                elif (
                    not messages
                    and not pending.count
                    and time.monotonic() - reported >= IDLE_REPORT_SECONDS
                ):
                    if self.forward:
                        # Nothing to read: say where each partition is, every second (a
                        # heartbeat: the resolver trusts "caught up" only while it hears it).
                        report = self.progress.after(self._at_end(consumer))
                        heartbeat = pack_records([(PROGRESS_SOURCE, encode_report(report))])
                        for partition in range(self.resolver_partitions):
                            self._produce(
                                producer, self.resolve_topic, heartbeat, partition=partition
                            )
                        producer.poll(0)
                    self._record_lag(consumer)
                    reported = time.monotonic()
        finally:
            consumer.close()
            producer.flush(10)

    def _record_lag(self, consumer: Consumer) -> None:
        """Records not yet read, per topic (``lag:<topic>`` for /stats/ and /metrics/),
        from the offsets librdkafka already knows: no request to the broker."""
        assignment = consumer.assignment()
        lag: Counter[str] = Counter()
        for partition in consumer.position(assignment) if assignment else []:
            _, high = consumer.get_watermark_offsets(partition, cached=True)
            position = partition.offset
            if position < 0:  # nothing fetched since the assignment: where it started
                position = self._started_at.get((partition.topic, partition.partition), -1)
            if position < 0:
                low, _ = consumer.get_watermark_offsets(partition, cached=True)
                position = max(low, 0)
            if high >= 0:
                lag[partition.topic] += max(0, high - position)
        for topic in self.record_of_topic:
            self.counts[f"lag:{topic}"] = lag.get(topic, 0)

    def _commit(self, consumer: Consumer) -> None:
        """Commit what was handled. A rebalance can take the partitions away first: the
        next owner reads that batch again (at least once; the sinks and the core keep
        each event once), so a lost commit is not a reason to stop the worker."""
        try:
            # Explicit offsets: while a new database is filled again (below), the consumer's
            # position is behind what detection was fed, and the group must not go back.
            assignment = consumer.assignment()
            positions = consumer.position(assignment) if assignment else []
            offsets = [
                TopicPartition(
                    p.topic,
                    p.partition,
                    max(p.offset, self._forward_from.get((p.topic, p.partition), 0)),
                )
                for p in positions
                if p.offset >= 0
            ]
            if offsets:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            code = error.args[0].code() if error.args else None
            if code not in LOST_COMMIT:
                raise
            log.warning(
                "batch ingest: offsets not committed (%s), the batch will be read again", error
            )
            self.counts["ingest:commits-lost"] += 1

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        written = self._read_positions()
        if not self.forward:
            self._start_findings_at(consumer, committed, written)
            return
        rebuilt: list[str] = []
        moved = False
        for partition in committed:
            key = (partition.topic, partition.partition)
            self._forward_from[key] = max(partition.offset, 0)
            if partition.offset > self._high(consumer, partition):
                # The topic was recreated under offsets the group kept: read and forward
                # it all (what detection saw before is folded by its ids).
                log.warning(
                    "%s[%d]: the group's offset %d is past the partition's end: reading it all",
                    partition.topic,
                    partition.partition,
                    partition.offset,
                )
                self._forward_from[key] = 0
                partition.offset = OFFSET_BEGINNING
                self._started_at[key] = partition.offset
                moved = True
                continue
            held = written.get(key)
            if partition.offset > 0 and (held is None or held < partition.offset):
                rebuilt.append(partition.topic)
                partition.offset = OFFSET_BEGINNING if held is None else held
            self._started_at[key] = partition.offset
        if rebuilt:
            log.warning(
                "database %s holds less than deployment %r has read: reading %d partitions "
                "of %s again, into the database only (detection saw them before)",
                self.settings.database,
                self.settings.topic_prefix,
                len(rebuilt),
                ", ".join(sorted(set(rebuilt))),
            )
        if rebuilt or moved:
            consumer.assign(committed)

    def _start_findings_at(
        self, consumer: Consumer, partitions: list[TopicPartition], written: Positions
    ) -> None:
        """Findings only go into the database, so the database says where to start: its
        position per partition (a new database, or a group new to a deployment that
        read them before in the canonical group, starts at the beginning or where the
        database stops, never re-reading what it holds)."""
        for partition in partitions:
            key = (partition.topic, partition.partition)
            held = written.get(key)
            if held is None or held > self._high(consumer, partition):
                # Nothing held, or the topic was recreated under the database's offsets.
                partition.offset = OFFSET_BEGINNING
            else:
                partition.offset = held
            self._started_at[key] = partition.offset
        consumer.assign(partitions)

    @staticmethod
    def _high(consumer: Consumer, partition: TopicPartition) -> int:
        """The partition's high offset; as large as can be when it cannot be read (then
        nothing is clamped)."""
        try:
            _, high = consumer.get_watermark_offsets(partition, timeout=10)
        except KafkaException:
            return 2**62
        return int(high) if high >= 0 else 2**62

    def _read_positions(self) -> Positions:
        delay = 0.5
        while True:
            try:
                return self.positions()
            except ClickHouseError as error:
                if self.stopping.is_set():
                    raise
                log.error("reading ingest positions failed, retrying in %.1fs: %s", delay, error)
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _at_end(self, consumer: Consumer) -> dict[str, bool]:
        """Per forwarded source this consumer reads: has it read to the partition's end?"""
        at_end: dict[str, bool] = {}
        assignment = consumer.assignment()
        positions = consumer.position(assignment) if assignment else []
        for partition in positions:
            record = self.record_of_topic.get(partition.topic)
            if record not in EVENT_TABLES:
                continue
            low, high = consumer.get_watermark_offsets(partition, cached=True)
            if high < 0:
                try:
                    low, high = consumer.get_watermark_offsets(partition, timeout=2)
                except KafkaException:
                    low, high = -1, -1
            position = partition.offset
            if position < 0:
                position = self._started_at.get((partition.topic, partition.partition), -1)
            if position < 0:
                position = low  # never committed: read from the start
            position = max(position, low)  # retention may have deleted past it
            # What detection was fed counts: a partition read again for a new database only
            # is not behind for it.
            position = max(
                position, self._forward_from.get((partition.topic, partition.partition), 0)
            )
            source = f"{record}|{partition.topic}|{partition.partition}"
            at_end[source] = high >= 0 and position >= high
        return at_end

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
        if not pending.count:
            pending.since = time.monotonic()
        pending.count += len(messages)
        by_record = pending.by_record
        forwarded: list[tuple[str, bytes]] = []
        # Per forwarded record, the resolver partitions of the subjects it names.
        forwarded_to: list[set[int]] = []
        before: Report = {}
        written = pending.written
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
            written[key] = offset + 1
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
            records, payloads, sources_of = by_record.setdefault(record, ([], [], []))
            records.append(decoded)
            payloads.append(value)
            sources_of.append(message)
            if record in EVENT_TABLES and offset < self._forward_from.get(key, 0):
                self.counts["ingest:rebuilt"] += 1
            elif record in EVENT_TABLES:
                source = f"{record}|{topic}|{message.partition()}"
                forwarded.append((source, resolve_records.encode(decoded)))
                forwarded_to.append(
                    {
                        partition_of(subject, self.resolver_partitions)
                        for subject in subjects_of(record, decoded)
                    }
                )
                if source not in before:
                    before.update(self.progress.before({source}))
                self.progress.forwarded(source, to_micros(decoded["event_time"]))
        if forwarded:
            # Each record to the partition of every subject it names; progress reports
            # around the records they cover, on every partition (streams/progress.py).
            before_report = (PROGRESS_SOURCE, encode_report(before))
            after_report = (
                PROGRESS_SOURCE,
                encode_report(self.progress.after(self._at_end(consumer))),
            )
            by_partition: list[list[tuple[str, bytes]]] = [
                [before_report] for _ in range(self.resolver_partitions)
            ]
            for item, partitions in zip(forwarded, forwarded_to, strict=True):
                for partition in partitions:
                    by_partition[partition].append(item)
            # The resolver first: detection does not wait for the analysts' copy.
            for partition, items in enumerate(by_partition):
                items.append(after_report)
                for bundle in pack_records_chunks(items):
                    self._produce(producer, self.resolve_topic, bundle, partition=partition)
            # Copies: each is one record for one resolver partition ("resolver:records").
            self.counts["ingest:forwarded"] += sum(len(to) for to in forwarded_to)
        producer.poll(0)

    def _sink(self, pending: Pending, producer: Producer) -> None:
        """The pending rows into ClickHouse, then every bundle acknowledged by the broker:
        after this the offsets read so far may be committed."""
        for record, (records, payloads, sources_of) in pending.by_record.items():
            spec = ALL_TABLES[record]
            refused = self._insert_until_done(
                spec.table, to_columns(spec, records), dedup_token(spec.table, payloads)
            )
            for index, refusal in refused:
                self._dead_letter(producer, sources_of[index], refusal)
            self.counts[f"sink:{spec.table}"] += len(records) - len(refused)
        written = pending.written
        if written:
            # Unique per write (the table keeps the latest row per partition).
            token = f"positions:{time.time_ns()}"
            self._insert_until_done(
                POSITIONS_TABLE, Columns.from_rows(POSITION_COLUMNS, position_rows(written)), token
            )
        remaining = producer.flush(60)
        if remaining:
            raise RuntimeError(f"{remaining} bundles not acknowledged by the broker")

    def _insert_until_done(
        self, table: str, batch: Columns, token: str
    ) -> list[tuple[int, RowsRefused]]:
        """Retry with backoff until ClickHouse takes the batch: the stream waits, loses
        nothing. Rows ClickHouse refuses for their values (retrying cannot help) are
        found by halving the batch, each half under a token derived from the batch's
        (a replay halves the same way); the others go in, and the refused are returned
        by index, for the dead letters."""
        delay = 0.5
        while True:
            try:
                self.insert(table, batch, token)
                if self.health is not None:
                    self.health.succeeded()
                return []
            except RowsRefused as error:
                size = len(batch)
                if size == 1:
                    return [(0, error)]
                middle = size // 2
                first = self._insert_until_done(table, batch.slice(0, middle), f"{token}:a")
                second = self._insert_until_done(table, batch.slice(middle, size), f"{token}:b")
                return first + [(index + middle, problem) for index, problem in second]
            except ClickHouseError as error:
                if self.stopping.is_set():
                    raise
                # Back-pressure: the stream waits here, its inputs stay in Kafka; nothing
                # piles up in memory while ClickHouse is away.
                if self.health is not None:
                    self.health.failed(error)
                self.counts["ingest:insert_retries"] += 1
                log.error("insert into %s failed, retrying in %.1fs: %s", table, delay, error)
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    @staticmethod
    def _produce(producer: Producer, topic: str, value: bytes, **options: Any) -> None:
        while True:
            try:
                producer.produce(topic, value=value, **options)
                return
            except BufferError:  # the local queue is full: let some deliveries out first
                producer.poll(0.1)

    def _dead_letter(self, producer: Producer, message: Message, error: Exception) -> None:
        value = message.value()
        key = message.key()
        payload = dead_letter_bytes(
            source_topic=message.topic() or "",
            partition=message.partition(),
            offset=message.offset(),
            key=key if isinstance(key, bytes) else None,
            value=value if isinstance(value, bytes) else b"",
            error=str(error),
            error_type=error.error_type if isinstance(error, RecordError) else classify(error),
            stage="sink",
        )
        self._produce(
            producer, self.deadletter_topic, payload, key=(message.topic() or "").encode()
        )
        self.counts["ingest:dead-lettered"] += 1
