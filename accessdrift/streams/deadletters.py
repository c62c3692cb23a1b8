"""Rejected input to ``drift.deadletter``: the worker's one way of sending a dead letter.

Every letter is built by ``accessdrift.deadletter.dead_letter_bytes`` (redacted; the
rejected bytes as the caller bounded them), keyed by the topic it came from
(``dead_letter_key``) and sent to the deployment's ``drift.deadletter``. Two callers,
each with the producer it already has: the Faust agents (``send_dead_letter``: the
letter built off the event loop, the send awaited) and the batch ingest's threads
(``produce_dead_letter``: built on the thread, queued on its producer, acknowledged
with the rest of its batch before the offsets move)."""

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import faust
from confluent_kafka import Message, Producer
from faust.types import EventT

from accessdrift.deadletter import classify, dead_letter_bytes, dead_letter_key
from accessdrift.kafka.producer import produce_when_room
from accessdrift.normalizers.registry import CSV_HEADER

log = logging.getLogger("accessdrift.deadletter")


def _logged(
    source_topic: str, partition: int | None, offset: int | None, error_type: str, stage: str
) -> None:
    """One line per dead letter, where its input came from (not the error's text, which
    is the input's own: the letter keeps it, redacted)."""
    log.info(
        "dead letter from %s/%s@%s: %s (%s)",
        source_topic,
        partition,
        offset,
        error_type,
        stage,
        extra={
            "topic": source_topic,
            "partition": partition,
            "offset": offset,
            "error_type": error_type,
            "rejected_by": stage,
        },
    )


def _letter(
    source_topic: str,
    partition: int | None,
    offset: int | None,
    key: object,
    value: bytes,
    error: str,
    error_type: str,
    stage: str,
    csv_header: bytes | None = None,
) -> Callable[[], bytes]:
    """The letter of one rejected input, to be built where the caller says."""
    return functools.partial(
        dead_letter_bytes,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key if isinstance(key, bytes) else None,
        value=value,
        error=error,
        error_type=error_type,
        stage=stage,
        csv_header=csv_header,
    )


async def send_dead_letter(
    topic: faust.TopicT,
    event: EventT[Any],
    error: Exception,
    stage: str,
    prefix: str = "",
    value: bytes | None = None,
    error_type: str | None = None,
) -> None:
    """From an agent: the rejected bytes (the event's own, or one record of it), where
    they came from (topic, partition, offset), and why they were rejected. An HR CSV
    line is redacted by its file's header row, which travels in the message's
    ``csv-header``."""
    message = event.message
    if value is None:
        value = message.value if isinstance(message.value, bytes) else b""
    error_type = error_type or classify(error)
    letter = _letter(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        value,
        f"{prefix}{error}",
        error_type,
        stage,
        _header(message.headers, CSV_HEADER),
    )
    # Redaction is linear in the record, but a megabyte of hostile input is still
    # about a second of work: in a thread, the worker's loop (the other agents, the
    # web server's /live/) keeps its turns, since the interpreter hands the lock
    # between threads every few milliseconds. The agent waits for its letter, so
    # letters keep their order.
    payload = await asyncio.get_running_loop().run_in_executor(None, letter)
    await topic.send(key=dead_letter_key(message.topic), value=payload)
    _logged(message.topic, message.partition, message.offset, error_type, stage)


def produce_dead_letter(
    producer: Producer, topic: str, message: Message, error: Exception, stage: str
) -> None:
    """From a thread that reads with librdkafka (the batch ingest): the message's bytes,
    where they came from and why they were rejected, built on this thread (not the
    event loop's) and queued on its producer; its ``flush`` acknowledges them."""
    value = message.value()
    source_topic = message.topic() or ""
    error_type = classify(error)
    letter = _letter(
        source_topic,
        message.partition(),
        message.offset(),
        message.key(),
        value if isinstance(value, bytes) else b"",
        str(error),
        error_type,
        stage,
    )
    produce_when_room(producer, topic, letter(), key=dead_letter_key(source_topic))
    _logged(source_topic, message.partition(), message.offset(), error_type, stage)


def _header(headers: Any, name: str) -> bytes | None:
    """One Kafka header's value: Faust gives a list of (name, value) pairs, or a dict."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, item in pairs:
        if key == name and isinstance(item, (bytes, bytearray, memoryview)):
            return bytes(item)
    return None
