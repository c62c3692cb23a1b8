import json

import pytest

from accessdrift.canonical import parse_line, record_key
from accessdrift.errors import DecodeError, RecordError
from accessdrift.schemas.models import CloudAuditEvent, IdentityLink

USE = {
    "record": "CloudAuditEvent",
    "event_id": "e1",
    "event_time": "2026-03-02T09:00:00Z",
    "system": "aws",
    "account_id": "aws:1:user/a",
    "credential_id": "aws:AKIA1",
    "action": "GetObject",
    "kind": "usage",
    "outcome": "success",
}


def test_a_valid_line_is_routed_with_its_key() -> None:
    routed = parse_line(json.dumps(USE).encode())
    assert isinstance(routed.record, CloudAuditEvent)
    assert routed.topic == "cloud.audit"
    assert routed.key == "aws:AKIA1"


def test_keys_follow_the_contract() -> None:
    no_credential = {**USE, "credential_id": None}
    assert parse_line(json.dumps(no_credential).encode()).key == "aws:1:user/a"
    link = IdentityLink.model_validate(
        {
            "event_time": "2026-03-02T09:00:00Z",
            "source": "s",
            "identity_id": "E1",
            "identity_kind": "human",
            "account_id": "okta:1",
        }
    )
    assert record_key(link) == "okta:1"


@pytest.mark.parametrize(
    "line, error, message",
    [
        (b"{", DecodeError, "not JSON"),
        (b"\xff\xfe", DecodeError, "not JSON"),
        (b"[1, 2]", RecordError, "expected a JSON object"),
        (json.dumps({**USE, "record": "Alert"}).encode(), RecordError, "must name one of"),
        (
            json.dumps({k: v for k, v in USE.items() if k != "record"}).encode(),
            RecordError,
            "must name one of",
        ),
        (json.dumps({**USE, "kind": "telepathy"}).encode(), RecordError, "kind"),
        (json.dumps({**USE, "event_time": "yesterday"}).encode(), RecordError, "event_time"),
        (
            json.dumps({**USE, "event_time": "2026-03-02T09:00:00"}).encode(),
            RecordError,
            "timezone",
        ),
        (json.dumps({**USE, "secret": "x"}).encode(), RecordError, "secret"),
    ],
)
def test_bad_lines_give_clear_errors(line: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_line(line)
