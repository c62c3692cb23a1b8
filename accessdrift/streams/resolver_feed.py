"""The canonical records the batch ingest read, on to the resolver as soon as they are
read: each record to the resolver partition of every subject it names, in bundles,
between progress reports on every partition (``accessdrift/streams/progress.py``)."""

from collections import Counter
from collections.abc import Callable
from typing import Any

from confluent_kafka import Producer

from accessdrift.core.partitions import partition_of
from accessdrift.core.routing import subjects_of
from accessdrift.core.timeutil import to_micros
from accessdrift.kafka.producer import produce_when_room
from accessdrift.streams import resolve_records
from accessdrift.streams.bundles import pack_records, pack_records_chunks
from accessdrift.streams.progress import PROGRESS_SOURCE, InputProgress, Report, encode_report

AtEnd = Callable[[], dict[str, bool]]
"""Per source read: has it reached its partition's end (``Offsets.at_end``)."""


class ResolverFeed:
    """One batch at a time: ``add`` what a batch read, ``send`` it. One thread's."""

    def __init__(self, resolve_topic: str, partitions: int, counts: Counter[str]) -> None:
        self.resolve_topic = resolve_topic
        self.partitions = partitions
        self.counts = counts
        self.progress = InputProgress()
        self._records: list[tuple[str, bytes]] = []
        # Per record, the resolver partitions of the subjects it names.
        self._to: list[set[int]] = []
        self._before: Report = {}

    def add(self, record: str, topic: str, partition: int | None, decoded: dict[str, Any]) -> None:
        source = f"{record}|{topic}|{partition}"
        self._records.append((source, resolve_records.encode(decoded)))
        self._to.append(
            {partition_of(subject, self.partitions) for subject in subjects_of(record, decoded)}
        )
        if source not in self._before:
            self._before.update(self.progress.before({source}))
        self.progress.forwarded(source, to_micros(decoded["event_time"]))

    def send(self, producer: Producer, at_end: AtEnd) -> None:
        """What was added since the last send, to the partition of every subject it
        names; progress reports around the records they cover, on every partition."""
        records, to, before = self._records, self._to, self._before
        self._records, self._to, self._before = [], [], {}
        if not records:
            return
        before_report = (PROGRESS_SOURCE, encode_report(before))
        after_report = (PROGRESS_SOURCE, encode_report(self.progress.after(at_end())))
        by_partition: list[list[tuple[str, bytes]]] = [
            [before_report] for _ in range(self.partitions)
        ]
        for item, partitions in zip(records, to, strict=True):
            for partition in partitions:
                by_partition[partition].append(item)
        # The resolver first: detection does not wait for the analysts' copy.
        for partition, items in enumerate(by_partition):
            items.append(after_report)
            for bundle in pack_records_chunks(items):
                produce_when_room(producer, self.resolve_topic, bundle, partition=partition)
        # Copies: each is one record for one resolver partition ("resolver:records").
        self.counts["ingest:forwarded"] += sum(len(partitions) for partitions in to)

    def heartbeat(self, producer: Producer, at_end: dict[str, bool]) -> None:
        """Nothing to read: where each partition is, on every resolver partition (the
        resolver trusts "caught up" only while it hears it)."""
        report = self.progress.after(at_end)
        heartbeat = pack_records([(PROGRESS_SOURCE, encode_report(report))])
        for partition in range(self.partitions):
            produce_when_room(producer, self.resolve_topic, heartbeat, partition=partition)
