"""What several detectors share: a directory history's episodes, the memory of what
was emitted, and the alert record with its evidence."""

import json
from typing import Any

from accessdrift.core.detectors.base import AlertKind
from accessdrift.core.facts import (
    CHG_ACT,
    CHG_ID,
    CHG_KIND,
    CHG_SYS,
    CHG_TS,
    DIR_CT,
    DIR_ID,
    DIR_SRC,
    DIR_TS,
    USE_ACC,
    USE_ACT,
    USE_CRED,
    USE_ID,
    USE_IP,
    USE_OK,
    USE_SYS,
    USE_TS,
    use_agent,
)
from accessdrift.core.ids import system_of
from accessdrift.core.state import State
from accessdrift.core.timeutil import MICROS, from_micros

LAG_CHANGES = ("joiner", "mover", "leaver", "suspend")
ENDS_DEPROVISION = ("joiner", "reactivate")
DEFAULT_SEVERITY = "medium"

# -- directory episodes --------------------------------------------------------


def effective_changes(state: State) -> list[list[Any]]:
    """Directory changes that start something: a leaver right after a leaver is a repeat."""
    effective = []
    previous_type = None
    for entry in state["dirs"]:
        change_type = entry[DIR_CT]
        repeat = change_type in ("leaver", "suspend") and previous_type == change_type
        if change_type in LAG_CHANGES and not repeat:
            effective.append(entry)
        if change_type != "owner_change":
            previous_type = change_type
    return effective


def deprovision_windows(state: State) -> list[tuple[list[Any], int | None]]:
    """Each leaver with the time its deprovisioned period ends (a rehire or reactivation)."""
    windows = []
    for entry in effective_changes(state):
        if entry[DIR_CT] != "leaver":
            continue
        ends = [
            other[DIR_TS]
            for other in state["dirs"]
            if other[DIR_TS] > entry[DIR_TS] and other[DIR_CT] in ENDS_DEPROVISION
        ]
        windows.append((entry, min(ends) if ends else None))
    return windows


# -- what was emitted ----------------------------------------------------------


def better(
    state: State, key: str, rank: int, time_us: int, reference_us: int, earlier_wins: bool
) -> bool:
    """True (and remembered) when this finding is new or improves on the emitted one.

    ``state["emitted"]`` holds ``[rank, time, reference]`` per finding: a finding comes
    out again only when it improves (a closed lag after an overdue one, an earlier use).
    """
    emitted = state["emitted"].get(key)
    if emitted is not None:
        if rank < emitted[0]:
            return False
        if rank == emitted[0]:
            if time_us == emitted[1]:
                return False
            if earlier_wins and time_us > emitted[1]:
                return False
            if not earlier_wins and time_us < emitted[1]:
                return False
    state["emitted"][key] = [rank, time_us, reference_us]
    return True


# -- alert records -------------------------------------------------------------


def alert_record(
    key: str,
    kind: AlertKind,
    identity_id: str,
    state: State,
    *,
    account: str | None,
    credential: str | None,
    deprovisioned_at: int,
    used: list[Any] | None,
    now_us: int,
    evidence: dict[str, Any],
    system: str | None = None,
    action: str | None = None,
    used_at: int | None = None,
    entitlement: str | None = None,
    privileged: bool = False,
    resolved_at: int | None = None,
) -> dict[str, Any]:
    """An ``Alert`` record (accessdrift/schemas/Alert.avsc) as the sinks and notifiers take it. Its
    system and action are the use's when a use raised it; a finding about a change (a
    grant, a creation) names them with ``system`` and ``action``, and the change's time
    with ``used_at``; otherwise the system is the subject's. ``privileged``: the kind's
    severity for a privileged entitlement (``AlertKind.privileged_severity``)."""
    subject = credential or account or identity_id
    severity = kind.severity.get(state["kind"], DEFAULT_SEVERITY)
    if privileged and kind.privileged_severity is not None:
        severity = kind.privileged_severity
    if used is None and used_at is not None:
        first, seconds_after = from_micros(used_at), (used_at - deprovisioned_at) / MICROS
    elif used is not None:
        first, seconds_after = from_micros(used[USE_TS]), (used[USE_TS] - deprovisioned_at) / MICROS
    else:
        first, seconds_after = None, None
    return {
        "alert_id": key,
        "kind": kind.name,
        "severity": severity,
        "identity_id": identity_id,
        "identity_kind": state["kind"],
        "account_id": account,
        "credential_id": credential,
        "deprovisioned_at": from_micros(deprovisioned_at),
        "used_at": first,
        "seconds_after": seconds_after,
        "system": used[USE_SYS] if used else system or system_of(subject),
        "action": used[USE_ACT] if used else action,
        "source_ip": used[USE_IP] if used else None,
        "detected_at": from_micros(now_us),
        "evidence": json.dumps(evidence, sort_keys=True),
        "entitlement": entitlement,
        "resolved_at": from_micros(resolved_at) if resolved_at is not None else None,
    }


def active_at(state: State, time_us: int) -> bool:
    """Whether the identity is active at ``time_us``: its last directory change by then is
    not a leaver or a suspend (an owner change says nothing; no change at all: active)."""
    active = True
    for entry in state["dirs"]:
        if entry[DIR_TS] > time_us:
            break
        if entry[DIR_CT] != "owner_change":
            active = entry[DIR_CT] not in ("leaver", "suspend")
    return active


def directory_evidence(entry: list[Any]) -> dict[str, Any]:
    return {
        "event_id": entry[DIR_ID],
        "event_time": from_micros(entry[DIR_TS]).isoformat(),
        "change_type": entry[DIR_CT],
        "source": entry[DIR_SRC],
    }


def use_evidence(use: list[Any]) -> dict[str, Any]:
    return {
        "event_id": use[USE_ID],
        "event_time": from_micros(use[USE_TS]).isoformat(),
        "system": use[USE_SYS],
        "account_id": use[USE_ACC],
        "credential_id": use[USE_CRED],
        "action": use[USE_ACT],
        "outcome": "success" if use[USE_OK] else "failure",
        "source_ip": use[USE_IP],
        "user_agent": use_agent(use),
    }


def change_evidence(change: list[Any]) -> dict[str, Any]:
    return {
        "event_id": change[CHG_ID],
        "event_time": from_micros(change[CHG_TS]).isoformat(),
        "kind": change[CHG_KIND],
        "action": change[CHG_ACT],
        "system": change[CHG_SYS],
    }
