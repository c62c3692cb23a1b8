"""The detection agents: thin shells that decode, call the core and route.

    canonical topics --(batch ingest, streams/ingest.py)--> accessdrift-resolve (R partitions)
    resolver agent: owners of accounts and credentials (table "subjects", by subject)
        <--(sub/res between resolver partitions, on the same topic)-->
        --(keyed by identity)--> accessdrift-identity (N partitions: group by identity)
    identity agent: one identity's facts (table "identities") -> drift.lag, drift.alerts

R is ``ACCESSDRIFT_RESOLVER_PARTITIONS`` (1 by default: no hop at all). Resolving a
key can take a credential, its account and that account's identity, which no
single key partitions together: across partitions the chain is followed by
messages, as a foreign-key join (accessdrift/core/resolver.py). Another R is
another layout: its own resolve topic, subjects table and ingest group, so that a
change rebuilds the resolver's state from the canonical topics (docs/operations.md).
"""

import asyncio
import logging
import os
import time
from collections import Counter
from typing import Any, cast

import faust

from accessdrift import catalog
from accessdrift.core.config import DetectionConfig
from accessdrift.core.messages import WatermarkMessage
from accessdrift.core.timeutil import MICROS, span_micros
from accessdrift.core.watermark import Watermark
from accessdrift.settings import Settings
from accessdrift.streams.batching import ReadCache, delivered
from accessdrift.streams.bundles import (
    pack_messages,
)
from accessdrift.streams.identity_bundles import IdentityBundles
from accessdrift.streams.identity_stage import IdentityStage
from accessdrift.streams.resolver_stage import ResolverStage
from accessdrift.streams.stage_output import StageOutput

log = logging.getLogger("accessdrift.detection")

TICK_SECONDS = 1.0
IDLE_US = 5 * MICROS  # an input silent this long no longer holds the watermark
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
        mover_sla_us=span_micros(settings.mover_sla),
        mover_sla_overrides_us={
            key: span_micros(value) for key, value in settings.mover_sla_overrides.items()
        },
        privileged_patterns=settings.privileged_patterns,
        stale_after_us=span_micros(settings.stale_after),
        stale_after_overrides_us={
            key: span_micros(value) for key, value in settings.stale_after_overrides.items()
        },
        max_credential_age_us=span_micros(settings.max_credential_age),
        max_credential_age_overrides_us={
            key: span_micros(value) for key, value in settings.max_credential_age_overrides.items()
        },
        sharing_window_us=span_micros(settings.sharing_window),
        uncorrelated_after_us=span_micros(settings.uncorrelated_after),
    )


def wall_micros() -> int:
    return int(time.time() * MICROS)


def resolve_topic_name(settings: Settings) -> str:
    """The resolve topic of the configured resolver layout, prefix included."""
    return settings.topic(catalog.RESOLVE) + settings.resolver_layout


