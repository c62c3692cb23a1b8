"""The .avsc files are the contract: the models must agree with them, field for field."""

import json
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import fastavro
import pytest
from pydantic import AwareDatetime

from accessdrift.errors import DecodeError
from accessdrift.schemas.codec import SINGLE_OBJECT_MARKER, Codec, codec_for, decode, encode
from accessdrift.schemas.models import ALL_RECORDS, CloudAuditEvent, DirectoryChange, Record

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "accessdrift" / "schemas"


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    args = get_args(annotation)
    if get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        assert len(rest) == 1
        return rest[0], True
    return annotation, False


def _python_type_matches(avro_type: Any, annotation: Any) -> bool:
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        kind = avro_type["type"]
        if logical == "timestamp-micros":
            return annotation is AwareDatetime
        if kind == "enum":
            return (
                get_origin(annotation) is Literal
                and list(get_args(annotation)) == avro_type["symbols"]
            )
        if kind == "array":
            return get_origin(annotation) is list and _python_type_matches(
                avro_type["items"], get_args(annotation)[0]
            )
        if kind == "map":
            key, value = get_args(annotation)
            return (
                get_origin(annotation) is dict
                and key is str
                and _python_type_matches(avro_type["values"], value)
            )
        return False
    return {
        "string": str,
        "boolean": bool,
        "int": int,
        "long": int,
        "double": float,
        "bytes": bytes,
    }[avro_type] is annotation


def test_there_is_one_avsc_per_record_and_nothing_else() -> None:
    assert sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc")) == sorted(ALL_RECORDS)


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_model_agrees_with_avsc(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    fastavro.parse_schema(schema, named_schemas={})
    model = ALL_RECORDS[name]
    avro_fields = {field["name"]: field for field in schema["fields"]}
    assert list(avro_fields) == list(model.model_fields), "same fields, same order"
    for field_name, avro_field in avro_fields.items():
        model_field = model.model_fields[field_name]
        annotation, optional = _unwrap_optional(model_field.annotation)
        avro_type = avro_field["type"]
        if isinstance(avro_type, list):
            assert avro_type[0] == "null" and len(avro_type) == 2, field_name
            assert optional, f"{name}.{field_name} is nullable in Avro, required in the model"
            assert avro_field.get("default", "absent") is None
            assert model_field.default is None
            avro_type = avro_type[1]
        else:
            assert not optional, f"{name}.{field_name} is optional in the model only"
        if "default" in avro_field and avro_field["default"] is not None:
            assert model_field.default == avro_field["default"]
        assert _python_type_matches(avro_type, annotation), f"{name}.{field_name}"


def _sample(name: str) -> Record:
    when = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    values: dict[str, Any] = {}
    for field_name, field in ALL_RECORDS[name].model_fields.items():
        annotation, _ = _unwrap_optional(field.annotation)
        if annotation is AwareDatetime:
            values[field_name] = when
        elif get_origin(annotation) is Literal:
            values[field_name] = get_args(annotation)[-1]
        elif get_origin(annotation) is list:
            values[field_name] = ["a", "b"]
        elif get_origin(annotation) is dict:
            values[field_name] = {"k": "v"}
        elif annotation is bool:
            values[field_name] = True
        elif annotation is float:
            values[field_name] = 1.5
        elif annotation is int:
            values[field_name] = 7
        elif annotation is bytes:
            values[field_name] = b"\x00\xff"
        else:
            values[field_name] = f"{field_name}-value"
    return ALL_RECORDS[name].model_validate(values)


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_every_record_round_trips_through_single_object_encoding(name: str) -> None:
    record = _sample(name)
    data = encode(record)
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert data[2:10] == codec_for(name).fingerprint
    assert decode(type(record), data) == record


def test_fingerprints_differ_between_records() -> None:
    fingerprints = {codec_for(name).fingerprint for name in ALL_RECORDS}
    assert len(fingerprints) == len(ALL_RECORDS)


def test_fingerprint_is_the_avro_crc64_of_the_canonical_form_little_endian() -> None:
    # The Avro spec's reference: the CRC-64-AVRO fingerprint of the schema "int"
    # is 0x7275d51a3f395c8f, written little-endian in single-object encoding.
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == (0x7275D51A3F395C8F).to_bytes(
        8, "little"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "no C3 01 marker"),
        (b'{"event_id": 1}', "no C3 01 marker"),
        (SINGLE_OBJECT_MARKER + b"\x00" * 8 + b"\x02a", "unknown writer schema fingerprint"),
    ],
)
def test_bytes_that_are_not_a_record_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        codec_for("CloudAuditEvent").decode_dict(data)


def test_a_truncated_body_raises_decode_error() -> None:
    data = encode(_sample("CloudAuditEvent"))
    with pytest.raises(DecodeError, match="corrupt Avro body"):
        codec_for("CloudAuditEvent").decode_dict(data[:20])


def test_a_reader_resolves_an_older_writer_schema_by_fingerprint() -> None:
    """Schema evolution without a registry: a new optional field, old records still read."""
    old_schema = json.loads((SCHEMA_DIR / "DirectoryChange.avsc").read_text())
    old_schema["fields"] = [field for field in old_schema["fields"] if field["name"] != "email"]
    old = Codec("DirectoryChange")
    old.schema = fastavro.parse_schema(old_schema, named_schemas={})
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    old.fingerprint = bytes.fromhex(
        fingerprint(to_parsing_canonical_form(old.schema), "CRC-64-AVRO")
    )
    old.header = SINGLE_OBJECT_MARKER + old.fingerprint
    record = _sample("DirectoryChange").model_dump()
    record.pop("email")
    data = old.encode_dict(record)

    reader = Codec("DirectoryChange")
    with pytest.raises(DecodeError):
        reader.decode_dict(data)
    reader.writers[old.fingerprint] = old.schema
    decoded = reader.decode(data)
    assert isinstance(decoded, DirectoryChange)
    assert decoded.email is None
    assert decoded.identity_id == "identity_id-value"


def test_models_refuse_naive_times_and_unknown_fields() -> None:
    base = _sample("CloudAuditEvent").model_dump()
    with pytest.raises(ValueError, match="timezone"):
        CloudAuditEvent.model_validate({**base, "event_time": datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(ValueError, match="Extra inputs"):
        CloudAuditEvent.model_validate({**base, "password": "hunter2"})


def test_times_are_normalized_to_utc() -> None:
    base = _sample("CloudAuditEvent").model_dump()
    record = CloudAuditEvent.model_validate({**base, "event_time": "2026-03-03T10:00:00+01:00"})
    assert record.event_time == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert (
        record.event_time.utcoffset() is not None
        and record.event_time.utcoffset().total_seconds() == 0
    )
