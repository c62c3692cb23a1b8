"""What the ingest hands the resolver: the record it decoded, read back as it was."""

import pytest

from accessdrift.core.timeutil import to_micros
from accessdrift.errors import DecodeError
from accessdrift.schemas.codec import codec_for
from accessdrift.streams import resolve_records
from tests.unit.core_builders import use


def test_a_record_reads_back_as_decoded_with_its_time_in_microseconds() -> None:
    name, record = use(60)
    decoded = codec_for(name).decode_dict(codec_for(name).encode_dict(record))
    back = resolve_records.decode(name, resolve_records.encode(decoded))
    assert back == {**decoded, "event_time": to_micros(decoded["event_time"])}


def test_hostile_strings_survive_as_they_are() -> None:
    name, record = use(60)
    hostile = 'a"b\\c\n<script>\u202e\u0000\U0001f600'
    record = {**record, "action": hostile, "user_agent": hostile}
    back = resolve_records.decode(name, resolve_records.encode(record))
    assert back["action"] == hostile and back["user_agent"] == hostile


def test_an_older_workers_avro_bundle_is_still_read() -> None:
    name, record = use(60)
    avro = codec_for(name).encode_dict(record)
    assert resolve_records.decode(name, avro)["event_time"] == to_micros(record["event_time"])


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b'{"event_id": "x"}', b""])
def test_what_is_not_a_forwarded_record_is_a_clear_error(value: bytes) -> None:
    with pytest.raises(DecodeError):
        resolve_records.decode("CloudAuditEvent", value)
