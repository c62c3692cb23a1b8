"""The identity stage: one identity's facts in, provisioning lag, alerts and
deprovisioning pairs out.

Its state is the ``identities`` table (one state per identity, partitioned by
identity) behind a read cache, a watermark per partition (the resolver's, as the
messages of that partition carry it) and the deadlines at which an identity must
be woken even when nothing arrives for it (a deprovision overdue).
"""

import asyncio
import heapq
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from faust.types import EventT, TableT

from accessdrift.core import detectors, identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.messages import TickMessage
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import Outbound
from accessdrift.core.state import Result
from accessdrift.streams.batching import ReadCache
from accessdrift.streams.bundles import pack_messages_chunks, unpack_messages
from accessdrift.streams.identity_bundles import IdentityBundles
from accessdrift.streams.offset_gaps import OffsetGaps
from accessdrift.streams.stage_output import FindingOutput, StageOutput, read_state

log = logging.getLogger("accessdrift.detection")


@dataclass
class Deadlines:
    """In memory: when each identity must be woken up, per identity partition (each
    partition has its own watermark). Rebuilt from the table after every recovery."""

    partitions: int
    heaps: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)

    def set(self, identity_id: str, deadline: int | None) -> None:
        if deadline is None:
            self.current.pop(identity_id, None)
            return
        if self.current.get(identity_id) != deadline:
            self.current[identity_id] = deadline
            heap = self.heaps.setdefault(partition_of(identity_id, self.partitions), [])
            heapq.heappush(heap, (deadline, identity_id))

    def clear(self) -> None:
        self.heaps.clear()
        self.current.clear()

    def due(self, partition: int, watermark: int) -> list[str]:
        heap = self.heaps.get(partition, [])
        due = []
        while heap and heap[0][0] <= watermark:
            deadline, identity_id = heapq.heappop(heap)
            if self.current.get(identity_id) == deadline:
                del self.current[identity_id]
                due.append(identity_id)
        return due


@dataclass
class StageWatermark:
    """One identity partition's view of event time: the resolver's watermark as the
    messages of that partition carry it. It has no clock of its own: the resolver
    broadcasts its watermark every tick, and moves it on by wall clock itself when
    every input is idle and caught up; while the resolver holds it back (a backlog
    behind), nothing here may run ahead of it.

    Per partition, not one for the stage: after a restart the consumer serves some
    partitions' backlog before others, and a watermark taken from a partition that
    is ahead made another partition's backlog look late (deadlines fired before the
    downstream deprovisions waiting in that backlog were read). Within a partition
    the resolver's messages come in the order it sent them, so the watermark a
    message carries holds for every message after it there.

    With the resolver on several partitions, each sends its own (``rp``): the least
    of them holds, and none until every resolver partition has been heard."""

    resolver_partitions: int = 1
    heard: dict[int, int] = field(default_factory=dict)
    value: int | None = None

    def observe(self, watermark: int | None, resolver_partition: int = 0) -> None:
        if watermark is None:
            return
        if watermark > self.heard.get(resolver_partition, watermark - 1):
            self.heard[resolver_partition] = watermark
        if len(self.heard) < self.resolver_partitions:
            return
        least = min(self.heard.values())
        if self.value is None or least > self.value:
            self.value = least


RESULT_RECORDS = (
    ("lags", "ProvisioningLag"),
    ("alerts", "Alert"),
    ("pairs", "DeprovisionPair"),
    ("ledger", "AccessInterval"),
)
"""Each list of a core ``Result`` and the record its rows are (``accessdrift/catalog.py``
gives the record's topic and key)."""


