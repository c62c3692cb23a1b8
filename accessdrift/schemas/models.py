"""Typed models of the canonical records.

Each model mirrors one ``.avsc`` file beside it field for field (a unit test
proves they agree). Pydantic validates at the edges, where input comes from a
person or a vendor; records decoded from Avro are trusted and built with
``model_construct``.
"""

import json
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

IdentityKind = Literal["human", "nhi"]
ChangeType = Literal["joiner", "mover", "leaver", "suspend", "reactivate", "owner_change"]
CloudEventKind = Literal[
    "usage",
    "account_created",
    "account_disabled",
    "account_deleted",
    "credential_created",
    "credential_revoked",
    "permission_granted",
    "permission_revoked",
]
Outcome = Literal["success", "failure"]
LagStatus = Literal["closed", "preceded", "overdue"]


def _enum_symbols(record: str, field: str) -> tuple[str, ...]:
    schema = json.loads(
        resources.files("accessdrift.schemas").joinpath(f"{record}.avsc").read_text("utf-8")
    )
    (avro_type,) = (entry["type"] for entry in schema["fields"] if entry["name"] == field)
    return tuple(avro_type["symbols"])


ALERT_KINDS = _enum_symbols("Alert", "kind")
"""The alert kinds, read from ``Alert.avsc``: a new detection adds its kind to that enum
alone (the detector registry, ``accessdrift/core/detectors``, declares what it means)."""
if TYPE_CHECKING:
    AlertKind = str
else:
    AlertKind = Literal[ALERT_KINDS]
Severity = Literal["critical", "high", "medium", "low", "info"]


class Record(BaseModel):
    """Base of every canonical record: immutable, no unknown fields, UTC times."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _times_in_utc(cls, value: object) -> object:
        # Avro timestamp-micros has no zone: keep every time in UTC so that
        # equal instants compare and serialize equal.
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return value


class DirectoryChange(Record):
    event_id: str
    event_time: AwareDatetime
    source: str
    identity_id: str
    identity_kind: IdentityKind
    change_type: ChangeType
    accounts: list[str] | None = None
    owner_id: str | None = None
    attributes: dict[str, str] | None = None
    email: str | None = None


class CloudAuditEvent(Record):
    event_id: str
    event_time: AwareDatetime
    system: str
    account_id: str
    credential_id: str | None = None
    action: str
    kind: CloudEventKind
    target_account_id: str | None = None
    target_credential_id: str | None = None
    outcome: Outcome
    source_ip: str | None = None
    user_agent: str | None = None
    entitlement: str | None = None
    privileged: bool | None = None


class SecretUsageEvent(Record):
    event_id: str
    event_time: AwareDatetime
    store: str
    credential_id: str
    account_id: str | None = None
    secret_ref: str | None = None
    operation: str
    outcome: Outcome


class IdentityLink(Record):
    event_time: AwareDatetime
    source: str
    identity_id: str
    identity_kind: IdentityKind
    account_id: str | None = None
    credential_id: str | None = None
    removed: bool = False


class ProvisioningLag(Record):
    lag_id: str
    identity_id: str
    identity_kind: IdentityKind
    change_type: ChangeType
    system: str
    account_id: str
    credential_id: str | None = None
    source_time: AwareDatetime
    downstream_time: AwareDatetime | None = None
    lag_seconds: float | None = None
    status: LagStatus
    detected_at: AwareDatetime
    entitlement: str | None = None


class Alert(Record):
    alert_id: str
    kind: AlertKind
    severity: Severity
    identity_id: str
    identity_kind: IdentityKind
    account_id: str | None = None
    credential_id: str | None = None
    deprovisioned_at: AwareDatetime
    used_at: AwareDatetime | None = None
    seconds_after: float | None = None
    system: str | None = None
    action: str | None = None
    source_ip: str | None = None
    detected_at: AwareDatetime
    evidence: str
    entitlement: str | None = None
    resolved_at: AwareDatetime | None = None


class DeadLetter(Record):
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    value: bytes
    error: str
    error_type: str
    stage: str
    failed_at: AwareDatetime


class Silence(Record):
    silence_id: str
    matchers: dict[str, str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str
    created_by: str
    created_at: AwareDatetime
    expired_at: AwareDatetime | None = None
    updated_at: AwareDatetime


SubjectKind = Literal["account", "credential"]
OwnershipClaim = Literal["link", "created", "used", "email", "none"]
PairStatus = Literal["open", "overdue", "closed", "preceded"]


class Ownership(Record):
    subject: str
    subject_kind: SubjectKind
    system: str
    identity_id: str
    identity_kind: IdentityKind
    correlated: bool
    claim: OwnershipClaim
    claim_source: str
    parent_id: str | None = None
    claimed_at: AwareDatetime | None = None
    resolved_at: AwareDatetime


class DeprovisionPair(Record):
    lag_id: str
    identity_id: str
    identity_kind: IdentityKind
    change_type: ChangeType
    system: str
    account_id: str
    credential_id: str | None = None
    source_time: AwareDatetime
    sla_seconds: float
    due_at: AwareDatetime
    status: PairStatus
    downstream_time: AwareDatetime | None = None
    lag_seconds: float | None = None
    within_sla: bool | None = None
    detected_at: AwareDatetime


LedgerSubjectType = Literal["account", "credential", "entitlement"]


class AccessInterval(Record):
    interval_id: str
    system: str
    account_id: str
    subject_type: LedgerSubjectType
    subject: str
    identity_id: str
    identity_kind: IdentityKind
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    opened_by: str | None = None
    closed_by: str | None = None
    privileged: bool
    removed: bool = False
    updated_at: AwareDatetime


CANONICAL_INPUTS: dict[str, type[Record]] = {
    "DirectoryChange": DirectoryChange,
    "CloudAuditEvent": CloudAuditEvent,
    "SecretUsageEvent": SecretUsageEvent,
    "IdentityLink": IdentityLink,
}
"""The records a user may replay with ``--format canonical``."""

ALL_RECORDS: dict[str, type[Record]] = {
    **CANONICAL_INPUTS,
    "ProvisioningLag": ProvisioningLag,
    "Alert": Alert,
    "DeadLetter": DeadLetter,
    "Silence": Silence,
    "Ownership": Ownership,
    "DeprovisionPair": DeprovisionPair,
    "AccessInterval": AccessInterval,
}
