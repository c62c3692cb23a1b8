"""Sending rejected input to drift.deadletter from any agent, with where it came from."""

from typing import Any

import faust
from faust.types import EventT

from accessdrift.deadletter import classify, dead_letter_bytes
from accessdrift.errors import RecordError


async def send_dead_letter(
    topic: faust.TopicT, event: EventT[Any], error: Exception, stage: str, prefix: str = ""
) -> None:
    """The event's own bytes, topic, partition and offset, and why it was rejected."""
    message = event.message
    await topic.send(
        key=message.topic.encode(),
        value=dead_letter_bytes(
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key if isinstance(message.key, bytes) else None,
            value=message.value if isinstance(message.value, bytes) else b"",
            error=f"{prefix}{error}",
            error_type=error.error_type if isinstance(error, RecordError) else classify(error),
            stage=stage,
        ),
    )
