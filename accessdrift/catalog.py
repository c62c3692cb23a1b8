"""The contract's catalogue: every record with its schema, topic, key, compaction and table;
every raw format with its normalizer; every alert kind with its severity, title and what it
means. What the rest of the code lists (the topics to create, the tables to fill, the
formats ``replay`` takes, the kinds a route may name) derives from here; a unit test checks
that the ``.avsc`` files, this catalogue, the routing validator and the command line agree.

Topic names are the contract's, before the configured prefix (``Settings.topic``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from accessdrift.core.detectors import ALERT_KINDS as _DECLARED_KINDS
from accessdrift.core.detectors.base import AlertKind
from accessdrift.normalizers.base import RawFormat
from accessdrift.normalizers.registry import FORMATS
from accessdrift.schemas.models import ALERT_KINDS as AVRO_ALERT_KINDS

DIRECTORY_CHANGES = "directory.changes"
CLOUD_AUDIT = "cloud.audit"
SECRET_USAGE = "secret.usage"
IDENTITY_LINKS = "identity.links"
DRIFT_LAG = "drift.lag"
DRIFT_ALERTS = "drift.alerts"
DEADLETTER = "drift.deadletter"
SILENCES = "drift.silences"
OWNERSHIP = "drift.ownership"
PAIRS = "drift.pairs"
LEDGER = "drift.ledger"

# The worker's own topics between its two stages (docs/architecture.md): internal, not
# the contract's, but created, prefixed and deleted the same way.
RESOLVE = "accessdrift-resolve"
IDENTITY = "accessdrift-identity"

Role = Literal["input", "finding", "deadletter"]


@dataclass(frozen=True)
class RecordSpec:
    """One record of the contract: ``accessdrift/schemas/<record>.avsc`` on ``topic``."""

    record: str
    topic: str
    role: Role
    # The Kafka key: the first of these fields that is set (a dead letter's is its
    # source topic, which is no field of it).
    key: tuple[str, ...]
    table: str | None = None
    compacted: bool = False
    # Columns stored as Array/Map: ClickHouse has no NULL for them, an empty one stands in.
    empty_when_null: Mapping[str, Any] = field(default_factory=dict)

    def key_of(self, record: Mapping[str, Any]) -> str:
        for name in self.key:
            value = record.get(name)
            if value:
                return str(value)
        return ""


RECORDS: tuple[RecordSpec, ...] = (
    RecordSpec(
        "DirectoryChange",
        DIRECTORY_CHANGES,
        "input",
        ("identity_id",),
        "directory_changes",
        empty_when_null={"accounts": [], "attributes": {}},
    ),
    RecordSpec(
        "CloudAuditEvent", CLOUD_AUDIT, "input", ("credential_id", "account_id"), "cloud_audit"
    ),
    RecordSpec("SecretUsageEvent", SECRET_USAGE, "input", ("credential_id",), "secret_usage"),
    RecordSpec(
        "IdentityLink",
        IDENTITY_LINKS,
        "input",
        ("credential_id", "account_id", "identity_id"),
        "identity_links",
        compacted=True,
    ),
    RecordSpec("ProvisioningLag", DRIFT_LAG, "finding", ("identity_id",), "provisioning_lag"),
    RecordSpec("Alert", DRIFT_ALERTS, "finding", ("alert_id",), "alerts"),
    RecordSpec("DeadLetter", DEADLETTER, "deadletter", ()),
    RecordSpec(
        "Silence",
        SILENCES,
        "finding",
        ("silence_id",),
        "alert_silences",
        compacted=True,
        empty_when_null={"matchers": {}},
    ),
    RecordSpec("Ownership", OWNERSHIP, "finding", ("subject",), "ownership", compacted=True),
    RecordSpec(
        "DeprovisionPair", PAIRS, "finding", ("lag_id",), "deprovision_pairs", compacted=True
    ),
    RecordSpec(
        "AccessInterval", LEDGER, "finding", ("interval_id",), "access_ledger", compacted=True
    ),
)

RECORD: Mapping[str, RecordSpec] = {spec.record: spec for spec in RECORDS}
INPUTS: Mapping[str, RecordSpec] = {s.record: s for s in RECORDS if s.role == "input"}
"""The canonical input records, the ones ``replay --format canonical`` takes."""
FINDINGS: Mapping[str, RecordSpec] = {s.record: s for s in RECORDS if s.role == "finding"}
TABLES: Mapping[str, RecordSpec] = {s.record: s for s in RECORDS if s.table is not None}
TOPIC_OF_RECORD: Mapping[str, str] = {spec.record: spec.topic for spec in RECORDS}
INPUT_TOPICS: Mapping[str, str] = {spec.record: spec.topic for spec in INPUTS.values()}
"""Each canonical input record's topic."""
COMPACTED = frozenset(spec.topic for spec in RECORDS if spec.compacted)


RAW_FORMAT: Mapping[str, RawFormat] = FORMATS
"""Every raw format with its normalizer (what it unwraps a message into, how it normalizes
one vendor record): each normalizer module of ``accessdrift/normalizers/`` that declares a
``FORMAT``, one ``raw.<format>`` topic each."""
RAW_FORMATS: tuple[str, ...] = tuple(FORMATS)


def raw_topic(format_name: str) -> str:
    return f"raw.{format_name}"


def all_topics() -> list[str]:
    """The contract's topics (the worker's internal ones are created by the worker)."""
    return [spec.topic for spec in RECORDS] + [raw_topic(name) for name in RAW_FORMATS]


ALERT_KINDS: Mapping[str, AlertKind] = {
    **{name: _DECLARED_KINDS[name] for name in AVRO_ALERT_KINDS if name in _DECLARED_KINDS},
    **_DECLARED_KINDS,
}
"""Every alert kind with its severity per identity kind, its title and what it means, as
its detector declares it (``accessdrift/core/detectors/<detector>.py``), in the order of
``Alert.avsc``'s ``kind`` enum (a unit test checks the two name the same kinds)."""


def alert_title(kind: str, identity_kind: str) -> str:
    """The title a person reads for an alert; a kind this version does not know (a newer
    writer's) is named after itself rather than dropped."""
    declared = ALERT_KINDS.get(kind)
    title = declared.title.get(identity_kind) if declared is not None else None
    return title if title is not None else kind.replace("_", " ").capitalize()
