"""Access a mover kept: entitlements held before a mover's T0 that the identity still holds
at T0 + the mover SLA (per system and identity kind) and that the new role does not list.

The source of truth may say what the new role entitles (``attributes["entitlements"]`` of
the mover, ids separated by commas); where it lists nothing, every entitlement granted
before the move and neither revoked nor granted again by the deadline counts (a grant
after the move is the new role's provisioning). Judged at the deadline in event time;
a revocation after it still records its lag in a lag row of its own (change type
``mover``, the entitlement named), as a late deprovision does.
"""

from typing import Any

from accessdrift.core import ledger
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import (
    alert_record,
    better,
    directory_evidence,
    effective_changes,
)
from accessdrift.core.facts import DIR_CT, DIR_ID, DIR_TS, directory_entitlements
from accessdrift.core.ids import alert_id, lag_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

MOVER_ACCESS_RETAINED = AlertKind(
    name="mover_access_retained",
    description=(
        "Entitlements held before a mover's T0 and still held at T0 + the mover SLA"
        " that the new role does not list; high when privileged."
    ),
    severity={"human": "medium", "nhi": "medium"},
    title={
        "human": "Mover kept the old role's access",
        "nhi": "Moved workload kept its old access",
    },
    privileged_severity="high",
)

LAG_RANK = {"overdue": 1, "closed": 3}


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for entry in _movers(state):
        t0 = entry[DIR_TS]
        candidates = _candidates(state, entry, config)
        for account, entitlement, events, deadline in candidates:
            interval = ledger.held_at(events, t0)
            if interval is None or interval[0] >= t0:
                continue
            subject = f"{account}#{entitlement}"
            key = alert_id(MOVER_ACCESS_RETAINED.name, identity_id, subject, t0)
            if key not in state["emitted"]:
                if watermark_us < deadline or not _retained(events, interval, t0, deadline):
                    continue
                better(state, key, 0, 0, t0, True)
                result.alerts.append(
                    _alert(
                        identity_id,
                        state,
                        entry,
                        account,
                        entitlement,
                        events,
                        interval,
                        deadline,
                        now_us,
                        key,
                    )
                )
            _lag(identity_id, state, entry, account, entitlement, interval, now_us, result)
        if candidates and watermark_us >= max(found[3] for found in candidates):
            # Every deadline of this move is behind the watermark: judged. ``deadlines``
            # skips it from now on (it runs for every use); a late event is still judged
            # here, on the message that brings it.
            state["emitted"].setdefault(_judged_key(entry), [0, 0, t0])


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """Each move's deadlines until it is judged (``evaluate`` marks it once the watermark
    passed them all). Per account, not per entitlement: this runs for every use, and an
    identity may hold thousands of entitlements; a deadline with nothing to raise costs
    one wake-up."""
    found = []
    for entry in _movers(state):
        if _judged_key(entry) in state["emitted"]:
            continue
        t0 = entry[DIR_TS]
        found += sorted(
            {
                deadline
                for account, account_entry in state["acc"].items()
                if account_entry.get("ent")
                and not _left_before(
                    state,
                    t0,
                    deadline := t0 + config.mover_sla_for(system_of(account), state["kind"]),
                )
            }
        )
    return found


DETECTOR = Detector(
    name="moves",
    order=50,
    kinds=(MOVER_ACCESS_RETAINED,),
    evaluate=evaluate,
    deadlines=deadlines,
)


def _judged_key(entry: list[Any]) -> str:
    return f"moves-judged:{entry[DIR_ID]}"


def _movers(state: State) -> list[list[Any]]:
    return [entry for entry in effective_changes(state) if entry[DIR_CT] == "mover"]


def _candidates(
    state: State, entry: list[Any], config: DetectionConfig
) -> list[tuple[str, str, list[list[Any]], int]]:
    """(account, entitlement, its events, deadline) of the entitlements the new role does
    not list, on accounts whose deadline no leaver or suspend came before."""
    t0 = entry[DIR_TS]
    listed = directory_entitlements(entry)
    found = []
    for account, account_entry in sorted(state["acc"].items()):
        entitlements = account_entry.get("ent")
        if not entitlements:
            continue
        deadline = t0 + config.mover_sla_for(system_of(account), state["kind"])
        if _left_before(state, t0, deadline):
            continue  # the identity left: its access is the leaver's to remove
        for entitlement, events in sorted(entitlements.items()):
            if listed is not None and entitlement in listed:
                continue
            found.append((account, entitlement, events, deadline))
    return found


def _left_before(state: State, t0: int, deadline: int) -> bool:
    return any(
        t0 < other[DIR_TS] <= deadline and other[DIR_CT] in ("leaver", "suspend")
        for other in state["dirs"]
    )


def _retained(events: list[list[Any]], interval: ledger.Interval, t0: int, deadline: int) -> bool:
    """Still held at the deadline by the interval that held it before T0, and not granted
    again after the move."""
    if interval[2] is not None and interval[2] <= deadline:
        return False
    return not any(
        event[ledger.EV_OP] == ledger.OPEN and t0 < event[ledger.EV_TS] <= deadline
        for event in events
    )


def _alert(
    identity_id: str,
    state: State,
    entry: list[Any],
    account: str,
    entitlement: str,
    events: list[list[Any]],
    interval: ledger.Interval,
    deadline: int,
    now_us: int,
    key: str,
) -> dict[str, Any]:
    t0 = entry[DIR_TS]
    privileged = ledger.entitlement_privileged(events)
    listed = directory_entitlements(entry)
    return alert_record(
        key,
        MOVER_ACCESS_RETAINED,
        identity_id,
        state,
        account=account,
        credential=None,
        deprovisioned_at=t0,
        used=None,
        now_us=now_us,
        system=system_of(account),
        entitlement=entitlement,
        privileged=privileged,
        evidence={
            "directory_change": directory_evidence(entry),
            "entitlement": entitlement,
            "privileged": privileged,
            "granted_at": from_micros(interval[0]).isoformat(),
            "granted_by": interval[1],
            "deadline": from_micros(deadline).isoformat(),
            "mover_sla_seconds": (deadline - t0) / MICROS,
            "new_role_lists": sorted(listed) if listed is not None else None,
        },
    )


def _lag(
    identity_id: str,
    state: State,
    entry: list[Any],
    account: str,
    entitlement: str,
    interval: ledger.Interval,
    now_us: int,
    result: Result,
) -> None:
    """The retained entitlement's lag row: overdue until its revocation, then closed."""
    t0 = entry[DIR_TS]
    t1 = interval[2]
    status = "overdue" if t1 is None else "closed"
    key = lag_id(identity_id, entry[DIR_ID], f"{account}#{entitlement}")
    if not better(state, key, LAG_RANK[status], t1 if t1 is not None else 0, t0, True):
        return
    result.lags.append(
        {
            "lag_id": key,
            "identity_id": identity_id,
            "identity_kind": state["kind"],
            "change_type": "mover",
            "system": system_of(account),
            "account_id": account,
            "credential_id": None,
            "source_time": from_micros(t0),
            "downstream_time": from_micros(t1) if t1 is not None else None,
            "lag_seconds": (t1 - t0) / MICROS if t1 is not None else None,
            "status": status,
            "detected_at": from_micros(now_us),
            "entitlement": entitlement,
        }
    )
