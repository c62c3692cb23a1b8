"""Micro-batches on the internal topics.

Between stages, one Kafka message carries a whole batch: a bundle. Faust spends
far more per message than the core spends per event, so a hop that moves a
thousand events in one message costs a thousandth. Order is kept: a bundle
holds its events in order, and bundles follow each other on their partition.

Identity bundles go to the partition of the identities they hold
(``accessdrift.core.partitions``), so that the identity table's changelog
partitions line up with the events that write them.
"""

import struct
from collections.abc import Iterable, Sequence

import orjson

from accessdrift.core.messages import IdentityMessage

_LENGTHS = struct.Struct("<HI")
# A bundle stays well under the 1 MB a broker and a producer take by default: a
# batch bigger than this goes out as several bundles, in order.
BUNDLE_BYTES = 256 * 1024


def pack_records(items: Iterable[tuple[str, bytes]]) -> bytes:
    """(source, Avro value) pairs -> one bundle."""
    parts = []
    for source, value in items:
        encoded = source.encode()
        parts.append(_LENGTHS.pack(len(encoded), len(value)))
        parts.append(encoded)
        parts.append(value)
    return b"".join(parts)


def pack_records_chunks(
    items: Iterable[tuple[str, bytes]], limit: int = BUNDLE_BYTES
) -> list[bytes]:
    """Like pack_records, cut into bundles of at most ``limit`` bytes (one item is never cut)."""
    bundles: list[bytes] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for source, value in items:
        item_size = _LENGTHS.size + len(source) + len(value)
        if current and size + item_size > limit:
            bundles.append(pack_records(current))
            current, size = [], 0
        current.append((source, value))
        size += item_size
    if current:
        bundles.append(pack_records(current))
    return bundles


def unpack_records(bundle: bytes) -> list[tuple[str, bytes]]:
    items = []
    position = 0
    view = memoryview(bundle)
    while position < len(bundle):
        source_length, value_length = _LENGTHS.unpack_from(view, position)
        position += _LENGTHS.size
        source = bytes(view[position : position + source_length]).decode()
        position += source_length
        items.append((source, bytes(view[position : position + value_length])))
        position += value_length
    return items


def pack_messages(messages: Sequence[tuple[str, IdentityMessage]]) -> bytes:
    return orjson.dumps(messages)


def pack_messages_chunks(
    messages: Sequence[tuple[str, IdentityMessage]], limit: int = BUNDLE_BYTES
) -> list[bytes]:
    """Like pack_messages, in bundles of at most ``limit`` bytes (a message is never cut)."""
    bundles: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for message in messages:
        encoded = orjson.dumps(message)
        if current and size + len(encoded) + 1 > limit:
            bundles.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        bundles.append(b"[" + b",".join(current) + b"]")
    return bundles


def unpack_messages(bundle: bytes) -> list[tuple[str, IdentityMessage]]:
    # Our own topic, written by pack_messages: the messages are as typed.
    return [(str(key), message) for key, message in orjson.loads(bundle)]
