"""Sending rejected input to drift.deadletter from any agent, with where it came from."""

import asyncio
import functools
from typing import Any

import faust
from faust.types import EventT

from accessdrift.deadletter import classify, dead_letter_bytes
from accessdrift.normalizers.registry import CSV_HEADER


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
    (topic, partition, offset), and why they were rejected. An HR CSV line is redacted
    by its file's header row, which travels in the message's ``csv-header``."""
    message = event.message
    if value is None:
        value = message.value if isinstance(message.value, bytes) else b""
    letter = functools.partial(
        dead_letter_bytes,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key if isinstance(message.key, bytes) else None,
        value=value,
        error=f"{prefix}{error}",
        error_type=error_type or classify(error),
        stage=stage,
        csv_header=_header(message.headers, CSV_HEADER),
    )
    # Redaction is linear in the record, but a megabyte of hostile input is still
    # about a second of work: in a thread, the worker's loop (the other agents, the
    # web server's /live/) keeps its turns, since the interpreter hands the lock
    # between threads every few milliseconds. The agent waits for its letter, so
    # letters keep their order.
    payload = await asyncio.get_running_loop().run_in_executor(None, letter)
    await topic.send(key=message.topic.encode(), value=payload)


def _header(headers: Any, name: str) -> bytes | None:
    """One Kafka header's value: Faust gives a list of (name, value) pairs, or a dict."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, item in pairs:
        if key == name and isinstance(item, (bytes, bytearray, memoryview)):
            return bytes(item)
    return None
