"""Hostile input never escapes: every normalizer, the canonical parser, the Avro codec
and replay's splitter turn any bytes into records or errors of their own family.

Seeds are real-shaped records (tests/fixtures/fuzz/seeds.jsonl and the published
samples); hypothesis mutates them; the inputs that once broke something are
kept in tests/fixtures/fuzz/crashers.jsonl.
"""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessdrift.canonical import parse_line
from accessdrift.errors import AccessDriftError, RecordError
from accessdrift.normalizers.registry import (
    CSV_HEADER,
    JSON_FORMATS,
    normalize_message,
    split_for_replay,
)
from accessdrift.schemas.codec import codec_for, encode
from tests.unit.samples import panther

FUZZ = Path(__file__).resolve().parents[1] / "fixtures" / "fuzz"
SEEDS: list[tuple[str, Any]] = [
    (line["format"], json.loads(line["value"]))
    for line in map(json.loads, (FUZZ / "seeds.jsonl").read_text().splitlines())
]
for format_name, name in (
    ("cloudtrail", "aws-cloudtrail.jsonl"),
    ("gcp-audit", "gcp-auditlog.jsonl"),
    ("okta", "okta-systemlog.jsonl"),
    ("entra-audit", "azure-audit.jsonl"),
):
    SEEDS += [(format_name, json.loads(message)) for message in panther(name)[:15]]
CANONICAL = Path(__file__).resolve().parents[1] / "fixtures" / "canonical" / "every-record.jsonl"

HOSTILE_TEXT = st.sampled_from(
    [
        "\ud800",
        "x\udfffy",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "-1",
        "",
        "\x00",
        '=HYPERLINK("http://evil")',
        "<script>alert(1)</script>",
        "a" * 5000,
        "1e400",
        "null",
    ]
)
HOSTILE = st.one_of(
    HOSTILE_TEXT,
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.just({}),
    st.just([]),
    st.just({"record": {}}),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=2), max_leaves=30),
)


def paths_of(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths_of(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def harmless(format_name: str, value: bytes) -> None:
    """As the worker does: normalize, then encode each record; only our errors."""
    headers = {CSV_HEADER: b"employee_id,action,effective_date"} if format_name == "hr-csv" else {}
    for outcome in normalize_message(format_name, value, headers):
        assert (outcome.error is None) or not outcome.records
        for record in outcome.records:
            try:
                encoded = encode(record)
            except RecordError:
                continue  # the agent dead-letters it with this reason
            codec_for(type(record).__name__).decode_dict(encoded)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_vendor_records_become_records_or_dead_letters(seed: Any, data: Any) -> None:
    format_name, document = seed
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths_of(document)))
        document = replaced(document, path, data.draw(HOSTILE))
    value = json.dumps(document).encode()
    harmless(format_name, value)
    split_for_replay(format_name, value)


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_broken_bytes_become_dead_letters(seed: Any, data: Any) -> None:
    format_name, document = seed
    value = bytearray(json.dumps(document).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
        value[position] = data.draw(st.integers(min_value=0, max_value=255))
    harmless(format_name, bytes(value))
    split_for_replay(format_name, bytes(value))


CANONICAL_LINES = [
    json.loads(line) for line in CANONICAL.read_text().splitlines() if line.strip().startswith("{")
]


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(CANONICAL_LINES), data=st.data())
def test_mutated_canonical_lines_are_records_or_record_errors(seed: Any, data: Any) -> None:
    path = data.draw(st.sampled_from(paths_of(seed)))
    line = json.dumps(replaced(seed, path, data.draw(HOSTILE))).encode()
    try:
        routed = parse_line(line)
    except RecordError:
        return
    try:
        encode(routed.record)
    except RecordError:
        return


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["CloudAuditEvent", "DirectoryChange", "Alert", "DeadLetter"]),
       body=st.binary(max_size=300))  # fmt: skip
def test_the_avro_codec_refuses_garbage_with_a_decode_error(name: str, body: bytes) -> None:
    codec = codec_for(name)
    for data in (body, codec.header + body):
        with contextlib.suppress(AccessDriftError):
            codec.decode_dict(data)


def crashers() -> list[tuple[str, bytes, str]]:
    cases = []
    for line in (FUZZ / "crashers.jsonl").read_text().splitlines():
        case = json.loads(line)
        formats = [*JSON_FORMATS] if case["format"] == "*" else [case["format"]]
        for format_name in formats:
            if "value_repeat" in case:
                opening, times, closing, again = case["value_repeat"]
                value = (opening * times + closing * again).encode()
            elif "mutate" in case:
                document = next(doc for fmt, doc in SEEDS if fmt == format_name)
                for dotted, new in case["mutate"].items():
                    document = replaced_dotted(document, dotted.split("."), new)
                value = json.dumps(document).encode()
            else:
                value = case["value"].encode()
            cases.append((format_name, value, case["broke"]))
    return cases


def replaced_dotted(document: Any, path: list[str], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target.setdefault(step, {})
    target[path[-1]] = value.encode().decode("unicode_escape") if "\\u" in value else value
    return copy


@pytest.mark.parametrize("format_name, value, broke", crashers())
def test_inputs_that_once_broke_something_stay_harmless(
    format_name: str, value: bytes, broke: str
) -> None:
    if format_name == "canonical":
        with contextlib.suppress(RecordError):
            encode(parse_line(value).record)
        return
    harmless(format_name, value)
    split_for_replay(format_name, value)


@pytest.mark.parametrize(
    "value",
    [
        b"1" * 5000,  # more digits than Python converts: a ValueError, once
        b'{"eventName": "x", "a": "\xed\xa0\x80"}',  # a surrogate as UTF-8 bytes
        '{"eventName": "\ud800"}'.encode("utf-16", "surrogatepass"),  # UTF-16, a lone surrogate
        b'{"password": "x", "a": "\xed\xa0\x80"}',
    ],
)
def test_inputs_a_hostile_review_found_stay_harmless(value: bytes) -> None:
    from accessdrift.redact import redact_bytes

    for format_name in JSON_FORMATS:
        harmless(format_name, value)
        split_for_replay(format_name, value)
    redact_bytes(value)
