"""What every normalizer shares: the result type and the field helpers."""

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from accessdrift.errors import RecordError
from schemas.models import Record

# Records one raw message may make, and vendor records it may hold (the default of
# ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE). A CloudTrail file under the 1 MB message cap
# holds about a thousand records; a SCIM PATCH of 60,000 members, or 100,000 broken
# records in one message, would otherwise be that many records' work and memory.
MAX_RECORDS_PER_MESSAGE = 10_000

Spec = TypeVar("Spec")


@dataclass(frozen=True)
class Normalized:
    records: Sequence[Record] = field(default_factory=list)
    ignored: str | None = None  # the rule that ignores this record, when it is ignored
    dropped: int = 0  # records this vendor record makes past the cap: counted, not built

    @staticmethod
    def ignore(rule: str) -> "Normalized":
        return Normalized([], rule)


def bounded(specs: Iterable[Spec], build: Callable[[Spec], Record], limit: int) -> Normalized:
    """The records of a vendor record that fans out (a group's members, a policy's deltas):
    the first ``limit`` built, the rest only counted, so that 60,000 members cost 60,000
    cheap steps and ``limit`` records, not 60,000 records."""
    remaining = iter(specs)
    records = [build(spec) for spec in itertools.islice(remaining, max(limit, 0))]
    return Normalized(records, dropped=sum(1 for _ in remaining))


def parse_time(value: Any, what: str = "time") -> datetime:
    """RFC 3339 and the vendors' near variants (``2022-03-22 14:21:53.225``, nanoseconds)."""
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"missing {what}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    # Python takes at most 6 fractional digits: Vault and Go write 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(character for character in rest if character.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise RecordError(f"unreadable {what}: {value!r}") from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the vendors write UTC when they write no zone
    return parsed.astimezone(UTC)


def stable_id(prefix: str, record: Any) -> str:
    """An id for a record that has none: the same record always gets the same id."""
    text = json.dumps(record, sort_keys=True, default=str)
    return f"{prefix}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def dig(record: Mapping[str, Any], *path: str) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return str(value)


def mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def require_object(record: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise RecordError(f"{what} record is not a JSON object")
    return record
