"""Keys past rotation: an NHI's long-lived credential (an access key, a service-account
key, an API token; not a role session, not a console password) used more than
``ACCESSDRIFT_MAX_CREDENTIAL_AGE`` (per system) after its logged creation.

Raised at the first such use, once per credential: the moment an unrotated key is
shown to still work, not the day it ages (CIS 2.13 and Panther's
AWS.AccessKey.Rotation judge the age alone, in batch). A credential whose creation was
never logged has no known age and is not judged. High when the credential's account
holds a privileged entitlement at that use.
"""

from typing import Any

from accessdrift.core import ledger
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import alert_record, better, use_evidence
from accessdrift.core.facts import USE_CRED, USE_OK, USE_TS
from accessdrift.core.ids import alert_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

ROTATION_OVERDUE = AlertKind(
    name="rotation_overdue",
    description=(
        "An NHI's long-lived credential used more than ACCESSDRIFT_MAX_CREDENTIAL_AGE"
        " (90 days by default) after its creation; high when its account is privileged."
    ),
    severity={"human": "medium", "nhi": "medium"},
    title={"human": "Credential past rotation used", "nhi": "Workload key past rotation used"},
    privileged_severity="high",
)


def long_lived(credential: str, entry: dict[str, Any]) -> bool:
    return not entry.get("session") and ":login-profile/" not in credential


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    credential = use[USE_CRED]
    if state["kind"] != "nhi" or not credential or not use[USE_OK]:
        return
    entry = state["cred"].get(credential)
    if entry is None or entry.get("created") is None or not long_lived(credential, entry):
        return
    created = entry["created"]
    age = config.max_credential_age_for(system_of(credential), "nhi")
    if use[USE_TS] - created <= age:
        return
    key = alert_id(ROTATION_OVERDUE.name, identity_id, credential, created)
    if not better(state, key, 0, use[USE_TS], created, True):
        return
    account = entry.get("acc")
    privileged = privileged_at(state, account, use[USE_TS])
    result.alerts.append(
        alert_record(
            key,
            ROTATION_OVERDUE,
            identity_id,
            state,
            account=account,
            credential=credential,
            deprovisioned_at=created,
            used=use,
            now_us=now_us,
            privileged=privileged is not None,
            entitlement=None,
            evidence={
                "created_at": from_micros(created).isoformat(),
                "created_by": entry.get("cb"),
                "max_age_seconds": age / MICROS,
                "age_seconds_at_use": (use[USE_TS] - created) / MICROS,
                "use": use_evidence(use),
                "privileged_entitlement": privileged,
            },
        )
    )


def privileged_at(state: State, account: str | None, time_us: int) -> str | None:
    """A privileged entitlement the account holds at ``time_us``, if any."""
    entry = state["acc"].get(account or "")
    if entry is None:
        return None
    for name, events in sorted((entry.get("ent") or {}).items()):
        if ledger.entitlement_privileged(events) and ledger.held_at(events, time_us):
            return str(name)
    return None


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """Uses judged again when a creation arrives after them."""
    if state["kind"] != "nhi":
        return
    for use in state["use"]:
        judge_use(identity_id, state, use, now_us, config, result)


DETECTOR = Detector(
    name="rotation",
    order=70,
    kinds=(ROTATION_OVERDUE,),
    evaluate=evaluate,
    deadlines=None,
    judge_use=judge_use,
)
