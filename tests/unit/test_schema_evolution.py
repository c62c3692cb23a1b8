"""Schema evolution of the enums: every Avro enum has a default, so a reader holding an
older schema reads a symbol a newer writer added (a new alert kind, say) as that default
instead of failing to resolve the record."""

import copy
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint, to_parsing_canonical_form

from accessdrift.errors import DecodeError
from accessdrift.schemas.codec import SINGLE_OBJECT_MARKER, Codec, codec_for, load_schema_json
from accessdrift.schemas.models import ALL_RECORDS, Alert

NEW_SYMBOL = (
    "symbol_of_a_newer_writer"  # never a real symbol: a kind added later must not break this
)
"""A symbol no enum has yet: what a newer writer's schema appends."""


def _enums(avro_type: Any) -> Iterator[dict[str, Any]]:
    """Every enum in a type, however deep (record fields, unions, arrays, maps)."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from _enums(branch)
    elif isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "enum":
            yield avro_type
        elif kind == "record":
            for field in avro_type["fields"]:
                yield from _enums(field["type"])
        elif kind == "array":
            yield from _enums(avro_type["items"])
        elif kind == "map":
            yield from _enums(avro_type["values"])
        elif isinstance(kind, (dict, list)):
            yield from _enums(kind)


def _enum_of_field(field: dict[str, Any]) -> dict[str, Any] | None:
    """The enum a field holds, directly or as the non-null branch of an optional."""
    avro_type = field["type"]
    branches = avro_type if isinstance(avro_type, list) else [avro_type]
    enums = [b for b in branches if isinstance(b, dict) and b["type"] == "enum"]
    return enums[0] if enums else None


ENUM_FIELDS = [
    (name, field["name"])
    for name in sorted(ALL_RECORDS)
    for field in load_schema_json(name)["fields"]
    if _enum_of_field(field) is not None
]


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = schema["fields"]
    (field,) = (field for field in fields if field["name"] == name)
    return field


def _value(avro_type: Any) -> Any:
    """A value of a type: enough to write a whole record around the enum under test."""
    if isinstance(avro_type, list):
        return None  # every union of the contract is ["null", X]
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "timestamp-micros":
            return datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
        kind = avro_type["type"]
        if kind == "enum":
            return avro_type["symbols"][0]
        if kind == "array":
            return []
        if kind == "map":
            return {}
        return _value(kind)
    return {
        "string": "x",
        "boolean": True,
        "int": 7,
        "long": 7,
        "double": 1.5,
        "bytes": b"\x00",
    }[avro_type]


def _record(schema: dict[str, Any]) -> dict[str, Any]:
    return {field["name"]: _value(field["type"]) for field in schema["fields"]}


def _newer(name: str, field_name: str) -> dict[str, Any]:
    """The record's schema as a newer writer has it: NEW_SYMBOL appended to one enum."""
    schema = copy.deepcopy(load_schema_json(name))
    enum = _enum_of_field(_field(schema, field_name))
    assert enum is not None
    enum["symbols"].append(NEW_SYMBOL)
    return schema


def _write(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema, named_schemas={}), record)
    return buffer.getvalue()


