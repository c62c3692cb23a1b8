"""One thin agent per raw.<format> topic: vendor records in, canonical records out."""

import asyncio
import logging
from collections import Counter
from typing import Any

import faust

from accessdrift import catalog
from accessdrift.canonical import record_key
from accessdrift.errors import RecordError, RecordTooLarge
from accessdrift.normalizers.config import HrMapping, NormalizerConfig, ScimFeed
from accessdrift.normalizers.registry import normalize_message, rejections
from accessdrift.schemas.codec import encode
from accessdrift.settings import Settings
from accessdrift.streams.deadletters import send_dead_letter

log = logging.getLogger("accessdrift.normalize")

# Messages larger than this are normalized on a thread (a vendor record is a few KB; a
# CloudTrail file of many records, or a hostile one, can be up to max_record_bytes).
OFF_LOOP_BYTES = 64 * 1024


def normalizer_config(settings: Settings) -> NormalizerConfig:
    return NormalizerConfig(
        scim_feed=ScimFeed(settings.scim_side, settings.scim_system),
        scim_feeds={
            name: ScimFeed(feed.get("side", "source"), feed.get("system", name))
            for name, feed in settings.scim_feeds.items()
        },
        hr_mapping=HrMapping.load(settings.hr_csv_mapping),
        max_records=settings.max_records_per_message,
        privileged_patterns=settings.privileged_patterns,
    )


def register_normalizers(app: faust.App, settings: Settings, counts: Counter[str]) -> None:
    config = normalizer_config(settings)
    canonical = {
        record: app.topic(settings.topic(name), key_serializer="raw", value_serializer="raw")
        for record, name in catalog.INPUT_TOPICS.items()
    }
    deadletter = app.topic(
        settings.topic(catalog.DEADLETTER), key_serializer="raw", value_serializer="raw"
    )

    def make_agent(format_name: str) -> None:
        source = app.topic(
            settings.topic(catalog.raw_topic(format_name)),
            key_serializer="raw",
            value_serializer="raw",
        )

        async def normalize_agent(stream: faust.StreamT[Any]) -> None:
            async for event in stream.events():
                message = event.message
                value = message.value if isinstance(message.value, bytes) else b""
                headers = {
                    str(key): bytes(header) for key, header in (_header_pairs(message.headers))
                }
                stage = f"normalize:{format_name}"
                if len(value) > settings.max_record_bytes:
                    too_large = RecordTooLarge(
                        f"record of {len(value)} bytes over the cap of {settings.max_record_bytes}"
                    )
                    await send_dead_letter(deadletter, event, too_large, stage)
                    continue
                if len(value) > OFF_LOOP_BYTES:
                    # Parsing, normalizing and redacting a large message is linear but
                    # may take a second at the 1 MB record cap: on a thread, so the
                    # event loop (every other agent, /live/) goes on meanwhile.
                    outcomes = await asyncio.get_running_loop().run_in_executor(
                        None, normalize_message, format_name, value, headers, config
                    )
                else:
                    outcomes = normalize_message(format_name, value, headers, config)
                for rejection in rejections(outcomes, value):
                    await send_dead_letter(
                        deadletter,
                        event,
                        RecordError(rejection.error),
                        stage,
                        value=rejection.value,
                        error_type=rejection.error_type,
                    )
                for outcome in outcomes:
                    if outcome.dropped:
                        # Past the message's cap: in a dead letter, and counted here.
                        counts[f"{format_name}:dropped-over-cap"] += outcome.dropped
                    if outcome.error is not None:
                        counts[f"{format_name}:dead-lettered"] += 1
                    elif outcome.ignored is not None:
                        counts[f"{format_name}:ignored:{outcome.ignored}"] += 1
                    for record in outcome.records:
                        try:
                            encoded = encode(record)
                        except RecordError as error:
                            counts[f"{format_name}:dead-lettered"] += 1
                            await send_dead_letter(
                                deadletter, event, error, stage, prefix=f"record {outcome.index}: "
                            )
                            continue
                        counts[f"{format_name}:{type(record).__name__}"] += 1
                        await canonical[type(record).__name__].send(
                            key=record_key(record).encode(), value=encoded
                        )

        name = f"normalize_{format_name.replace('-', '_')}"
        normalize_agent.__name__ = name
        app.agent(source, name=name, concurrency=1)(normalize_agent)

    for format_name in catalog.RAW_FORMATS:
        make_agent(format_name)


def _header_pairs(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return [(key, value) for key, value in headers.items() if isinstance(value, bytes)]
    return [(key, value) for key, value in headers if isinstance(value, bytes)]
