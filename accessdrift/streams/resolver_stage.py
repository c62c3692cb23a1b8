"""The resolver stage: canonical records in, messages keyed by identity out.

Its state is the ``subjects`` table (who owns each account and credential, where
its facts were last sent) behind a read cache, and per resolver partition its
input watermark and the subjects whose facts wait for an answer. Partitioned by
subject (``ACCESSDRIFT_RESOLVER_PARTITIONS``): the ingest sends a record to the
partition of each subject it names, and a chain that crosses partitions is
followed by ``sub``/``res`` messages on the resolve topic itself (``HOP_SOURCE``
bundles, accessdrift/core/resolver.py). On one partition nothing ever hops.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import MutableMapping, Sequence
from typing import Any, cast

import orjson
from faust.types import EventT, TableT

from accessdrift import catalog
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import DEFAULT_SHARING_WINDOW_US, Hop, Node, Outbound, Resolver
from accessdrift.core.routing import route_record
from accessdrift.core.watermark import Watermark
from accessdrift.errors import RecordError
from accessdrift.schemas.codec import codec_for
from accessdrift.streams import resolve_records
from accessdrift.streams.batching import ReadCache, WriteBack
from accessdrift.streams.bundles import pack_records_chunks, unpack_records
from accessdrift.streams.identity_bundles import IdentityBundles
from accessdrift.streams.offset_gaps import OffsetGaps
from accessdrift.streams.progress import PROGRESS_SOURCE, parse_report
from accessdrift.streams.stage_output import FindingOutput, StageOutput, read_state

log = logging.getLogger("accessdrift.detection")

# Bundle source of the messages between resolver partitions.
HOP_SOURCE = "hop"


def encode_hop(hop: Hop) -> bytes:
    return orjson.dumps([hop.subject, hop.message])


def decode_hop(value: bytes) -> Hop:
    # Our own topic, written by encode_hop: the message is as typed.
    subject, message = orjson.loads(value)
    return Hop(str(subject), message)


class ResolverStage:
    def __init__(
        self,
        subjects: TableT[str, Any],
        cache: ReadCache,
        new_watermark: Any,
        output: StageOutput,
        identities: IdentityBundles,
        resolve_topic: str,
        partitions: int,
        ownership_topic: str,
        counts: Counter[str],
        link_by_email: bool,
        sharing_window_us: int = DEFAULT_SHARING_WINDOW_US,
    ) -> None:
        self.subjects = subjects
        self.cache = cache
        self.new_watermark = new_watermark  # () -> Watermark, one per resolver partition
        self.watermarks: dict[int, Watermark] = {}
        # Per partition: subjects whose facts wait for an answer -> the least watermark
        # they came with. The partition's watermark stays behind them.
        self.waiting: dict[int, dict[str, int]] = {}
        self.output = output
        self.identities = identities
        self.resolve_topic = resolve_topic
        self.partitions = partitions
        self.ownership_topic = ownership_topic
        self.counts = counts
        self.gaps = OffsetGaps("resolver", counts)
        self.link_by_email = link_by_email
        self.sharing_window_us = sharing_window_us
        self.ownership_output = FindingOutput(
            "ownership", ownership_topic, catalog.RECORD["Ownership"], codec_for("Ownership")
        )

    def watermark_of(self, partition: int, wall_us: int) -> int | None:
        """What resolver partition ``partition`` tells the identities about event time."""
        watermark = self.watermarks.get(partition)
        value = watermark.current(wall_us) if watermark is not None else None
        waiting = self.waiting.get(partition)
        if value is not None and waiting:
            value = min(value, min(waiting.values()))
        return value

    async def handle_batch(self, events: Sequence[EventT[Any]], wall_us: int) -> None:
        store = WriteBack(
            lambda key: read_state(self.subjects, partition_of(key, self.partitions), key),
            self.cache,
        )
        node_store = cast(MutableMapping[str, Node], store)
        cores: dict[int, Resolver] = {}
        outbound: dict[int, list[Outbound]] = {}
        watermarks_before: dict[int, int | None] = {}
        hops: list[Hop] = []
        for event in events:
            partition = event.message.partition
            self.gaps.saw(event.message.topic, partition, event.message.offset)
            core = cores.get(partition)
            if core is None:
                core = cores[partition] = Resolver(
                    node_store,
                    link_by_email=self.link_by_email,
                    now_us=wall_us,
                    partitions=self.partitions,
                    partition=partition,
                    sharing_window_us=self.sharing_window_us,
                )
                if partition not in self.watermarks:
                    self.watermarks[partition] = self.new_watermark()
                # The batch's messages carry the watermark from before its records: one
                # taken after them would be ahead of the older records in the same batch
                # (a batch of a backlog spans hours of event time), and an identity would
                # judge a deadline before the deprovision waiting later in the bundle.
                # The watermark after the batch goes out once its bundles are delivered.
                core.watermark = watermarks_before[partition] = self.watermark_of(
                    partition, wall_us
                )
                outbound[partition] = []
            watermark = self.watermarks[partition]
            out = outbound[partition]
            for source, value in unpack_records(cast(bytes, event.message.value)):
                if source == PROGRESS_SOURCE:
                    watermark.report(parse_report(value), wall_us)
                    continue
                if source == HOP_SOURCE:
                    hop = decode_hop(value)
                    out += core.on_hop(hop.subject, hop.message)
                    self.counts["resolver:hops"] += 1
                    continue
                record_name = source.split("|", 1)[0]
                try:
                    record = resolve_records.decode(record_name, value)
                except (RecordError, KeyError) as error:
                    # The ingest forwards only what it decoded: a bug, not input.
                    log.error("resolver could not decode a %s record: %s", record_name, error)
                    continue
                watermark.observe(source, record["event_time"], wall_us)
                out += route_record(core, record_name, record)
                self.counts["resolver:records"] += 1
        # What this batch sends reaches the broker before the state that says it
        # was sent, and both before the batch is acked (accessdrift/streams/stage_output.py): a
        # worker killed in between reads the batch again and sends it again.
        ownership = 0
        for partition, core in cores.items():
            self.counts["identity:messages_sent"] += len(outbound[partition])
            self.identities.send(
                self.output, outbound[partition], watermarks_before[partition], partition
            )
            self.ownership_output.send(self.output, core.ownership)
            ownership += len(core.ownership)
            hops += core.hops
            self._note_waiting(core.pending)
        self.counts["findings:ownership"] += ownership
        self._send_hops(hops)
        await self.output.deliver()
        changed = store.take_changed()
        if changed:
            by_partition: dict[int, dict[str, Any]] = {}
            for key, value in changed.items():
                by_partition.setdefault(partition_of(key, self.partitions), {})[key] = value
            await self.output.write_state(self.subjects, by_partition)

    def _send_hops(self, hops: list[Hop]) -> None:
        by_partition: dict[int, list[tuple[str, bytes]]] = {}
        for hop in hops:
            by_partition.setdefault(partition_of(hop.subject, self.partitions), []).append(
                (HOP_SOURCE, encode_hop(hop))
            )
        for partition, items in by_partition.items():
            for bundle in pack_records_chunks(items):
                self.output.send(self.resolve_topic, bundle, partition=partition)
        self.counts["resolver:hops_sent"] += len(hops)

    def _note_waiting(self, pending: dict[str, int | None]) -> None:
        for subject, held in pending.items():
            waiting = self.waiting.setdefault(partition_of(subject, self.partitions), {})
            if held is None:
                waiting.pop(subject, None)
            else:
                waiting[subject] = held
        self.counts["resolver:waiting"] = sum(len(waiting) for waiting in self.waiting.values())

    def forget_partitions(self) -> None:
        """On a rebalance: another worker may own these partitions next and write them."""
        self.cache.clear()
        self.watermarks.clear()
        self.waiting.clear()
        self.gaps.forget()

    async def rebuild_waiting(self) -> None:
        """Once the table is recovered: the subjects whose facts still wait, from the state
        that survived (on one partition nothing ever waits)."""
        if self.partitions == 1:
            return
        self.waiting.clear()
        for count, (key, node) in enumerate(list(self.subjects.items()), start=1):
            waiting = node.get("q") if isinstance(node, dict) else None
            if waiting:
                held = min(int(entry[1]) for entry in waiting)
                self.waiting.setdefault(partition_of(key, self.partitions), {})[key] = held
            if count % 1000 == 0:
                await asyncio.sleep(0)
        self.counts["resolver:waiting"] = sum(len(waiting) for waiting in self.waiting.values())
