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
    """A use past the age is a candidate (``state["rot"]``: credential -> the earliest
    such use, negative once raised), judged once the watermark passes it: by then a
    grant or revoke of the account's entitlements before it has arrived, and the
    severity does not depend on the order."""
    credential = use[USE_CRED]
    if state["kind"] != "nhi" or not credential or not use[USE_OK]:
        return
    entry = state["cred"].get(credential)
    if entry is None or entry.get("created") is None or not long_lived(credential, entry):
        return
    age = config.max_credential_age_for(system_of(credential), "nhi")
    if use[USE_TS] - entry["created"] <= age:
        return
    known = (state.get("rot") or {}).get(credential)
    if known is not None and abs(known) <= use[USE_TS]:
        return  # an earlier use past the age is known (or raised) already
    state["rot"] = {**(state.get("rot") or {}), credential: use[USE_TS]}


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
    # Uses judged again: a creation that arrived after them makes them candidates.
    for use in state["use"]:
        judge_use(identity_id, state, use, now_us, config, result)
    for credential, used_at in sorted((state.get("rot") or {}).items()):
        entry = state["cred"].get(credential)
        if entry is None or entry.get("created") is None:
            # It moved to another identity (which judges its uses), or its creation did.
            state["rot"] = {key: value for key, value in state["rot"].items() if key != credential}
            continue
        if used_at < 0 or used_at > watermark_us:
            continue
        _raise(identity_id, state, credential, entry, used_at, now_us, config, result)
        state["rot"] = {**state["rot"], credential: -used_at}


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    if not state.get("rot"):
        return []
    found = [used_at for used_at in (state.get("rot") or {}).values() if used_at > 0]
    return [min(found)] if found else []


def _raise(
    identity_id: str,
    state: State,
    credential: str,
    entry: dict[str, Any],
    used_at: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    created = entry["created"]
    age = config.max_credential_age_for(system_of(credential), "nhi")
    # The credential alone names it: a key that moves to its real owner on a late link
    # is one finding, not one per identity that held it.
    key = alert_id(ROTATION_OVERDUE.name, "", credential, created)
    if not better(state, key, 0, used_at, created, True):
        return
    use = next(
        (
            kept
            for kept in state["use"]
            if kept[USE_TS] == used_at and kept[USE_CRED] == credential and kept[USE_OK]
        ),
        None,
    )
    account = entry.get("acc")
    privileged = privileged_at(state, account, used_at)
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
            used_at=used_at,
            system=system_of(credential),
            now_us=now_us,
            privileged=privileged is not None,
            evidence={
                "created_at": from_micros(created).isoformat(),
                "created_by": entry.get("cb"),
                "max_age_seconds": age / MICROS,
                "age_seconds_at_use": (used_at - created) / MICROS,
                "use": use_evidence(use) if use is not None else None,
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


DETECTOR = Detector(
    name="rotation",
    order=70,
    kinds=(ROTATION_OVERDUE,),
    evaluate=evaluate,
    deadlines=deadlines,
    judge_use=judge_use,
)
