"""Access granted after deprovisioning: after a leaver's T0 (+ grace), an account created
for, a credential created for, or an entitlement granted to an account of that identity.

The offboarding removed access; this is access added back, by a provisioning job that
did not hear of the leaver, or by hand. One alert per (identity, subject, T0): the
account, the credential, or ``<account>#<entitlement>``; the earliest such event is the
one reported (a late-arriving earlier grant improves the alert, as an earlier use does).
"""

from typing import Any

from accessdrift.core import ledger
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import (
    alert_record,
    better,
    change_evidence,
    deprovision_windows,
    directory_evidence,
)
from accessdrift.core.facts import CHG_ACT, CHG_ID, DIR_TS
from accessdrift.core.ids import alert_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import from_micros

GRANTED_AFTER_DEPROVISION = AlertKind(
    name="granted_after_deprovision",
    description=(
        "After a leaver's T0 + grace, an account or credential is created for, or an"
        " entitlement granted to, an account of that identity; critical when the"
        " entitlement is privileged."
    ),
    severity={"human": "high", "nhi": "high"},
    title={
        "human": "Access granted to a leaver",
        "nhi": "Access granted to a retired workload",
    },
    privileged_severity="critical",
)


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for entry, ends in deprovision_windows(state):
        t0 = entry[DIR_TS]
        after = t0 + config.grace_us
        for found in _grants(state, after, ends):
            time_us, event_id, account, credential, entitlement, privileged = found
            subject = credential or (f"{account}#{entitlement}" if entitlement else account) or ""
            key = alert_id(GRANTED_AFTER_DEPROVISION.name, identity_id, subject, t0)
            if not better(state, key, 0, time_us, t0, True):
                continue
            change = _change(state, event_id)
            result.alerts.append(
                alert_record(
                    key,
                    GRANTED_AFTER_DEPROVISION,
                    identity_id,
                    state,
                    account=account,
                    credential=credential,
                    deprovisioned_at=t0,
                    used=None,
                    now_us=now_us,
                    system=system_of(account or credential or ""),
                    action=change[CHG_ACT] if change else None,
                    used_at=time_us,
                    entitlement=entitlement,
                    privileged=privileged,
                    evidence={
                        "directory_change": directory_evidence(entry),
                        "grant": change_evidence(change)
                        if change
                        else {"event_id": event_id, "event_time": from_micros(time_us).isoformat()},
                        "entitlement": entitlement,
                        "privileged": privileged,
                        "grace_seconds": config.grace_us / 1_000_000,
                    },
                )
            )


def _grants(
    state: State, after: int, ends: int | None
) -> list[tuple[int, str, str | None, str | None, str | None, bool]]:
    """(time, event id, account, credential, entitlement, privileged) of the earliest
    creation or grant of each subject in (after, ends)."""

    def inside(time_us: int) -> bool:
        return time_us > after and (ends is None or time_us < ends)

    found: list[tuple[int, str, str | None, str | None, str | None, bool]] = []
    for account, entry in sorted(state["acc"].items()):
        for event in entry.get("ev") or []:
            if event[ledger.EV_OP] == ledger.OPEN and inside(event[ledger.EV_TS]):
                found.append((event[ledger.EV_TS], event[ledger.EV_ID], account, None, None, False))
                break
        for entitlement, events in sorted((entry.get("ent") or {}).items()):
            for event in events:
                if event[ledger.EV_OP] == ledger.OPEN and inside(event[ledger.EV_TS]):
                    privileged = ledger.entitlement_privileged(events)
                    found.append(
                        (
                            event[ledger.EV_TS],
                            event[ledger.EV_ID],
                            account,
                            None,
                            entitlement,
                            privileged,
                        )
                    )
                    break
    for credential, entry in sorted(state["cred"].items()):
        created = entry.get("created")
        if entry.get("session") or created is None or not inside(created):
            continue
        found.append((created, entry.get("cb") or "", entry.get("acc"), credential, None, False))
    return found


def _change(state: State, event_id: str) -> list[Any] | None:
    change: list[Any]
    for change in state["chg"]:
        if change[CHG_ID] == event_id:
            return change
    return None


DETECTOR = Detector(
    name="granted",
    order=40,
    kinds=(GRANTED_AFTER_DEPROVISION,),
    evaluate=evaluate,
    deadlines=None,
)
