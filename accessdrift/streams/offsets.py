"""Where the batch ingest is in each partition it reads, and what it commits.

Two positions per partition: the consumer group's (how far detection has been fed,
on the broker) and the database's (``ingest_positions``: how far this database holds
the partition). They are the same but for a database new to a deployment the broker
already knows (a fresh data folder, a new server, a dropped database): then the
partition is read again from where the database stops, or from its start, into the
tables only; detection, fed before, is not fed twice (``forward_from``).
"""

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from accessdrift.errors import ClickHouseError
from accessdrift.sinks.positions import Positions
from accessdrift.sinks.rows import EVENT_TABLES
from accessdrift.streams.batch_sink import RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS

log = logging.getLogger("accessdrift.ingest")

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
        # ... or is loading the group's offsets on its new broker, or was not reached:
        # the same, and retriable by the protocol (a broker fault test saw a worker stop
        # on COORDINATOR_LOAD_IN_PROGRESS after the controller's node was killed).
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)

# Errors of a read of the group's offsets that pass once its coordinator is back.
COORDINATOR_AWAY = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._WAIT_COORD,
        KafkaError._TRANSPORT,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
    }
)

Partition = tuple[str, int]


class Offsets:
    """One ingest's partitions: where each started, from where its records go on to
    detection, how far behind it is, and the commit of what was handled.

    ``forward``: the canonical ingest (its group's offsets say what detection was fed);
    else the findings ingest (only the database says where to start). ``positions``
    reads the database's ``ingest_positions``; ``described`` names the database and the
    deployment in the log line of a refill."""

    def __init__(
        self,
        record_of_topic: Mapping[str, str],
        forward: bool,
        positions: Callable[[], Positions],
        counts: Counter[str],
        stopping: threading.Event,
        described: tuple[str, str],
    ) -> None:
        self.record_of_topic = record_of_topic
        self.forward = forward
        self.positions = positions
        self.counts = counts
        self.stopping = stopping
        self.described = described
        # Where each assigned partition started (its committed offset): a partition
        # not read since its assignment is at its end when that is its high offset.
        self.started_at: dict[Partition, int] = {}
        # Below this offset a partition was fed to detection before: rows only.
        self.forward_from: dict[Partition, int] = {}

    def fed_before(self, partition: Partition, offset: int) -> bool:
        """Detection had this record before: it goes to the tables only."""
        return offset < self.forward_from.get(partition, 0)

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The consumer's ``on_assign``: where each partition starts."""
        committed = self._committed(consumer, partitions)
        written = self._read_positions()
        if not self.forward:
            self._start_findings_at(consumer, committed, written)
            return
        rebuilt: list[str] = []
        moved = False
        for partition in committed:
            key = (partition.topic, partition.partition)
            self.forward_from[key] = max(partition.offset, 0)
            if partition.offset > self._high(consumer, partition):
                # The topic was recreated under offsets the group kept: read and forward
                # it all (what detection saw before is folded by its ids).
                log.warning(
                    "%s[%d]: the group's offset %d is past the partition's end: reading it all",
                    partition.topic,
                    partition.partition,
                    partition.offset,
                )
                self.forward_from[key] = 0
                partition.offset = OFFSET_BEGINNING
                self.started_at[key] = partition.offset
                moved = True
                continue
            held = written.get(key)
            if partition.offset > 0 and (held is None or held < partition.offset):
                rebuilt.append(partition.topic)
                partition.offset = OFFSET_BEGINNING if held is None else held
            self.started_at[key] = partition.offset
        if rebuilt:
            database, deployment = self.described
            log.warning(
                "database %s holds less than deployment %r has read: reading %d partitions "
                "of %s again, into the database only (detection saw them before)",
                database,
                deployment,
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
            self.started_at[key] = partition.offset
        consumer.assign(partitions)

    def commit(self, consumer: Consumer) -> None:
        """Commit what was handled. A rebalance can take the partitions away first: the
        next owner reads that batch again (at least once; the sinks and the core keep
        each event once), so a lost commit is not a reason to stop the worker."""
        try:
            # Explicit offsets: while a new database is filled again (above), the consumer's
            # position is behind what detection was fed, and the group must not go back.
            assignment = consumer.assignment()
            positions = consumer.position(assignment) if assignment else []
            offsets = [
                TopicPartition(
                    p.topic,
                    p.partition,
                    max(p.offset, self.forward_from.get((p.topic, p.partition), 0)),
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

    def record_lag(self, consumer: Consumer) -> None:
        """Records not yet read, per topic (``lag:<topic>`` for /stats/ and /metrics/),
        from the offsets librdkafka already knows: no request to the broker."""
        assignment = consumer.assignment()
        lag: Counter[str] = Counter()
        for partition in consumer.position(assignment) if assignment else []:
            _, high = consumer.get_watermark_offsets(partition, cached=True)
            position = partition.offset
            if position < 0:  # nothing fetched since the assignment: where it started
                position = self.started_at.get((partition.topic, partition.partition), -1)
            if position < 0:
                low, _ = consumer.get_watermark_offsets(partition, cached=True)
                position = max(low, 0)
            if high >= 0:
                lag[partition.topic] += max(0, high - position)
        for topic in self.record_of_topic:
            self.counts[f"lag:{topic}"] = lag.get(topic, 0)

    def at_end(self, consumer: Consumer) -> dict[str, bool]:
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
                position = self.started_at.get((partition.topic, partition.partition), -1)
            if position < 0:
                position = low  # never committed: read from the start
            position = max(position, low)  # retention may have deleted past it
            # What detection was fed counts: a partition read again for a new database only
            # is not behind for it.
            position = max(
                position, self.forward_from.get((partition.topic, partition.partition), 0)
            )
            source = f"{record}|{partition.topic}|{partition.partition}"
            at_end[source] = high >= 0 and position >= high
        return at_end

    @staticmethod
    def _high(consumer: Consumer, partition: TopicPartition) -> int:
        """The partition's high offset; as large as can be when it cannot be read (then
        nothing is clamped)."""
        try:
            _, high = consumer.get_watermark_offsets(partition, timeout=10)
        except KafkaException:
            return 2**62
        return int(high) if high >= 0 else 2**62

    def _committed(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        """The group's offsets for a new assignment. While its coordinator moves (its
        broker was killed) the question times out or is refused for a while: asked
        again, not raised, since an exception here stops the worker from inside the
        consumer's poll."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                committed = list(consumer.committed(partitions, timeout=30))
                # The answer can also come back whole with an error per partition (and
                # no offset): taken as it is, that partition would start over.
                away = next(
                    (
                        p.error
                        for p in committed
                        if p.error is not None and p.error.code() in COORDINATOR_AWAY
                    ),
                    None,
                )
                if away is None:
                    return committed
                raise KafkaException(away)
            except KafkaException as exception:
                error = exception.args[0] if exception.args else None
                # The codes, not KafkaError.retriable(): librdkafka builds these errors
                # from a bare code, and retriable() is False for every one of them.
                retriable = isinstance(error, KafkaError) and error.code() in COORDINATOR_AWAY
                if not retriable or self.stopping.is_set():
                    raise
                log.warning(
                    "the group's offsets could not be read, asking again in %.1fs: %s",
                    delay,
                    error,
                )
                self.counts["ingest:offset-reads-retried"] += 1
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _read_positions(self) -> Positions:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                return self.positions()
            except ClickHouseError as error:
                if self.stopping.is_set():
                    raise
                log.error("reading ingest positions failed, retrying in %.1fs: %s", delay, error)
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
