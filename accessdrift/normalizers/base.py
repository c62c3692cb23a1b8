"""What every normalizer shares: the result type and the field helpers."""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from accessdrift.errors import RecordError
from schemas.models import Record


@dataclass(frozen=True)
class Normalized:
    records: Sequence[Record] = field(default_factory=list)
    ignored: str | None = None  # the rule that ignores this record, when it is ignored

    @staticmethod
    def ignore(rule: str) -> "Normalized":
        return Normalized([], rule)


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
