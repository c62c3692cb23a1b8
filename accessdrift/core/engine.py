"""Both stages wired in memory: the core as one function of an event sequence.

The Faust agents run the same functions across topics and partitions; this
engine runs them in one process, for the table-driven tests, the order
independence tests and the per-stage profile of the benchmarks.
"""

import heapq
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.messages import TickMessage
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import Hop, Node, Outbound, Resolver
from accessdrift.core.routing import route_record, subjects_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import to_micros
from accessdrift.core.watermark import Watermark


@dataclass
class Findings:
    """The latest version of every lag row and alert, by id, as a sink would keep them."""

    lags: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ownership: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    lag_emissions: int = 0
    alert_emissions: int = 0

    def add(self, result: Result) -> None:
        for row in result.lags:
            self.lags[row["lag_id"]] = row
            self.lag_emissions += 1
        for alert in result.alerts:
            self.alerts[alert["alert_id"]] = alert
            self.alert_emissions += 1
        for pair in result.pairs:
            self.pairs[pair["lag_id"]] = pair
        for interval in result.ledger:
            self.ledger[interval["interval_id"]] = interval

    def add_ownership(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.ownership[row["subject"]] = row

    def comparable(
        self,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Everything but processing times, sorted: equal when two runs found the same. The
        ledger as a sink keeps it: the latest version of each interval, those not removed."""
        lags = sorted(
            (
                tuple((key, value) for key, value in sorted(row.items()) if key != "detected_at")
                for row in self.lags.values()
            ),
            key=repr,
        )
        alerts = sorted(
            (
                tuple((key, value) for key, value in sorted(alert.items()) if key != "detected_at")
                for alert in self.alerts.values()
            ),
            key=repr,
        )
        ledger = sorted(
            (
                tuple((key, value) for key, value in sorted(row.items()) if key != "updated_at")
                for row in self.ledger.values()
                if not row["removed"]
            ),
            key=repr,
        )
        return lags, alerts, ledger


class Engine:
    def __init__(
        self,
        config: DetectionConfig,
        allowed_lateness_us: int = 0,
        idle_us: int = 5_000_000,
        link_by_email: bool = False,
        partitions: int = 0,
        schedule_seed: int = 0,
        resolver_partitions: int = 1,
    ) -> None:
        """``partitions`` > 0 delivers as Kafka does: in order within an identity
        partition, in any order across partitions, with the resolver running ahead
        of the identity stage (seeded random schedule). 0: one queue, in order.

        ``resolver_partitions`` > 1 (with ``partitions``) partitions the resolver by
        subject as the worker does: each record goes to the partition of every subject
        it names, and the partitions' messages to each other (``Hop``) queue behind
        the records on the receiving partition; the partitions take turns at random,
        so a chain's answer can come long after the facts that wait for it."""
        self.config = config
        self.partitions = partitions
        self.schedule = random.Random(schedule_seed)
        self.pending: list[deque[Outbound]] = [deque() for _ in range(partitions)]
        self.speeds = [1.0] * partitions
        self.paused = 0
        self.subjects: dict[str, Node] = {}
        self.resolver = Resolver(
            self.subjects, link_by_email, sharing_window_us=config.sharing_window_us
        )
        self.resolver_partitions = resolver_partitions
        # Each partition its own store: a node read on the wrong partition is a KeyError.
        self.resolvers = [
            Resolver(
                {},
                link_by_email,
                partitions=resolver_partitions,
                partition=partition,
                sharing_window_us=config.sharing_window_us,
            )
            for partition in range(resolver_partitions)
        ]
        self.resolve_queues: list[deque[tuple[Any, ...]]] = [
            deque() for _ in range(resolver_partitions)
        ]
        # Event times of records still queued for a resolver partition, and of facts
        # waiting for an answer: the identity stage's watermark stays behind both.
        self.queued_times: list[tuple[int, int]] = []
        self.done_sequences: set[int] = set()
        self.sequence = 0
        self.waiting: dict[str, int] = {}
        self.identities: dict[str, State] = {}
        self.watermark = Watermark(allowed_lateness_us, idle_us)
        self.deadlines: dict[str, int] = {}
        self.findings = Findings()

    def feed(
        self, record_name: str, record: Mapping[str, Any], wall_us: int, source: str | None = None
    ) -> None:
        self.watermark.observe(source or record_name, to_micros(record["event_time"]), wall_us)
        if self.resolver_partitions > 1:
            self._feed_partitioned(record_name, record, wall_us)
            return
        self.resolver.now_us = wall_us
        outbound = route_record(self.resolver, record_name, record)
        self.findings.add_ownership(self.resolver.ownership)
        self.resolver.ownership.clear()
        if self.partitions:
            self._enqueue(outbound)
            self._identities_step(wall_us)
        else:
            self._deliver(outbound, wall_us)

    def _feed_partitioned(self, record_name: str, record: Mapping[str, Any], wall_us: int) -> None:
        partitions = {
            partition_of(subject, self.resolver_partitions)
            for subject in subjects_of(record_name, record)
        }
        event_us = to_micros(record["event_time"])
        for partition in sorted(partitions):
            self.sequence += 1
            heapq.heappush(self.queued_times, (event_us, self.sequence))
            self.resolve_queues[partition].append(("record", self.sequence, record_name, record))
        self._resolve_some(self.schedule.randint(0, 3), wall_us)
        self._identities_step(wall_us)

    def _identities_step(self, wall_us: int) -> None:
        """The identity stage sometimes falls behind by whole batches of the resolver's
        output, as a busy worker does, then catches up."""
        if self.paused:
            self.paused -= 1
        elif self.schedule.random() < 0.005:
            self.paused = self.schedule.randint(10, 1000)
        else:
            self._deliver_some(self.schedule.randint(1, 4), wall_us)

    def _resolve_some(self, count: int | None, wall_us: int) -> None:
        handled = 0
        while count is None or handled < count:
            busy = [index for index, queue in enumerate(self.resolve_queues) if queue]
            if not busy:
                return
            partition = self.schedule.choice(busy)
            item = self.resolve_queues[partition].popleft()
            resolver = self.resolvers[partition]
            resolver.now_us = wall_us
            resolver.watermark = self._identity_watermark(wall_us)
            if item[0] == "record":
                self.done_sequences.add(item[1])
                outbound = route_record(resolver, item[2], item[3])
            else:
                outbound = resolver.on_hop(item[1], item[2])
            self.findings.add_ownership(resolver.ownership)
            resolver.ownership.clear()
            self._send_hops(resolver.hops)
            resolver.hops.clear()
            for subject, held in resolver.pending.items():
                if held is None:
                    self.waiting.pop(subject, None)
                else:
                    self.waiting[subject] = held
            resolver.pending.clear()
            self._enqueue(outbound)
            handled += 1

    def _send_hops(self, hops: list[Hop]) -> None:
        for hop in hops:
            partition = partition_of(hop.subject, self.resolver_partitions)
            self.resolve_queues[partition].append(("hop", hop.subject, hop.message))

    def _identity_watermark(self, wall_us: int) -> int | None:
        watermark = self.watermark.current(wall_us)
        if watermark is None or self.resolver_partitions == 1:
            return watermark
        while self.queued_times and self.queued_times[0][1] in self.done_sequences:
            heapq.heappop(self.queued_times)
        if self.queued_times:
            watermark = min(watermark, self.queued_times[0][0] - self.watermark.allowed_lateness_us)
        if self.waiting:
            watermark = min(watermark, min(self.waiting.values()))
        return watermark

    def drain(self, wall_us: int) -> None:
        """Deliver everything still in flight (partitioned mode)."""
        while True:
            self._resolve_some(None, wall_us)
            self._deliver_some(None, wall_us)
            if not any(self.resolve_queues) and not any(self.pending):
                return

    def tick(self, wall_us: int) -> None:
        """What a timer does: wake the identities whose deadline the watermark has passed."""
        if self.partitions:
            self.drain(wall_us)
        watermark = self._identity_watermark(wall_us)
        if watermark is None:
            return
        due = [key for key, deadline in self.deadlines.items() if deadline <= watermark]
        ticks = [Outbound(key, TickMessage(t="tick")) for key in sorted(due)]
        if self.partitions:
            self._enqueue(ticks)
            self._deliver_some(None, wall_us)
        else:
            self._deliver(ticks, wall_us)

    def _enqueue(self, outbound: list[Outbound]) -> None:
        for item in outbound:
            partition = partition_of(item.identity_id, self.partitions)
            self.pending[partition].append(item)

    def _deliver_some(self, count: int | None, wall_us: int) -> None:
        delivered = 0
        while count is None or delivered < count:
            busy = [index for index, queue in enumerate(self.pending) if queue]
            if not busy:
                return
            if self.schedule.random() < 0.02:  # now and then another partition lags
                self.speeds = [self.schedule.expovariate(1.0) for _ in self.pending]
            weights = [self.speeds[index] + 1e-9 for index in busy]
            partition = self.schedule.choices(busy, weights)[0]
            item = self.pending[partition].popleft()
            self._enqueue(self._handle(item, wall_us))
            delivered += 1

    def _deliver(self, outbound: list[Outbound], wall_us: int) -> None:
        queue = deque(outbound)
        while queue:
            queue.extend(self._handle(queue.popleft(), wall_us))

    def _handle(self, item: Outbound, wall_us: int) -> list[Outbound]:
        watermark = self._identity_watermark(wall_us)
        state, result = identity.handle(
            item.identity_id,
            self.identities.get(item.identity_id),
            item.message,
            watermark if watermark is not None else 0,
            wall_us,
            self.config,
        )
        self.identities[item.identity_id] = state
        if result.next_deadline_us is None:
            self.deadlines.pop(item.identity_id, None)
        else:
            self.deadlines[item.identity_id] = result.next_deadline_us
        self.findings.add(result)
        return result.messages
