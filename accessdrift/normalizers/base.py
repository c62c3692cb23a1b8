"""What every normalizer shares: the declaration of a raw format, the result type and
the field helpers."""

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, judged
from accessdrift.errors import RecordError
from accessdrift.normalizers.config import MAX_RECORDS_PER_MESSAGE as MAX_RECORDS_PER_MESSAGE
from accessdrift.normalizers.config import NormalizerConfig
from accessdrift.schemas.models import Record

# The Kafka headers a raw message may come with: a CSV line's file header (a line is read
# with it), and the feed it came from (a SCIM feed's side, set per feed).
CSV_HEADER = "csv-header"
FEED_HEADER = "accessdrift-feed"

Spec = TypeVar("Spec")


@dataclass(frozen=True)
class Normalized:
    records: Sequence[Record] = field(default_factory=list)
    ignored: str | None = None  # the rule that ignores this record, when it is ignored
    dropped: int = 0  # records this vendor record makes past the cap: counted, not built

    @staticmethod
    def ignore(rule: str) -> "Normalized":
        return Normalized([], rule)


@dataclass(frozen=True)
class MessageContext:
    """What a raw message is read with besides its bytes: its Kafka headers and the
    deployment's settings of the normalizers."""

    headers: Mapping[str, bytes] = field(default_factory=dict)
    config: NormalizerConfig = field(default_factory=NormalizerConfig)


RecordNormalizer = Callable[[Any, int, MessageContext], Normalized]
"""A vendor record, the canonical records it may make (what the message's cap has left),
and its message's context -> what it became. Raises ``RecordError`` for a bad record."""


def whole(document: Any) -> list[Any]:
    """A message that is one vendor record."""
    return [document]


@dataclass(frozen=True, kw_only=True)
class RawFormat:
    """A raw log format, declared by its normalizer module as ``FORMAT = RawFormat(...)``:
    the registry finds it there, and ``raw.<name>`` is its topic, ``replay --format <name>``
    sends its files, one agent of the worker normalizes it."""

    name: str
    summary: str  # what it reads and what it makes, in a line
    # Where it is listed among the formats (the topics created, ``replay --help``):
    # the formats are listed by this number, then by name.
    order: int
    normalize: RecordNormalizer
    # A message's document -> its vendor records (a CloudTrail file's ``Records``, an
    # Okta event hook's events); a JSON document unless ``document`` says otherwise.
    unwrap: Callable[[Any], list[Any]] = whole
    # "json": a message is a JSON document (a replayed file is a document or JSON lines);
    # "csv-line": a message is one CSV line, its file's header line in the CSV_HEADER
    # Kafka header (a replayed file is a CSV file, its first line the header).
    document: Literal["json", "csv-line"] = "json"


def csv_rows(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A whole CSV file -> (header line, [(line number, line)]), blank lines left out: a
    file of a ``csv-line`` format, to replay line by line with its header."""
    lines = data.splitlines()
    if not lines:
        return b"", []
    return lines[0], [
        (number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()
    ]


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


def listed(value: Any) -> list[Any]:
    """The value if it is a JSON array, else an empty one (a vendor list a hostile record
    made a number is no list to walk)."""
    return value if isinstance(value, list) else []


def mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


GRANT_KINDS = frozenset({"permission_granted", "permission_revoked"})
DEFAULT_PATTERNS: Sequence[str] = DEFAULT_PRIVILEGED
"""The privileged patterns a normalizer judges with when no settings are given."""


def entitlement_fields(
    kind: str,
    entitlement: str | None,
    patterns: Sequence[str],
    seen_privileged: bool | None = None,
) -> dict[str, Any]:
    """``entitlement`` and ``privileged`` of a CloudAuditEvent of this kind: set for every
    grant or revoke (``privileged`` by the patterns, or True when the normalizer saw the
    content say so: ``seen_privileged``), left null for every other kind. A grant whose
    entitlement the log does not name keeps its kind (a mover's change is still done)
    with ``entitlement`` null and ``privileged`` False."""
    if kind not in GRANT_KINDS:
        return {}
    return {
        "entitlement": entitlement,
        "privileged": judged(entitlement, seen_privileged, patterns),
    }


# Event ids are the sinks' keys (a re-read of old logs replaces rows by them): an id a
# released version made for a vendor record must stay the id of that event. So each
# fan-out keeps the rule it had when it was first released, and a record that now makes
# more events than it used to gives the new ones new ids, never the old one's away.


def fanned_id(event_id: str, index: int, count: int) -> str:
    """The id of the ``index``-th of ``count`` events one vendor record makes: the record's
    own id when it makes one, ``<id>#<index>`` when several (unique, and the same on every
    replay). Workspace admin events have had these ids since they were first mapped."""
    return event_id if count <= 1 else f"{event_id}#{index}"


def extended_id(event_id: str, index: int) -> str:
    """The id of the ``index``-th event of a vendor record that used to make one: the
    first keeps the record's own id (the one event it made before), the others are
    ``<id>#<index>``. Okta privilege events listing several roles and Vault entity
    writes naming several policies made one event until they were split by entitlement."""
    return event_id if index == 0 else f"{event_id}#{index}"


def require_object(record: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise RecordError(f"{what} record is not a JSON object")
    return record
