"""The detectors' sample cases: YAML files in ``cases/``, one per detector, named after
its module. A case is canonical input records (the JSON lines ``accessdrift replay
--format canonical`` reads), optional settings and a tick, and exactly the findings
expected once they have gone through the whole core.

    detector: use_after            # the detector's name (its module's)
    cases:
      - name: a successful use after the leaver
        kind: used_after_deprovision   # the alert kind the case is about (none: lag rows)
        fires: true                    # whether that kind comes out (none: any finding)
        settings: {grace_seconds: 60, sla_hours: 24, sla_overrides_hours: {"aws:human": 1}}
        records:
          - {record: DirectoryChange, event_id: d1, event_time: 2026-03-02T09:00:00Z, ...}
        tick_at: 2026-03-03T10:00:00Z  # optional: a timer's tick at this wall time
        alerts: [{kind: used_after_deprovision, credential_id: "aws:AKIA...", ...}]
        lags: [{change_type: leaver, status: closed, lag_seconds: 3600.0}]
        pairs: [...]                   # optional: the deprovision pairs, when given

Each expected finding names the fields it checks (``evidence``: some keys of the
evidence JSON); the findings must match the expected ones one to one.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from accessdrift.canonical import parse_object
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.entitlements import expand_patterns
from accessdrift.core.timeutil import MICROS, to_micros

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = {
    "name",
    "kind",
    "fires",
    "settings",
    "records",
    "tick_at",
    "alerts",
    "lags",
    "pairs",
    "ledger",
}
SETTINGS = {
    "grace_seconds",
    "lookback_days",
    "sla_hours",
    "sla_overrides_hours",
    "mover_sla_hours",
    "privileged",
    "stale_after_days",
    "max_credential_age_days",
    "sharing_window_days",
    "uncorrelated_after_days",
}


class _Loader(yaml.SafeLoader):
    """Times stay the RFC 3339 strings a JSON line has: no YAML timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Case:
    detector: str
    name: str
    kind: str | None
    fires: bool
    records: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)
    tick_at: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    lags: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] | None = None
    # The access ledger's intervals (not removed) the case ends with, all of them.
    ledger: list[dict[str, Any]] | None = None

    @property
    def id(self) -> str:
        return f"{self.detector}: {self.name}"


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.load(path.read_text("utf-8"), Loader=_Loader)
        if set(document) != {"detector", "cases"} or document["detector"] != path.stem:
            raise ValueError(f"{path}: expected 'detector: {path.stem}' and 'cases'")
        for raw in document["cases"]:
            unknown = set(raw) - CASE_KEYS
            if unknown or not {"name", "fires", "records"} <= set(raw):
                raise ValueError(f"{path}: case {raw.get('name')!r}: keys {sorted(raw)}")
            unknown_settings = set(raw.get("settings") or {}) - SETTINGS
            if unknown_settings:
                raise ValueError(f"{path}: {raw['name']!r}: settings {sorted(unknown_settings)}")
            cases.append(Case(detector=path.stem, kind=raw.get("kind"), **_without(raw, "kind")))
    return cases


def _without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in raw.items() if name != key}


def config_of(settings: dict[str, Any]) -> DetectionConfig:
    default = DetectionConfig()
    return DetectionConfig(
        grace_us=round(settings.get("grace_seconds", default.grace_us / MICROS) * MICROS),
        lookback_us=round(
            settings.get("lookback_days", default.lookback_us / MICROS / 86_400) * 86_400 * MICROS
        ),
        deprovision_sla_us=round(
            settings.get("sla_hours", default.deprovision_sla_us / MICROS / 3600) * 3600 * MICROS
        ),
        sla_overrides_us={
            key: round(hours * 3600 * MICROS)
            for key, hours in (settings.get("sla_overrides_hours") or {}).items()
        },
        mover_sla_us=round(
            settings.get("mover_sla_hours", default.mover_sla_us / MICROS / 3600) * 3600 * MICROS
        ),
        privileged_patterns=expand_patterns(settings.get("privileged") or ["defaults"]),
        stale_after_us=_days(settings, "stale_after_days", default.stale_after_us),
        max_credential_age_us=_days(
            settings, "max_credential_age_days", default.max_credential_age_us
        ),
        sharing_window_us=_days(settings, "sharing_window_days", default.sharing_window_us),
        # The admins who act in other detectors' cases are accounts nobody claims, acting
        # over weeks: those cases say nothing about them unless they set the age.
        uncorrelated_after_us=_days(settings, "uncorrelated_after_days", 3650 * 86_400 * MICROS),
    )


def _days(settings: dict[str, Any], name: str, default_us: int) -> int:
    return round(float(settings.get(name, default_us / MICROS / 86_400)) * 86_400 * MICROS)


def run(case: Case) -> Engine:
    """The records in the order given, through both stages; the wall clock follows
    event time, as if live."""
    engine = Engine(config_of(case.settings))
    for payload in case.records:
        record = parse_object(payload).record
        fields = record.model_dump()
        engine.feed(type(record).__name__, fields, to_micros(fields["event_time"]))
    if case.tick_at is not None:
        engine.tick(to_micros(_time(case.tick_at)))
    return engine


def unmatched(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(expected findings no actual one matches, actual findings left over), pairing
    each expected finding with the first actual one that has its fields."""
    left = list(actual)
    missing = []
    for wanted in expected:
        match = next((found for found in left if _has(found, wanted)), None)
        if match is None:
            missing.append(wanted)
        else:
            left.remove(match)
    return missing, left


def _has(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        if key == "evidence":
            evidence = json.loads(found["evidence"])
            if any(evidence.get(name) != item for name, item in value.items()):
                return False
        elif key not in found:
            raise KeyError(f"no field {key!r} in a finding: {sorted(found)}")
        elif isinstance(found[key], datetime) and isinstance(value, str):
            if found[key] != _time(value):
                return False
        elif found[key] != value:
            return False
    return True


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