def register_detection(app: faust.App, settings: Settings, counts: Counter[str]) -> None:
    """Add the detection agents (the batch ingest forwards records to the resolve topic)."""
    resolver_partitions = settings.resolver_partitions
    resolve_topic = app.topic(
        resolve_topic_name(settings),
        partitions=resolver_partitions,
        internal=True,  # Faust declares it, with exactly these partitions
        key_serializer="raw",
        value_serializer="raw",
    )
    identity_topic = app.topic(
        settings.topic(catalog.IDENTITY),
        partitions=settings.topic_partitions,
        internal=True,
        key_serializer="raw",
        value_serializer="raw",
    )
    # RocksDB's defaults (a 2 GB block cache and 64 MB write buffers per partition)
    # are sized for a dedicated host; the state here is small per key.
    store_options = {
        "write_buffer_size": 16 * 1024**2,
        "max_write_buffer_number": 2,
        "block_cache_size": 64 * 1024**2,
        "block_cache_compressed_size": 16 * 1024**2,
    }
    subjects = app.Table(
        "subjects" + settings.resolver_layout,
        partitions=resolver_partitions,
        key_type=str,
        options=store_options,
    )
    identities = app.Table(
        "identities", partitions=settings.topic_partitions, key_type=str, options=store_options
    )
    bundles = IdentityBundles(settings.topic(catalog.IDENTITY), settings.topic_partitions)
    lateness_us = span_micros(settings.allowed_lateness)
    resolver = ResolverStage(
        subjects,
        ReadCache(settings.state_cache_size),
        lambda: Watermark(lateness_us, IDLE_US),
        StageOutput(settings, "resolver"),
        bundles,
        resolve_topic_name(settings),
        resolver_partitions,
        settings.topic(catalog.OWNERSHIP),
        counts,
        settings.link_by_email,
        span_micros(settings.sharing_window),
    )
    identity_stage = IdentityStage(
        identities,
        ReadCache(settings.state_cache_size // 4),
        StageOutput(settings, "identities"),
        bundles,
        settings.topic,
        detection_config(settings),
        counts,
        resolver_partitions,
    )
    # The resolver's batch and its watermark broadcast never interleave: a partition
    # never hears a watermark ahead of a batch still being delivered.
    resolver_sending = asyncio.Lock()

    @app.agent(resolve_topic, name="resolver", concurrency=1)
    async def resolver_agent(stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_SECONDS)
        async for events in batches:
            async with resolver_sending:
                try:
                    await resolver.handle_batch(events, wall_micros())
                except Exception as error:
                    stop_the_worker("resolver", error)

    @app.agent(identity_topic, name="identities", concurrency=1)
    async def identity_agent(stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_SECONDS)
        async for events in batches:
            try:
                await identity_stage.handle_batch(events, wall_micros())
            except Exception as error:
                stop_the_worker("identity", error)

    @app.on_partitions_revoked.connect
    async def forget_cached_state(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Another worker may own these partitions next and write them: read afresh.
        resolver.forget_partitions()
        identity_stage.forget_partitions()

    @app.on_rebalance_complete.connect
    async def rebuild_deadlines(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await identity_stage.rebuild_deadlines()
        await resolver.rebuild_waiting()

    async def broadcast_watermark() -> None:
        """The resolver's watermark moves on while no record arrives (idle inputs drop out,
        then the wall clock carries it): tell every identity partition, for each resolver
        partition this worker holds."""
        async with resolver_sending:
            wall = wall_micros()
            sent = []
            least = None
            for resolver_partition in sorted(resolver.watermarks):
                watermark = resolver.watermark_of(resolver_partition, wall)
                if watermark is None:
                    continue
                least = watermark if least is None else min(least, watermark)
                # Every tick, changed or not: a partition hears where event time is even
                # while the resolver holds it back.
                payload = pack_messages(
                    [("", WatermarkMessage(t="wm", wm=watermark, rp=resolver_partition))]
                )
                sent += [
                    identity_topic.send_soon(value=payload, partition=partition)
                    for partition in range(settings.topic_partitions)
                ]
            if least is not None:
                counts["resolver:watermark_us"] = least  # a gauge, for health notices
            await delivered(sent)

    async def wake_due_identities() -> None:
        for partition, ticks in identity_stage.due_ticks().items():
            for bundle in ticks:
                identity_topic.send_soon(value=bundle, partition=partition)

    app.timer(interval=TICK_SECONDS)(broadcast_watermark)
    app.timer(interval=TICK_SECONDS)(wake_due_identities)


def stop_the_worker(stage: str, error: BaseException) -> None:
    """Faust acks a batch of ``take_events`` even when the agent's body raised, and its
    supervisor restarts the agent past it: the batch would be skipped, its outputs
    half sent, its state never written. Stop instead; a restart reads it again."""
    log.critical("the %s stage failed on a batch, the worker stops: %r", stage, error)
    logging.shutdown()
    os._exit(70)
