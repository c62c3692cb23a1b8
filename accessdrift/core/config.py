"""What the rules need from the settings, as plain data."""

from dataclasses import dataclass, field

from accessdrift.core.timeutil import MICROS


@dataclass(frozen=True)
class DetectionConfig:
    grace_us: int = 60 * MICROS
    lookback_us: int = 7 * 86_400 * MICROS
    deprovision_sla_us: int = 86_400 * MICROS
    # "system:kind", "system" or "*:kind" -> SLA in microseconds; most specific wins.
    sla_overrides_us: dict[str, int] = field(default_factory=dict)
    max_uses_per_identity: int = 5000

    def sla_for(self, system: str, identity_kind: str) -> int:
        for key in (f"{system}:{identity_kind}", system, f"*:{identity_kind}"):
            if key in self.sla_overrides_us:
                return self.sla_overrides_us[key]
        return self.deprovision_sla_us
