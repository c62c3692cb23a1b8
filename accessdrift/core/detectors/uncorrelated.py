"""Uncorrelated accounts still in use: an account no identity claims (its facts go to a
fallback identity named after it) used ``ACCESSDRIFT_UNCORRELATED_AFTER`` after it was
first seen, or at once while it holds a privileged entitlement.

The ``uncorrelated_accounts`` view lists them all; this finding is the one with an
owner to chase: it is still working a week on, or it is an administrator nobody owns.
First seen is the earliest event that named it, whatever the arrival order (the
fallback's ``fs``, and the first sightings of what it holds). One alert per account:
its earliest such use.
"""

from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import alert_record, better, use_evidence
from accessdrift.core.detectors.rotation import privileged_at
from accessdrift.core.facts import USE_ACC, USE_OK, USE_TS
from accessdrift.core.ids import alert_id
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

UNCORRELATED_ACCOUNT_ACTIVE = AlertKind(
    name="uncorrelated_account_active",
    description=(
        "An account no identity claims, still in use ACCESSDRIFT_UNCORRELATED_AFTER"
        " (7 days by default) after it was first seen, or at once if privileged."
    ),
    severity={"human": "low", "nhi": "low"},
    title={"human": "Account nobody owns in use", "nhi": "Workload account nobody owns in use"},
    privileged_severity="medium",
)


def first_seen(state: State) -> int | None:
    times = [state["fs"]] if state.get("fs") is not None else []
    for table in ("acc", "cred"):
        times += [entry["since"] for entry in state[table].values() if entry.get("since")]
    return min(times) if times else None


def _judged(identity_id: str, state: State) -> bool:
    # Only an account stands for itself: not a pseudo-subject (an email claim) nor a
    # cycle of claims.
    return bool(state["fb"]) and not identity_id.startswith("email:")


def _candidate(
    identity_id: str, state: State, config: DetectionConfig
) -> tuple[list[Any], int, str | None] | None:
    """(the earliest use that makes the finding, first seen, a privileged entitlement
    held then) or None."""
    seen = first_seen(state)
    for use in state["use"]:
        if seen is None or use[USE_TS] < seen:
            seen = use[USE_TS]
        if not use[USE_OK]:
            continue
        privileged = privileged_at(state, use[USE_ACC] or identity_id, use[USE_TS])
        if privileged is None and use[USE_ACC] != identity_id:
            privileged = privileged_at(state, identity_id, use[USE_TS])
        if use[USE_TS] >= seen + config.uncorrelated_after_us or privileged is not None:
            return use, seen, privileged
    return None


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """Judged once the watermark passes the use, not as it arrives: a link of the account
    dated before the use, arriving after it, has moved it to its identity by then."""
    if not _judged(identity_id, state):
        return
    found = _candidate(identity_id, state, config)
    if found is None or found[0][USE_TS] > watermark_us:
        return
    use, seen, privileged = found
    key = alert_id(UNCORRELATED_ACCOUNT_ACTIVE.name, identity_id, identity_id, 0)
    if not better(state, key, 0, use[USE_TS], seen, True):
        return
    result.alerts.append(
        alert_record(
            key,
            UNCORRELATED_ACCOUNT_ACTIVE,
            identity_id,
            state,
            account=identity_id,
            credential=None,
            deprovisioned_at=seen,
            used=use,
            now_us=now_us,
            privileged=privileged is not None,
            evidence={
                "first_seen": from_micros(seen).isoformat(),
                "uncorrelated_after_seconds": config.uncorrelated_after_us / MICROS,
                "privileged_entitlement": privileged,
                "use": use_evidence(use),
            },
        )
    )


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    if not _judged(identity_id, state):
        return []
    if alert_id(UNCORRELATED_ACCOUNT_ACTIVE.name, identity_id, identity_id, 0) in state["emitted"]:
        return []  # an earlier use arriving late is found by evaluate when it comes
    found = _candidate(identity_id, state, config)
    return [] if found is None else [found[0][USE_TS]]


DETECTOR = Detector(
    name="uncorrelated",
    order=90,
    kinds=(UNCORRELATED_ACCOUNT_ACTIVE,),
    evaluate=evaluate,
    deadlines=deadlines,
)
