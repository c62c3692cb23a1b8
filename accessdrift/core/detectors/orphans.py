"""Orphaned NHI (contract detection 4): an NHI whose owner left and which got no new
owner (nor was retired itself) within the SLA."""

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import alert_record, better
from accessdrift.core.facts import DIR_CT, DIR_OWNER, DIR_TS
from accessdrift.core.ids import alert_id
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

ORPHANED_NHI = AlertKind(
    name="orphaned_nhi",
    description="An NHI whose owner became a leaver and which got no new owner within the SLA.",
    severity={"nhi": "medium", "human": "medium"},
    title={"nhi": "Workload identity without an owner", "human": "Identity without an owner"},
)


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    if state["kind"] != "nhi":
        return
    sla = config.sla_for("*", "nhi")
    for owner, t0 in state["owners_left"]:
        deadline = t0 + sla
        if watermark_us < deadline or _owner_at(state, t0) != owner:
            continue
        if any(
            t0 < entry[DIR_TS] <= deadline
            and (
                (entry[DIR_OWNER] is not None and entry[DIR_OWNER] != owner)
                or entry[DIR_CT] == "leaver"
            )
            for entry in state["dirs"]
        ):
            continue  # a new owner in time, or the NHI itself was retired
        key = alert_id(ORPHANED_NHI.name, identity_id, owner, t0)
        if better(state, key, 1, 0, t0, True):
            result.alerts.append(
                alert_record(
                    key,
                    ORPHANED_NHI,
                    identity_id,
                    state,
                    account=None,
                    credential=None,
                    deprovisioned_at=t0,
                    used=None,
                    now_us=now_us,
                    evidence={
                        "owner_id": owner,
                        "owner_left_at": from_micros(t0).isoformat(),
                        "sla_seconds": sla / MICROS,
                    },
                )
            )


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """Each owner's departure not yet raised as an orphan: judged at its SLA."""
    if state["kind"] != "nhi":
        return []
    sla = config.sla_for("*", "nhi")
    return [
        t0 + sla
        for owner, t0 in state["owners_left"]
        if alert_id(ORPHANED_NHI.name, identity_id, owner, t0) not in state["emitted"]
    ]


DETECTOR = Detector(
    name="orphans",
    order=30,
    kinds=(ORPHANED_NHI,),
    evaluate=evaluate,
    deadlines=deadlines,
)


def _owner_at(state: State, time_us: int) -> str | None:
    owner = None
    for entry in state["dirs"]:
        if entry[DIR_TS] <= time_us and entry[DIR_OWNER] is not None:
            owner = entry[DIR_OWNER]
    return owner
