"""The detection agents: thin shells that decode, call the core and route.

    canonical topics --(batch ingest, streams/ingest.py)--> accessdrift-resolve (1 partition)
    resolver agent: owners of accounts and credentials (table "subjects")
        --(keyed by identity)--> accessdrift-identity (N partitions: group by identity)
    identity agent: one identity's facts (table "identities") -> drift.lag, drift.alerts

The resolver has one partition because resolving a key can take a credential, its
account and that account's identity, which no single key partitions together;
it does little work per record. The identity stage, where the detections run,
scales out by identity.
"""

import asyncio
import heapq
import logging
import os
import time
from collections import Counter
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.types import EventT

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.resolver import Node, Outbound, Resolver
from accessdrift.core.routing import route_record
from accessdrift.core.state import Result
from accessdrift.core.timeutil import MICROS, span_micros, to_micros
from accessdrift.core.watermark import Watermark
from accessdrift.errors import RecordError
from schemas.codec import codec_for
from streams import topics
from streams.batching import DeliveredTable, ReadCache, WriteBack, as_current, delivered
from streams.bundles import (
    identity_partition,
    pack_messages,
    pack_messages_chunks,
    unpack_messages,
    unpack_records,
)
from streams.progress import PROGRESS_SOURCE, parse_report
from streams.settings import Settings

log = logging.getLogger("accessdrift.detection")

RESOLVE_TOPIC = "accessdrift-resolve"
IDENTITY_TOPIC = "accessdrift-identity"
TICK_SECONDS = 1.0
BATCH_SIZE = 1000
BATCH_SECONDS = 0.02


def detection_config(settings: Settings) -> DetectionConfig:
    return DetectionConfig(
        grace_us=span_micros(settings.grace),
        lookback_us=span_micros(settings.lookback),
        deprovision_sla_us=span_micros(settings.deprovision_sla),
        sla_overrides_us={
            key: span_micros(value) for key, value in settings.deprovision_sla_overrides.items()
        },
    )


