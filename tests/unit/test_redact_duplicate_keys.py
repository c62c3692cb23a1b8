"""A JSON key written twice: the parser keeps the last value, the bytes keep both. What
is stored as written is read as text too, so the first value cannot hide behind the
second (found by a hostile review of issue 23)."""

import json

import pytest

from accessdrift.normalizers.registry import normalize_message
from accessdrift.redact import redact_bytes, redact_value
from accessdrift.schemas.codec import encode
from tests.unit.samples import cloudtrail_record

LEAKS = [
    b'{"password":"S3CR3T-1","password":null}',
    b'{"user":"alice","sessionToken":"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample","sessionToken":""}',
    b'[{"client_secret":"hunter2-hunter2","client_secret":null}]',
    b'{"a":1}\n{"api_key":"k-123456789","api_key":null}',
]


@pytest.mark.parametrize("letter", LEAKS)
def test_a_secret_behind_a_duplicate_key_is_redacted_in_a_dead_letter(letter: bytes) -> None:
    redacted = redact_bytes(letter)
    for secret in (b"S3CR3T-1", b"IQoJb3JpZ2lu", b"hunter2-hunter2", b"k-123456789"):
        assert secret not in redacted


def test_json_with_nothing_secret_stays_byte_for_byte() -> None:
    letter = b'{"eventName": "GetCallerIdentity", "accessKeyId": "AKIAEXAMPLE", "n": [1, 2]}'
    assert redact_bytes(letter) == letter


def test_a_user_agent_that_is_json_with_a_duplicate_key_is_redacted() -> None:
    agent = '{"Authorization":"Bearer abcdef0123456789abcdef","Authorization":null}'
    assert "abcdef0123456789" not in json.dumps(redact_value({"userAgent": agent}))


def test_no_canonical_record_keeps_a_token_behind_a_duplicate_key() -> None:
    agent = '{"Authorization":"Bearer abcdef0123456789abcdef","Authorization":null}'
    record = cloudtrail_record("5c1f6b8e-0000-4000-8000-000000000001", agent)
    outcomes = normalize_message("cloudtrail", json.dumps(record).encode())
    records = [item for outcome in outcomes for item in outcome.records]
    assert records, outcomes
    for item in records:
        assert b"abcdef0123456789" not in encode(item)
