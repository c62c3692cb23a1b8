"""Rows of the ClickHouse tables, built from decoded records (plain dicts)."""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.codec import load_schema_json


@dataclass(frozen=True)
class TableSpec:
    table: str
    record: str
    columns: tuple[str, ...]
    # Columns stored as Array/Map: ClickHouse has no NULL for them, an empty one stands in.
    empty_when_null: Mapping[str, Any]


def _spec(table: str, record: str, empty_when_null: Mapping[str, Any] | None = None) -> TableSpec:
    columns = tuple(field["name"] for field in load_schema_json(record)["fields"])
    return TableSpec(table, record, columns, empty_when_null or {})


EVENT_TABLES: dict[str, TableSpec] = {
    spec.record: spec
    for spec in (
        _spec("directory_changes", "DirectoryChange", {"accounts": [], "attributes": {}}),
        _spec("cloud_audit", "CloudAuditEvent"),
        _spec("secret_usage", "SecretUsageEvent"),
        _spec("identity_links", "IdentityLink"),
    )
}
"""Normalized input events: one table per canonical input record."""

FINDING_TABLES: dict[str, TableSpec] = {
    spec.record: spec
    for spec in (
        _spec("provisioning_lag", "ProvisioningLag"),
        _spec("alerts", "Alert"),
        _spec("alert_silences", "Silence", {"matchers": {}}),
        _spec("ownership", "Ownership"),
        _spec("deprovision_pairs", "DeprovisionPair"),
    )
}
"""What the detection core found."""

ALL_TABLES: dict[str, TableSpec] = {**EVENT_TABLES, **FINDING_TABLES}


def to_rows(spec: TableSpec, records: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for record in records:
        row = []
        for column in spec.columns:
            value = record.get(column)
            if value is None and column in spec.empty_when_null:
                value = spec.empty_when_null[column]
            row.append(value)
        rows.append(row)
    return rows


def dedup_token(table: str, payloads: Iterable[bytes]) -> str:
    """The same batch of input bytes always gets the same token, so a retried insert is a no-op."""
    digest = hashlib.sha256(table.encode())
    for payload in payloads:
        digest.update(len(payload).to_bytes(4, "little"))
        digest.update(payload)
    return f"{table}:{digest.hexdigest()}"