def wall_micros() -> int:
    return int(time.time() * MICROS)


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
            heap = self.heaps.setdefault(identity_partition(identity_id, self.partitions), [])
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
    message carries holds for every message after it there."""

    idle_us: int
    value: int | None = None
    heard_at: int = 0

    def observe(self, watermark: int | None, wall_us: int) -> None:
        if watermark is not None and (self.value is None or watermark > self.value):
            self.value = watermark
        self.heard_at = wall_us

    def current(self, wall_us: int) -> int | None:
        return self.value


def register_detection(app: faust.App, settings: Settings, counts: Counter[str]) -> None:
    """Add the detection agents (the batch ingest forwards records to RESOLVE_TOPIC)."""
    config = detection_config(settings)
    idle_us = 5 * MICROS
    resolve_topic = app.topic(
        settings.topic(RESOLVE_TOPIC),
        partitions=1,
        internal=True,  # Faust declares it, with exactly these partitions
        key_serializer="raw",
        value_serializer="raw",
    )
    identity_topic = app.topic(
        settings.topic(IDENTITY_TOPIC),
        partitions=settings.topic_partitions,
        internal=True,
        key_serializer="raw",
        value_serializer="raw",
    )
    lag_topic = app.topic(
        settings.topic(topics.DRIFT_LAG), key_serializer="raw", value_serializer="raw"
    )
    alert_topic = app.topic(
        settings.topic(topics.DRIFT_ALERTS), key_serializer="raw", value_serializer="raw"
    )
    ownership_topic = app.topic(
        settings.topic(topics.OWNERSHIP), key_serializer="raw", value_serializer="raw"
    )
    pair_topic = app.topic(
        settings.topic(topics.PAIRS), key_serializer="raw", value_serializer="raw"
    )
    # RocksDB's defaults (a 2 GB block cache and 64 MB write buffers per partition)
    # are sized for a dedicated host; the state here is small per key.
    store_options = {
        "write_buffer_size": 16 * 1024**2,
        "max_write_buffer_number": 2,
        "block_cache_size": 64 * 1024**2,
        "block_cache_compressed_size": 16 * 1024**2,
    }
    subjects = app.Table("subjects", partitions=1, key_type=str, options=store_options)
    subject_cache = ReadCache(settings.state_cache_size)
    identity_cache = ReadCache(settings.state_cache_size // 4)

    @app.on_partitions_revoked.connect
    async def forget_cached_state(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Another worker may own these partitions next and write them: read afresh.
        subject_cache.clear()
        identity_cache.clear()

    identities = app.Table(
        "identities", partitions=settings.topic_partitions, key_type=str, options=store_options
    )
    resolver_watermark = Watermark(span_micros(settings.allowed_lateness), idle_us)
    stage_watermarks: dict[int, StageWatermark] = {}
    resolver_sending = asyncio.Lock()
    deadlines = Deadlines(settings.topic_partitions)
    lag_codec = codec_for("ProvisioningLag")
    alert_codec = codec_for("Alert")
    ownership_codec = codec_for("Ownership")
    pair_codec = codec_for("DeprovisionPair")

    partitions = settings.topic_partitions

    def send_to_identities(outbound: list[Outbound], watermark: int | None) -> list[Any]:
        """One bundle per identity partition; the sends, to await."""
        by_partition: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for item in outbound:
            message = dict(item.message)
            message["wm"] = watermark
            partition = identity_partition(item.identity_id, partitions)
            by_partition.setdefault(partition, []).append((item.identity_id, message))
        sent = []
        for partition, messages in by_partition.items():
            for bundle in pack_messages_chunks(messages):
                sent.append(identity_topic.send_soon(value=bundle, partition=partition))
        return sent

    @app.agent(resolve_topic, name="resolver", concurrency=1)
    async def resolver(stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_SECONDS)
        async for events in batches:
            async with resolver_sending:
                try:
                    await resolve_batch(events)
                except Exception as error:
                    stop_the_worker("resolver", error)

    async def resolve_batch(events: Sequence[EventT[Any]]) -> None:
        store = WriteBack(cast(MutableMapping[str, Any], subjects), subject_cache)
        wall = wall_micros()
        resolver_core = Resolver(
            cast(MutableMapping[str, Node], store),
            link_by_email=settings.link_by_email,
            now_us=wall,
        )
        outbound: list[Outbound] = []
        # The batch's messages carry the watermark from before its records: one
        # taken after them would be ahead of the older records in the same batch
        # (a batch of a backlog spans hours of event time), and an identity would
        # judge a deadline before the deprovision waiting later in the bundle.
        # The watermark after the batch goes out once its bundles are delivered.
        watermark_before = resolver_watermark.current(wall)
        for event in events:
            for source, value in unpack_records(cast(bytes, event.message.value)):
                if source == PROGRESS_SOURCE:
                    resolver_watermark.report(parse_report(value), wall)
                    continue
                record_name = source.split("|", 1)[0]
                try:
                    record = codec_for(record_name).decode_dict(value)
                except (RecordError, KeyError) as error:
                    # The ingest forwards only what it decoded: a bug, not input.
                    log.error("resolver could not decode a %s record: %s", record_name, error)
                    continue
                resolver_watermark.observe(source, to_micros(record["event_time"]), wall)
                outbound += route_record(resolver_core, record_name, record)
                counts["resolver:records"] += 1
        # What this batch sends reaches the broker before the state that says it
        # was sent, and both before the batch is acked (streams/batching.py): a
        # worker killed in between reads the batch again and sends it again.
        counts["identity:messages_sent"] += len(outbound)
        sent = send_to_identities(outbound, watermark_before)
        for row in resolver_core.ownership:
            sent.append(
                ownership_topic.send_soon(
                    key=row["subject"].encode(), value=ownership_codec.encode_dict(row)
                )
            )
        counts["findings:ownership"] += len(resolver_core.ownership)
        await delivered(sent)
        if events:
            with as_current(events[-1]):
                store.flush()
        await cast(DeliveredTable, subjects).changelog_delivered()

    @app.agent(identity_topic, name="identities", concurrency=1)
    async def identity_agent(stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_SECONDS)
        async for events in batches:
            try:
                await handle_identity_batch(events)
            except Exception as error:
                stop_the_worker("identity", error)

    async def handle_identity_batch(events: Sequence[EventT[Any]]) -> None:
        states: dict[str, Any] = {}
        last_event: dict[str, EventT[Any]] = {}
        outputs: list[Result] = []
        onward: list[Outbound] = []
        wall = wall_micros()
        for event in events:
            partition = event.message.partition
            stage_watermark = stage_watermarks.get(partition)
            if stage_watermark is None:
                stage_watermark = stage_watermarks[partition] = StageWatermark(idle_us)
            for key, message in unpack_messages(cast(bytes, event.message.value)):
                if message["t"] != "tick":
                    stage_watermark.observe(message.get("wm"), wall)
                if message["t"] == "wm":
                    continue  # the resolver's watermark, broadcast to every partition
                # Ticks come from the timer, not from messages_sent: counted apart, so that
                # done == sent means every message sent was handled.
                counts[
                    "identity:ticks" if message["t"] == "tick" else "identity:messages_done"
                ] += 1
                watermark = stage_watermark.current(wall)
                if key in states:
                    state = states[key]
                elif key in identity_cache:
                    state = identity_cache.get(key)
                else:
                    state = identities.get(key)
                state, result = identity.handle(
                    key, state, message, watermark if watermark is not None else 0, wall, config
                )
                states[key] = state
                last_event[key] = event
                deadlines.set(key, result.next_deadline_us)
                outputs.append(result)
                onward += result.messages
        # Findings and onward messages reach the broker before the state that records
        # them ("raised", "moved"), and that state before the batch is acked: after a
        # kill the batch is read again against the state before it, and what it sends
        # again is folded by alert_id and the sinks' keys.
        sent: list[Any] = []
        if onward:
            counts["identity:messages_sent"] += len(onward)
            # No watermark on messages between identities: each partition's comes from
            # the resolver only, in the order the resolver sent it.
            sent += send_to_identities(onward, None)
        for result in outputs:
            for row in result.lags:
                sent.append(
                    lag_topic.send_soon(
                        key=row["identity_id"].encode(), value=lag_codec.encode_dict(row)
                    )
                )
            for alert in result.alerts:
                sent.append(
                    alert_topic.send_soon(
                        key=alert["alert_id"].encode(), value=alert_codec.encode_dict(alert)
                    )
                )
            for pair in result.pairs:
                sent.append(
                    pair_topic.send_soon(
                        key=pair["lag_id"].encode(), value=pair_codec.encode_dict(pair)
                    )
                )
            counts["findings:lags"] += len(result.lags)
            counts["findings:pairs"] += len(result.pairs)
            counts["findings:alerts"] += len(result.alerts)
        await delivered(sent)
        for key, state in states.items():
            with as_current(last_event[key]):
                identities[key] = state
            identity_cache.put(key, state)
        await cast(DeliveredTable, identities).changelog_delivered()

    last_broadcast: dict[str, int | None] = {"wm": None}

    async def broadcast_watermark() -> None:
        """The resolver's watermark moves on while no record arrives (idle inputs drop out,
        then the wall clock carries it): tell every identity partition."""
        async with resolver_sending:  # never ahead of a batch still being delivered
            watermark = resolver_watermark.current(wall_micros())
            if watermark is None:
                return
            # Every tick, changed or not: a partition hears where event time is even
            # while the resolver holds it back.
            last_broadcast["wm"] = watermark
            counts["resolver:watermark_us"] = watermark  # a gauge, for health notices
            payload = pack_messages([("", {"t": "wm", "wm": watermark})])
            await delivered(
                [
                    identity_topic.send_soon(value=payload, partition=partition)
                    for partition in range(partitions)
                ]
            )

    async def wake_due_identities() -> None:
        wall = wall_micros()
        for partition, stage_watermark in list(stage_watermarks.items()):
            watermark = stage_watermark.current(wall)
            if watermark is None:
                continue
            due = deadlines.due(partition, watermark)
            if due:
                send_to_identities([Outbound(key, {"t": "tick"}) for key in due], None)

    @app.on_rebalance_complete.connect
    async def rebuild_deadlines(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Sent once the tables are recovered, before the streams resume: the deadlines
        # of every identity this worker owns now, from the state that survived.
        deadlines.clear()
        for count, (key, state) in enumerate(list(identities.items()), start=1):
            deadlines.set(key, _deadline_of(key, state, config))
            if count % 1000 == 0:
                await asyncio.sleep(0)  # heartbeats go on: a big table is no rebalance
        log.info("deadlines rebuilt for %d identities", len(deadlines.current))

    app.timer(interval=TICK_SECONDS)(broadcast_watermark)
    app.timer(interval=TICK_SECONDS)(wake_due_identities)


def stop_the_worker(stage: str, error: BaseException) -> None:
    """Faust acks a batch of ``take_events`` even when the agent's body raised, and its
    supervisor restarts the agent past it: the batch would be skipped, its outputs
    half sent, its state never written. Stop instead; a restart reads it again."""
    log.critical("the %s stage failed on a batch, the worker stops: %r", stage, error)
    logging.shutdown()
    os._exit(70)


def _deadline_of(identity_id: str, state: Any, config: DetectionConfig) -> int | None:
    from accessdrift.core import rules

    try:
        return rules.next_deadline(identity_id, state, config)
    except (KeyError, TypeError, IndexError) as error:
        log.error("cannot read the state of %s: %s", identity_id, error)
        return None
