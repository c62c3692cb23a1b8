"""Redaction is linear in its input (issue 23, item 1).

Every input here is about 1 MB, built from the shapes that made the old patterns
quadratic (runs of newlines under ``(?im)^\\s*...``, ``a://x:`` with a long tail,
long runs of ``"a":`` and ``a=``, unclosed quotes, ``Bearer`` repeated, a PEM header
without its end). Nothing is timed: a linear engine redacts each in well under a
second, a quadratic one would need hours, and the timeout below stops it. The output
must stay linear in the input too (each ``[REDACTED]`` replaces at least one byte)."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessdrift.deadletter import dead_letter_bytes
from accessdrift.redact import redact_bytes, redact_csv_line, redact_text, redact_value
from accessdrift.schemas.codec import codec_for

MB = 1 << 20
# Far above what a linear pass over 1 MB needs on a slow machine, far below what a
# quadratic one needs (the old engine: 63 s for 97 KB, so about two hours for 1 MB).
pytestmark = pytest.mark.timeout(240)

FRAGMENTS = [
    b"\n",
    b"\r\n",
    b" ",
    b"\t\n ",
    b"a",
    b"a://x:",
    b"://",
    b"a://x:b@",
    b'"a":',
    b'"a": ',
    b"a=",
    b"password=",
    b"key=",
    b'"password": "',
    b'"',
    b"'",
    b'\\"',
    b"\\",
    b"Bearer ",
    b"bearer Bearer x",
    b"-----BEGIN PRIVATE KEY-----",
    b"-----BEGIN ",
    b"Cookie: ",
    b"\nAuthorization:",
    b"hvs.",
    b"s.",
    b"eyJ",
    b"eyJaaaaaaaaaa.",
    b"xoxb-",
    b"sk_live_",
    b"ghp_",
    b"[",
    b"{",
    b'{"a":',
    b'{"name":"password","value":',
    b'"name": "password", "value": ',
    b",",
    b'"",',
    b"=",
    b"@",
    b"sig=",
    b"<password>",
    b"<a",
    b"\\u00e9",
    "é".encode(),
    b"\xff",
]


def filled(fragment: bytes, size: int = MB) -> bytes:
    return fragment * (size // len(fragment) + 1)


def check(data: bytes) -> None:
    redacted = redact_bytes(data)
    assert len(redacted) <= 12 * len(data) + 64
    text = data.decode("utf-8", "surrogateescape")
    assert len(redact_text(text)) <= 12 * len(text) + 64


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=[repr(f)[2:-1][:24] for f in FRAGMENTS])
def test_a_megabyte_of_one_pathological_shape(fragment: bytes) -> None:
    check(filled(fragment))


@pytest.mark.parametrize(
    "data",
    [
        b"a" * (MB // 2) + b"://x:" + b"b" * (MB // 2),
        b"\n" * MB + b"Cookie: x",
        b'"password": "' + b"x" * MB,
        b"-----BEGIN RSA PRIVATE KEY-----" + b"A" * MB,
        b"Bearer " + b"A" * MB,
        b"a" * MB + b"=1",
        b"a." * (MB // 2) + b"=1",
        b"x" * MB + b"@",
        json.dumps({f"k{i}": [f"password={i}"] for i in range(MB // 24)}).encode(),
    ],
    ids=["url-tail", "newlines-then-header", "unclosed-quote", "pem-no-end", "bearer-long",
         "long-name", "dotted-name", "no-at-sign", "json-many-keys"],
)  # fmt: skip
def test_a_megabyte_of_the_reported_shapes(data: bytes) -> None:
    check(data)


@given(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4),
    st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=3),
)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_megabyte_of_mixed_pathological_shapes(pattern: list[bytes], tail: list[bytes]) -> None:
    check(filled(b"".join(pattern), MB - 64) + b"".join(tail))


def cloudtrail_without_event_name(user_agent: str) -> bytes:
    """The reproduction of the issue: a record the normalizer rejects, whose userAgent
    is the pathological part."""
    return json.dumps(
        {"eventVersion": "1.08", "eventTime": "2026-03-01T00:00:00Z", "userAgent": user_agent}
    ).encode()


@pytest.mark.parametrize(
    "user_agent",
    ["\n" * (MB // 2), "a" * (MB // 4) + "://x:" + "b" * (MB // 4), '"a": ' * (MB // 5)],
    ids=["newlines", "url-password", "pairs"],
)
def test_a_dead_letter_of_a_megabyte_record_is_written(user_agent: str) -> None:
    value = cloudtrail_without_event_name(user_agent)
    letter = codec_for("DeadLetter").decode_dict(
        dead_letter_bytes(
            source_topic="raw.cloudtrail",
            value=value,
            error=f"record without eventName: {value[:2000].decode()}",
            error_type="validation",
            stage="normalize:cloudtrail",
            failed_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    )
    assert json.loads(letter["value"])["userAgent"] == user_agent


def test_a_csv_line_of_a_megabyte() -> None:
    header = b"employee_id,password," * 1000
    for line in (b'"' + b'""' * (MB // 2), b"," * MB, b'a,"' * (MB // 3), b'"x",' * (MB // 4)):
        assert len(redact_csv_line(line, header)) <= 12 * len(line) + 64


def test_json_nested_in_strings_many_times_is_redacted_not_raised() -> None:
    """A string holding JSON whose strings hold JSON, each level nested deep: parsing
    every level would recurse past the interpreter's stack."""
    document: object = {"password": "hunter2"}
    for _ in range(10):
        nested: object = json.dumps(document)
        for _ in range(60):
            nested = [nested]
        document = nested
    redacted = redact_value(document)
    assert "hunter2" not in json.dumps(redacted)
    assert "hunter2" not in redact_bytes(json.dumps(document).encode()).decode()
