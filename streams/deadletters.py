"""Sending rejected input to drift.deadletter from any agent, with where it came from."""

from typing import Any

import faust
from faust.types import EventT

from accessdrift.deadletter import classify, dead_letter_bytes


async def send_dead_letter(
    topic: faust.TopicT,
    event: EventT[Any],
    error: Exception,
    stage: str,
    prefix: str = "",
    value: bytes | None = None,
    error_type: str | None = None,
) -> None:
    """The rejected bytes (the event's own, or one record of it), where they came from
    (topic, partition, offset), and why they were rejected."""
    message = event.message
    if value is None:
        value = message.value if isinstance(message.value, bytes) else b""
    await topic.send(
        key=message.topic.encode(),
        value=dead_letter_bytes(
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key if isinstance(message.key, bytes) else None,
            value=value,
            error=f"{prefix}{error}",
            error_type=error_type or classify(error),
            stage=stage,
        ),
    )
