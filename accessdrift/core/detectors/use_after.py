"""Uses after deprovisioning and after revocation (contract detection 2).

Judged by event time: a deprovision or revocation that arrives late still catches the
uses processed before it, since every use stays in the state until the lookback ends.
"""

from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import (
    alert_record,
    better,
    change_evidence,
    deprovision_windows,
    directory_evidence,
    use_evidence,
)
from accessdrift.core.facts import CHG_CRED, CHG_KIND, DIR_TS, USE_ACC, USE_CRED, USE_OK, USE_TS
from accessdrift.core.ids import alert_id
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import from_micros

USED_AFTER_DEPROVISION = AlertKind(
    name="used_after_deprovision",
    description=(
        "A successful use of a credential or account later than grace after its"
        " identity was deprovisioned (leaver at T0)."
    ),
    severity={"human": "critical", "nhi": "high"},
    title={
        "human": "Credential of a departed employee used",
        "nhi": "Credential of a retired workload used",
    },
)
ATTEMPTED_AFTER_DEPROVISION = AlertKind(
    name="attempted_after_deprovision",
    description=(
        "A failed (denied) use of a credential or account later than grace after its"
        " identity was deprovisioned: lower severity than a successful one."
    ),
    severity={"human": "medium", "nhi": "low"},
    title={
        "human": "Departed employee's credential tried",
        "nhi": "Retired workload's credential tried",
    },
)
USED_AFTER_REVOCATION = AlertKind(
    name="used_after_revocation",
    description=(
        "A successful use of a credential later than grace after the credential itself"
        " was revoked (at R)."
    ),
    severity={"human": "high", "nhi": "high"},
    title={"human": "Revoked credential used", "nhi": "Revoked workload credential used"},
)


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for entry, ends in deprovision_windows(state):
        t0 = entry[DIR_TS]
        if use[USE_TS] > t0 + config.grace_us and (ends is None or use[USE_TS] < ends):
            kind = USED_AFTER_DEPROVISION if use[USE_OK] else ATTEMPTED_AFTER_DEPROVISION
            subject = use[USE_CRED] or use[USE_ACC]
            key = alert_id(kind.name, identity_id, subject, t0)
            if better(state, key, 1, use[USE_TS], t0, True):
                result.alerts.append(
                    alert_record(
                        key,
                        kind,
                        identity_id,
                        state,
                        account=use[USE_ACC],
                        credential=use[USE_CRED],
                        deprovisioned_at=t0,
                        used=use,
                        now_us=now_us,
                        evidence={
                            "directory_change": directory_evidence(entry),
                            "use": use_evidence(use),
                        },
                    )
                )
    credential = use[USE_CRED]
    if credential and use[USE_OK]:
        revoked = (state["cred"].get(credential) or {}).get("revoked")
        if revoked is not None and use[USE_TS] > revoked + config.grace_us:
            # The credential alone says who it belongs to: the id does not change when
            # a late link moves the credential to its real identity.
            key = alert_id(USED_AFTER_REVOCATION.name, "", credential, revoked)
            if better(state, key, 1, use[USE_TS], revoked, True):
                revocation = next(
                    (
                        change
                        for change in state["chg"]
                        if change[CHG_KIND] == "credential_revoked"
                        and change[CHG_CRED] == credential
                    ),
                    None,
                )
                result.alerts.append(
                    alert_record(
                        key,
                        USED_AFTER_REVOCATION,
                        identity_id,
                        state,
                        account=use[USE_ACC],
                        credential=credential,
                        deprovisioned_at=revoked,
                        used=use,
                        now_us=now_us,
                        evidence={
                            "revocation": change_evidence(revocation)
                            if revocation
                            else {"time": from_micros(revoked).isoformat()},
                            "use": use_evidence(use),
                        },
                    )
                )


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for use in state["use"]:
        judge_use(identity_id, state, use, now_us, config, result)


DETECTOR = Detector(
    name="use_after",
    order=20,
    kinds=(USED_AFTER_DEPROVISION, ATTEMPTED_AFTER_DEPROVISION, USED_AFTER_REVOCATION),
    evaluate=evaluate,
    deadlines=None,
    judge_use=judge_use,
)
