"""Avro single-object encoding of the canonical records.

Every value on a canonical topic is ``C3 01`` + the 8-byte CRC-64-AVRO
fingerprint of the writer's schema + the Avro binary body. A reader looks the
writer's schema up by fingerprint and resolves it to its own, so schemas can
evolve without a registry.
"""

import io
import json
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from accessdrift.errors import DecodeError, RecordError
from accessdrift.schemas.models import ALL_RECORDS, Record

SINGLE_OBJECT_MARKER = b"\xc3\x01"
HEADER_SIZE = len(SINGLE_OBJECT_MARKER) + 8

RecordT = TypeVar("RecordT", bound=Record)


def load_schema_json(name: str) -> dict[str, Any]:
    """The ``.avsc`` file of a record, as JSON."""
    text = (
        resources.files("accessdrift.schemas").joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class Codec:
    """Encoder and decoder of one record type."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.model: type[Record] = ALL_RECORDS[name]
        self.schema = fastavro.parse_schema(load_schema_json(name), named_schemas={})
        canonical_form = to_parsing_canonical_form(self.schema)
        self.fingerprint = bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO"))
        self.header = SINGLE_OBJECT_MARKER + self.fingerprint
        # Writers' schemas this reader can resolve, by fingerprint. Older
        # versions of a schema are registered here when a schema evolves; a newer
        # one registered here reads too, an enum symbol this reader lacks as that
        # enum's default. There is no registry: an unregistered one is a DecodeError.
        self.writers: dict[bytes, Any] = {self.fingerprint: self.schema}

    def encode_dict(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self.header)
        try:
            fastavro.schemaless_writer(buffer, self.schema, record)
        except (ValueError, TypeError, OverflowError, AttributeError) as error:
            # A value the schema cannot hold (UnicodeEncodeError is a ValueError).
            raise RecordError(f"cannot encode {self.name}: {error}") from error
        return buffer.getvalue()

    def encode(self, record: Record) -> bytes:
        return self.encode_dict(record.model_dump())

    def decode_dict(self, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER_SIZE or data[:2] != SINGLE_OBJECT_MARKER:
            raise DecodeError(f"not an Avro single-object encoded {self.name}: no C3 01 marker")
        writer = self.writers.get(data[2:HEADER_SIZE])
        if writer is None:
            raise DecodeError(
                f"unknown writer schema fingerprint {data[2:HEADER_SIZE].hex()} for {self.name}"
            )
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), writer, self.schema)
        except Exception as error:  # fastavro raises EOFError, ValueError, UnicodeDecodeError...
            raise DecodeError(f"corrupt Avro body for {self.name}: {error!r}") from error
        if not isinstance(value, dict):
            raise DecodeError(f"Avro body of {self.name} is not a record")
        return value

    def decode(self, data: bytes) -> Record:
        """Decode to the typed model. The bytes were written by our own schema: trust them."""
        return self.model.model_construct(**self.decode_dict(data))


@cache
def codec_for(name: str) -> Codec:
    if name not in ALL_RECORDS:
        raise KeyError(f"no such record: {name}")
    return Codec(name)


def encode(record: Record) -> bytes:
    return codec_for(type(record).__name__).encode(record)


def decode(model: type[RecordT], data: bytes) -> RecordT:
    decoded = codec_for(model.__name__).decode(data)
    assert isinstance(decoded, model)
    return decoded
