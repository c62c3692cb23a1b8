"""What the rules need from the settings, as plain data."""

from dataclasses import dataclass, field

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED
from accessdrift.core.timeutil import MICROS


def _most_specific(overrides: dict[str, int], system: str, identity_kind: str) -> int | None:
    if not overrides:
        return None  # the usual case, asked for on every use: no keys to build
    for key in (f"{system}:{identity_kind}", system, f"*:{identity_kind}"):
        if key in overrides:
            return overrides[key]
    return None


@dataclass(frozen=True)
class DetectionConfig:
    grace_us: int = 60 * MICROS
    lookback_us: int = 7 * 86_400 * MICROS
    deprovision_sla_us: int = 86_400 * MICROS
    # "system:kind", "system" or "*:kind" -> SLA in microseconds; most specific wins.
    sla_overrides_us: dict[str, int] = field(default_factory=dict)
    max_uses_per_identity: int = 5000
    mover_sla_us: int = 7 * 86_400 * MICROS
    mover_sla_overrides_us: dict[str, int] = field(default_factory=dict)
    # Expanded patterns (core.entitlements.expand_patterns) of privileged entitlements.
    privileged_patterns: tuple[str, ...] = DEFAULT_PRIVILEGED
    stale_after_us: int = 90 * 86_400 * MICROS
    stale_after_overrides_us: dict[str, int] = field(default_factory=dict)
    max_credential_age_us: int = 90 * 86_400 * MICROS
    max_credential_age_overrides_us: dict[str, int] = field(default_factory=dict)
    sharing_window_us: int = 86_400 * MICROS
    uncorrelated_after_us: int = 7 * 86_400 * MICROS

    def sla_for(self, system: str, identity_kind: str) -> int:
        found = _most_specific(self.sla_overrides_us, system, identity_kind)
        return self.deprovision_sla_us if found is None else found

    def mover_sla_for(self, system: str, identity_kind: str) -> int:
        found = _most_specific(self.mover_sla_overrides_us, system, identity_kind)
        return self.mover_sla_us if found is None else found

    def stale_after_for(self, system: str, identity_kind: str) -> int:
        found = _most_specific(self.stale_after_overrides_us, system, identity_kind)
        return self.stale_after_us if found is None else found

    def max_credential_age_for(self, system: str, identity_kind: str) -> int:
        found = _most_specific(self.max_credential_age_overrides_us, system, identity_kind)
        return self.max_credential_age_us if found is None else found
