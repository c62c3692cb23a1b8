"""Which partition a key belongs to: one rule for every partitioned topic of the worker (a
subject on the resolve topic, an identity on the identity topic) and for the in-memory
engine that stands for them, so that a key's state and every message about it meet on
one partition."""

import zlib


def partition_of(key: str, partitions: int) -> int:
    """CRC-32 of the key's UTF-8 bytes, modulo the partition count: the same in every
    process and version (``hash`` of a str is salted per process)."""
    return zlib.crc32(key.encode()) % partitions
