"""Trust paths of leavers: a role (an AWS role, a service account one impersonates, a
Vault AppRole) that a leaver created, or that belongs to a workload whose only owner
left, assumed by anyone after that leaver's T0 + SLA.

Deprovisioning removes the leaver's accounts; what they built stays, and whoever can
assume it keeps a path to what it can do. The resolver sends each assumption of a role
to the identity that holds the role (``via`` "holder") and to the identity of the
account that created it (``via`` "creator"), so both arrive here as
``state["asm"]``. Judged once the watermark passes the assumption (a late directory
change that gives the workload a new owner in time arrives first). One alert per role
and departure; the chain (who assumed it, with which credential, from where, created
by whom and when) is the evidence.
"""

from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import alert_record, better, deprovision_windows
from accessdrift.core.facts import DIR_CT, DIR_OWNER, DIR_TS
from accessdrift.core.ids import alert_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

TRUST_PATH_OF_LEAVER = AlertKind(
    name="trust_path_of_leaver",
    description=(
        "A role a leaver created, or whose workload's only owner left, assumed by anyone"
        " after that leaver's T0 + SLA."
    ),
    severity={"human": "high", "nhi": "high"},
    title={
        "human": "Role left behind by a leaver assumed",
        "nhi": "Role of an orphaned workload assumed",
    },
)
ASM_TS, ASM_ID, ASM_ROLE, ASM_BY, ASM_CRED, ASM_IP, ASM_VIA, ASM_MK, ASM_MTS, ASM_MID = range(10)

# (assumption, T0, deadline, the leaver: an identity id, or the creator's account)
Path = tuple[list[Any], int, int, str]


def _paths(state: State, config: DetectionConfig) -> list[Path]:
    found: list[Path] = []
    assumptions = state.get("asm") or []
    if not assumptions:
        return found
    # Roles this identity created, assumed after its own T0 + SLA.
    for entry, ends in deprovision_windows(state):
        t0 = entry[DIR_TS]
        for assumed in assumptions:
            if assumed[ASM_VIA] != "creator":
                continue
            deadline = t0 + config.sla_for(system_of(assumed[ASM_ROLE]), state["kind"])
            if assumed[ASM_TS] > deadline and (ends is None or assumed[ASM_TS] < ends):
                found.append((assumed, t0, deadline, str(assumed[ASM_MK] or "")))
    # Roles of this workload, whose owner left and who got no other owner.
    if state["kind"] == "nhi":
        sla = config.sla_for("*", "nhi")
        for owner, t0 in state["owners_left"]:
            deadline = t0 + sla
            for assumed in assumptions:
                if assumed[ASM_VIA] != "holder" or assumed[ASM_TS] <= deadline:
                    continue
                if _owner_at(state, assumed[ASM_TS]) != owner or _retired(state, t0, assumed):
                    continue
                found.append((assumed, t0, deadline, owner))
    return found


def _owner_at(state: State, time_us: int) -> str | None:
    owner = None
    for entry in state["dirs"]:
        if entry[DIR_TS] <= time_us and entry[DIR_OWNER] is not None:
            owner = entry[DIR_OWNER]
    return owner


def _retired(state: State, t0: int, assumed: list[Any]) -> bool:
    return any(
        t0 < entry[DIR_TS] <= assumed[ASM_TS] and entry[DIR_CT] == "leaver"
        for entry in state["dirs"]
    )


def _key(assumed: list[Any], t0: int) -> str:
    # The role and the departure alone: a role both created by the leaver and held by
    # the leaver's workload is one finding, whichever identity raises it first.
    return alert_id(TRUST_PATH_OF_LEAVER.name, "", str(assumed[ASM_ROLE]), t0)


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for assumed, t0, deadline, leaver in _paths(state, config):
        if assumed[ASM_TS] > watermark_us:
            continue
        key = _key(assumed, t0)
        if not better(state, key, 0, assumed[ASM_TS], t0, True):
            continue
        role = str(assumed[ASM_ROLE])
        result.alerts.append(
            alert_record(
                key,
                TRUST_PATH_OF_LEAVER,
                identity_id,
                state,
                account=role,
                credential=None,
                deprovisioned_at=t0,
                used=None,
                used_at=assumed[ASM_TS],
                now_us=now_us,
                system=system_of(role),
                action="assume",
                evidence={
                    "role": role,
                    "path": "created by the leaver"
                    if assumed[ASM_VIA] == "creator"
                    else "held by a workload whose owner left",
                    "leaver": leaver,
                    "left_at": from_micros(t0).isoformat(),
                    "sla_seconds": (deadline - t0) / MICROS,
                    "assumed": {
                        "event_id": assumed[ASM_ID],
                        "event_time": from_micros(assumed[ASM_TS]).isoformat(),
                        "by_account": assumed[ASM_BY],
                        "with_credential": assumed[ASM_CRED],
                        "source_ip": assumed[ASM_IP],
                    },
                    "created": {
                        "by_account": assumed[ASM_MK],
                        "event_time": from_micros(assumed[ASM_MTS]).isoformat()
                        if assumed[ASM_MTS] is not None
                        else None,
                        "event_id": assumed[ASM_MID],
                    },
                },
            )
        )


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """Each path's assumption not yet raised: judged once the watermark passes it."""
    if not state.get("asm"):
        return []
    return [
        assumed[ASM_TS]
        for assumed, t0, _, _ in _paths(state, config)
        if _key(assumed, t0) not in state["emitted"]
    ]


DETECTOR = Detector(
    name="trust",
    order=100,
    kinds=(TRUST_PATH_OF_LEAVER,),
    evaluate=evaluate,
    deadlines=deadlines,
)