def _read(body: bytes, writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    value = fastavro.schemaless_reader(
        io.BytesIO(body),
        fastavro.parse_schema(writer, named_schemas={}),
        fastavro.parse_schema(reader, named_schemas={}),
    )
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_every_enum_has_a_default_among_its_symbols_and_says_why(name: str) -> None:
    for enum in _enums(load_schema_json(name)):
        assert "default" in enum, f"{name}: enum {enum['name']} has no default"
        assert enum["default"] in enum["symbols"], f"{name}: {enum['name']}"
        # The reason is written where the contract is read.
        assert f"reads it as {enum['default']}" in enum.get("doc", ""), f"{name}: {enum['name']}"


def test_the_evolution_test_below_covers_every_enum() -> None:
    """Each enum is a field's type or an optional field's; one nested deeper (an array of
    enums, say) would need a case of its own below."""
    every_enum = [enum for name in sorted(ALL_RECORDS) for enum in _enums(load_schema_json(name))]
    assert len(ENUM_FIELDS) == len(every_enum) > 0


def test_a_named_enum_is_the_same_in_every_schema_it_appears_in() -> None:
    """Each .avsc is parsed on its own, so a named type is repeated: symbols, default and
    reason must not drift between the copies."""
    by_name: dict[str, dict[str, Any]] = {}
    for name in sorted(ALL_RECORDS):
        for enum in _enums(load_schema_json(name)):
            assert by_name.setdefault(enum["name"], enum) == enum, f"{name}: {enum['name']}"


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_enum_defaults_leave_the_fingerprint_unchanged(name: str) -> None:
    """The Parsing Canonical Form drops defaults and docs: records written before the
    enums had defaults carry the same fingerprint and still decode."""
    without = copy.deepcopy(load_schema_json(name))
    for enum in _enums(without):
        enum.pop("default", None)
        enum.pop("doc", None)
    canonical = to_parsing_canonical_form(fastavro.parse_schema(without, named_schemas={}))
    assert bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")) == codec_for(name).fingerprint


@pytest.mark.parametrize("name, field_name", ENUM_FIELDS)
def test_a_symbol_from_a_newer_writer_reads_as_the_default(name: str, field_name: str) -> None:
    current = load_schema_json(name)
    newer = _newer(name, field_name)
    record = {**_record(current), field_name: NEW_SYMBOL}

    decoded = _read(_write(newer, record), newer, current)

    enum = _enum_of_field(_field(current, field_name))
    assert enum is not None
    assert decoded[field_name] == enum["default"]
    assert {k: v for k, v in decoded.items() if k != field_name} == {
        k: v for k, v in record.items() if k != field_name
    }


def test_without_the_default_the_same_record_does_not_resolve() -> None:
    """What the default buys: fastavro refuses an unknown symbol when the reader has none."""
    newer = _newer("Alert", "kind")
    record = {**_record(newer), "kind": NEW_SYMBOL}
    reader = copy.deepcopy(load_schema_json("Alert"))
    del _field(reader, "kind")["type"]["default"]
    with pytest.raises(SchemaResolutionError, match=NEW_SYMBOL):
        _read(_write(newer, record), newer, reader)


def test_an_optional_enum_reads_its_default_too() -> None:
    """No enum of the contract is optional yet; one that becomes so keeps the behaviour."""

    def optional_kind(schema: dict[str, Any]) -> dict[str, Any]:
        schema = copy.deepcopy(schema)
        field = _field(schema, "kind")
        field["type"], field["default"] = ["null", field["type"]], None
        return schema

    current, newer = (
        optional_kind(load_schema_json("Alert")),
        optional_kind(_newer("Alert", "kind")),
    )
    record = {**_record(current), "kind": NEW_SYMBOL}
    assert _read(_write(newer, record), newer, current)["kind"] == "attempted_after_deprovision"
    assert _read(_write(newer, {**record, "kind": None}), newer, current)["kind"] is None


def _codec_writing(name: str, schema: dict[str, Any]) -> Codec:
    """A codec of ``name`` that writes with another version of its schema."""
    codec = Codec(name)
    codec.schema = fastavro.parse_schema(schema, named_schemas={})
    codec.fingerprint = bytes.fromhex(
        fingerprint(to_parsing_canonical_form(codec.schema), "CRC-64-AVRO")
    )
    codec.header = SINGLE_OBJECT_MARKER + codec.fingerprint
    return codec


def test_the_codec_reads_a_newer_alert_kind_as_the_default_once_it_knows_the_writer() -> None:
    """The project's decode path. There is no schema registry: the codec resolves a writer's
    schema it finds by fingerprint in ``Codec.writers`` to its own (the reader's). A newer
    writer's schema has a new fingerprint, so until it is registered there its records are
    a DecodeError (a dead letter at the ingest, a logged error at the notifier), never a
    crash; once registered, the unknown kind reads as the enum's default."""
    newer = _codec_writing("Alert", _newer("Alert", "kind"))
    record = {**_record(load_schema_json("Alert")), "kind": NEW_SYMBOL}
    data = newer.encode_dict(record)
    reader = Codec("Alert")

    with pytest.raises(DecodeError, match="unknown writer schema fingerprint"):
        reader.decode_dict(data)

    reader.writers[newer.fingerprint] = newer.schema
    alert = reader.decode(data)
    assert isinstance(alert, Alert)
    assert alert.kind == "attempted_after_deprovision"
    assert alert.alert_id == record["alert_id"]
    # What the reader decoded is a valid record of its own contract.
    assert Alert.model_validate(reader.decode_dict(data)).kind == "attempted_after_deprovision"
