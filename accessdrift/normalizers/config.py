"""What a deployment sets of the normalizers, in one leaf module every format may read:
the SCIM feeds (``ACCESSDRIFT_SCIM_*``), the HR CSV mapping (``ACCESSDRIFT_HR_CSV_MAPPING``),
the cap of records per message (``ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE``) and the patterns
of privileged entitlements (``ACCESSDRIFT_PRIVILEGED_ENTITLEMENTS``). A format's
options live here, not in its module, so that ``base.MessageContext`` can carry them
without importing a format (which imports ``base``)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED
from accessdrift.errors import ConfigError

# Records one raw message may make, and vendor records it may hold (the default of
# ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE). A CloudTrail file under the 1 MB message cap
# holds about a thousand records; a SCIM PATCH of 60,000 members, or 100,000 broken
# records in one message, would otherwise be that many records' work and memory.
MAX_RECORDS_PER_MESSAGE = 10_000


@dataclass(frozen=True)
class ScimFeed:
    """One SCIM feed's side of its provisioning link (see ``scim``)."""

    side: str = "source"  # or "downstream"
    system: str = "scim"


DEFAULT_CHANGE_TYPES = {
    "hire": "joiner",
    "new hire": "joiner",
    "rehire": "joiner",
    "joiner": "joiner",
    "transfer": "mover",
    "promotion": "mover",
    "role change": "mover",
    "job change": "mover",
    "mover": "mover",
    "termination": "leaver",
    "terminate": "leaver",
    "resignation": "leaver",
    "leaver": "leaver",
    "leave of absence": "suspend",
    "suspend": "suspend",
    "return from leave": "reactivate",
    "reactivate": "reactivate",
    "owner change": "owner_change",
}


@dataclass(frozen=True)
class HrMapping:
    """An HR export's columns and how its action words become change types (the YAML
    file is described in ``hr_csv``)."""

    columns: Mapping[str, str] = field(
        default_factory=lambda: {
            "identity_id": "employee_id",
            "change_type": "action",
            "event_time": "effective_date",
            "email": "email",
            "identity_kind": "worker_type",
            "owner_id": "owner_id",
            "accounts": "accounts",
            "event_id": "record_id",
        }
    )
    # "entitlements": what a mover's new role entitles, ids separated by commas (the
    # mover_access_retained detection leaves those alone).
    attributes: tuple[str, ...] = ("department", "title", "manager", "entitlements")
    change_types: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANGE_TYPES))
    timezone: str = "UTC"
    effective_time: str = "00:00"

    @staticmethod
    def load(path: Path | None) -> "HrMapping":
        if path is None:
            return HrMapping()
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read the HR CSV mapping {path}: {error}") from error
        base = HrMapping()
        return HrMapping(
            columns={**base.columns, **(loaded.get("columns") or {})},
            attributes=tuple(loaded.get("attributes") or base.attributes),
            change_types={
                str(key).lower(): str(value)
                for key, value in (loaded.get("change_types") or base.change_types).items()
            },
            timezone=str(loaded.get("timezone") or base.timezone),
            effective_time=str(loaded.get("effective_time") or base.effective_time),
        )


@dataclass(frozen=True)
class NormalizerConfig:
    """The deployment's settings of the normalizers (built from Settings by the worker)."""

    scim_feed: ScimFeed = field(default_factory=ScimFeed)
    scim_feeds: Mapping[str, ScimFeed] = field(default_factory=dict)
    hr_mapping: HrMapping = field(default_factory=HrMapping)
    max_records: int = MAX_RECORDS_PER_MESSAGE  # ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE
    # Settings.privileged_patterns: ACCESSDRIFT_PRIVILEGED_ENTITLEMENTS, "defaults" expanded.
    privileged_patterns: tuple[str, ...] = DEFAULT_PRIVILEGED