class IdentityStage:
    def __init__(
        self,
        identities: TableT[str, Any],
        cache: ReadCache,
        output: StageOutput,
        bundles: IdentityBundles,
        topic_name: Callable[[str], str],
        config: DetectionConfig,
        counts: Counter[str],
        resolver_partitions: int = 1,
    ) -> None:
        self.resolver_partitions = resolver_partitions
        self.identities = identities
        self.cache = cache
        self.output = output
        self.bundles = bundles
        self.findings = tuple(
            FindingOutput.of(result_list, record, topic_name)
            for result_list, record in RESULT_RECORDS
        )
        self.config = config
        self.counts = counts
        self.watermarks: dict[int, StageWatermark] = {}
        self.deadlines = Deadlines(bundles.partitions)
        self.gaps = OffsetGaps("identity", counts)

    async def handle_batch(self, events: Sequence[EventT[Any]], wall_us: int) -> None:
        states: dict[str, Any] = {}
        unchanged: dict[str, Any] = {}  # each key's state as the batch found it
        last_event: dict[str, EventT[Any]] = {}
        outputs: list[Result] = []
        onward: list[Outbound] = []
        for event in events:
            partition = event.message.partition
            self.gaps.saw(event.message.topic, partition, event.message.offset)
            stage_watermark = self.watermarks.get(partition)
            if stage_watermark is None:
                stage_watermark = self.watermarks[partition] = StageWatermark(
                    self.resolver_partitions
                )
            for key, message in unpack_messages(cast(bytes, event.message.value)):
                if message["t"] != "tick":
                    stage_watermark.observe(message.get("wm"), message.get("rp") or 0)
                if message["t"] == "wm":
                    continue  # the resolver's watermark, broadcast to every partition
                # Ticks come from the timer, not from messages_sent: counted apart, so that
                # done == sent means every message sent was handled.
                self.counts[
                    "identity:ticks" if message["t"] == "tick" else "identity:messages_done"
                ] += 1
                watermark = stage_watermark.value
                if key in states:
                    state = states[key]
                else:
                    cached = key in self.cache
                    state = (
                        self.cache.get(key)
                        if cached
                        else read_state(self.identities, partition, key)
                    )
                    unchanged[key] = state
                state, result = identity.handle(
                    key,
                    state,
                    message,
                    watermark if watermark is not None else 0,
                    wall_us,
                    self.config,
                )
                states[key] = state
                last_event[key] = event
                self.deadlines.set(key, result.next_deadline_us)
                outputs.append(result)
                onward += result.messages
        # Findings and onward messages reach the broker before the state that records
        # them ("raised", "moved"), and that state before the batch is acked: after a
        # kill the batch is read again against the state before it, and what it sends
        # again is folded by alert_id and the sinks' keys.
        output = self.output
        if onward:
            self.counts["identity:messages_sent"] += len(onward)
            # No watermark on messages between identities: each partition's comes from
            # the resolver only, in the order the resolver sent it.
            self.bundles.send(output, onward, None)
        for result in outputs:
            for finding in self.findings:
                finding.send(output, getattr(result, finding.result_list))
            self.counts["findings:lags"] += len(result.lags)
            self.counts["findings:pairs"] += len(result.pairs)
            self.counts["findings:alerts"] += len(result.alerts)
            self.counts["findings:ledger"] += len(result.ledger)
        await output.deliver()
        changed: dict[int, dict[str, Any]] = {}
        for key, state in states.items():
            if state is not unchanged.get(key):
                changed.setdefault(last_event[key].message.partition, {})[key] = state
            self.cache.put(key, state)
        if changed:
            await output.write_state(self.identities, changed)

    def forget_partitions(self) -> None:
        """On a rebalance: another worker may own these partitions next and write them,
        and a partition this worker gets (back) is read again from its committed offset,
        against the state its last owner wrote. A watermark heard here before, further on
        in that partition than the state, would judge the backlog read again as late and
        fire its deadlines before the deprovisions in it: each partition's watermark is
        heard afresh (the resolver broadcasts it every second)."""
        self.cache.clear()
        self.watermarks.clear()
        self.gaps.forget()

    def due_ticks(self) -> dict[int, list[bytes]]:
        """Per partition, the bundles of ticks for the identities whose deadline passed."""
        ticks: dict[int, list[bytes]] = {}
        known = [mark.value for mark in self.watermarks.values() if mark.value is not None]
        if known:
            # The event time every partition of this worker has reached, deadlines judged
            # up to it: what `make demo` and the tests wait for before they read findings.
            self.counts["identity:watermark_us"] = min(known)
        for partition, watermark in list(self.watermarks.items()):
            if watermark.value is None:
                continue
            due = self.deadlines.due(partition, watermark.value)
            if due:
                ticks[partition] = pack_messages_chunks(
                    [(key, TickMessage(t="tick", wm=None)) for key in due]
                )
        return ticks

    async def rebuild_deadlines(self) -> None:
        """Once the tables are recovered, before the streams resume: the deadlines of
        every identity this worker owns now, from the state that survived."""
        self.deadlines.clear()
        for count, (key, state) in enumerate(list(self.identities.items()), start=1):
            self.deadlines.set(key, deadline_of(key, state, self.config))
            if count % 1000 == 0:
                await asyncio.sleep(0)  # heartbeats go on: a big table is no rebalance
        log.info("deadlines rebuilt for %d identities", len(self.deadlines.current))


def deadline_of(identity_id: str, state: Any, config: DetectionConfig) -> int | None:
    try:
        return detectors.next_deadline(identity_id, state, config)
    except (KeyError, TypeError, IndexError) as error:
        log.error("cannot read the state of %s: %s", identity_id, error)
        return None
