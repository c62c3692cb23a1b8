"""Canonical JSON lines: ``{"record": "CloudAuditEvent", ...fields}``, times as RFC 3339."""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from accessdrift import jsontext
from accessdrift.catalog import INPUT_TOPICS, INPUTS
from accessdrift.errors import RecordError
from accessdrift.normalizers.scrub import scrub
from accessdrift.schemas.models import (
    CANONICAL_INPUTS,
    IdentityLink,
    Record,
)


@dataclass(frozen=True)
class Routed:
    """A validated record with the topic and key it goes to."""

    record: Record
    topic: str
    key: str


def record_key(record: Record) -> str:
    """The contract's message key of each canonical record (``accessdrift/catalog.py``)."""
    spec = INPUTS.get(type(record).__name__)
    if spec is None:
        raise TypeError(f"no key rule for {type(record).__name__}")
    return spec.key_of(record.__dict__)


def parse_object(payload: Any) -> Routed:
    if not isinstance(payload, dict):
        raise RecordError(f"expected a JSON object, got {type(payload).__name__}")
    fields = dict(payload)
    name = fields.pop("record", None)
    if not isinstance(name, str) or name not in CANONICAL_INPUTS:
        known = ", ".join(CANONICAL_INPUTS)
        raise RecordError(f"field 'record' must name one of {known}; got {name!r}")
    try:
        record = CANONICAL_INPUTS[name].model_validate(fields)
    except (OverflowError, RecursionError, TypeError) as error:  # not wrapped by pydantic
        raise RecordError(f"invalid {name}: {type(error).__name__}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or name}: {issue['msg']}"
            for issue in error.errors()
        )
        raise RecordError(f"invalid {name}: {problems}") from error
    if isinstance(record, IdentityLink) and not (record.account_id or record.credential_id):
        raise RecordError(
            "invalid IdentityLink: it names neither an account_id nor a credential_id"
        )
    # What a replay produces passes the same scrub as what the normalizers produce.
    record = scrub(record)
    return Routed(record, INPUT_TOPICS[name], record_key(record))


def parse_line(data: bytes) -> Routed:
    return parse_object(jsontext.loads(data))
