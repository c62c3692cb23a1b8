"""Provisioning lag (contract detection 1) and deprovisioning overdue (3).

One detector, because the overdue judgement is the lag's status "overdue": a leaver's
pair not closed by its deadline raises the alert and records the overdue row in the
same pass, in that order (the order ``state["emitted"]`` remembers them in).
"""

from datetime import timedelta
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import (
    alert_record,
    better,
    directory_evidence,
    effective_changes,
)
from accessdrift.core.facts import (
    CHG_ACC,
    CHG_CRED,
    CHG_KIND,
    CHG_OK,
    CHG_TS,
    DIR_CT,
    DIR_ID,
    DIR_TS,
)
from accessdrift.core.ids import alert_id, lag_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

DEPROVISION_OVERDUE = AlertKind(
    name="deprovision_overdue",
    description=(
        "A leaver's downstream account or credential is still not deprovisioned at"
        " T0 + SLA (per system and identity kind); raised once, the later close"
        " still records its lag."
    ),
    severity={"human": "high", "nhi": "medium"},
    title={
        "human": "Leaver's access not removed in time",
        "nhi": "Retired workload's access not removed in time",
    },
)

RANK = {"open": 0, "overdue": 1, "preceded": 2, "closed": 3}
MATCHING_ACCOUNT_CHANGES = {
    "joiner": ("account_created",),
    "mover": ("permission_granted", "permission_revoked"),
    "leaver": ("account_disabled", "account_deleted"),
    "suspend": ("account_disabled", "account_deleted"),
}


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    for entry in effective_changes(state):
        change_type, t0 = entry[DIR_CT], entry[DIR_TS]
        previous = _previous_change_ts(state, entry)
        for subject, is_credential in _subjects_for(state, change_type, t0):
            times = _matches(state, change_type, subject, is_credential)
            if change_type in ("leaver", "suspend") and any(
                t < t0 - config.lookback_us for t in times
            ):
                continue  # gone long before: not part of this leaver
            after = [t for t in times if t >= t0]
            before = [
                t
                for t in times
                if t0 - config.lookback_us <= t < t0 and (previous is None or t > previous)
            ]
            key = lag_id(identity_id, entry[DIR_ID], subject)
            overdue = False
            sla = config.sla_for(system_of(subject), state["kind"])
            if change_type == "leaver" and not before:
                # Judged at the deadline in event time: a deprovision after it still
                # records its lag, but the alert stands.
                deadline = t0 + sla
                overdue = watermark_us >= deadline and not any(t <= deadline for t in after)
                if overdue:
                    _overdue_alert(
                        identity_id, state, entry, subject, is_credential, now_us, config, result
                    )
            if after:
                status, t1, rank, earlier = "closed", after[0], RANK["closed"], True
            elif before:
                status, t1, rank, earlier = "preceded", before[-1], RANK["preceded"], False
            elif overdue:
                status, t1, rank, earlier = "overdue", None, RANK["overdue"], True
            elif change_type in ("leaver", "suspend"):
                status, t1, rank, earlier = "open", None, RANK["open"], True
            else:
                continue
            if better(state, key, rank, t1 if t1 is not None else 0, t0, earlier):
                row = _lag_row(
                    identity_id, state, entry, subject, is_credential, status, t1, now_us
                )
                if status != "open":
                    result.lags.append(row)
                if change_type in ("leaver", "suspend"):
                    result.pairs.append(_pair_row(row, sla))


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """Each leaver's pairs not deprovisioned by their deadline nor yet raised as overdue."""
    found = []
    for entry in state["dirs"]:
        if entry[DIR_CT] != "leaver":
            continue
        t0 = entry[DIR_TS]
        for subject, is_credential in _subjects_for(state, "leaver", t0):
            deadline = t0 + config.sla_for(system_of(subject), state["kind"])
            if any(t <= deadline for t in _matches(state, "leaver", subject, is_credential)):
                continue  # deprovisioned in time, or before the leaver
            if alert_id(DEPROVISION_OVERDUE.name, identity_id, subject, t0) in state["emitted"]:
                continue
            found.append(deadline)
    return found


DETECTOR = Detector(
    name="lag",
    order=10,
    kinds=(DEPROVISION_OVERDUE,),
    evaluate=evaluate,
    deadlines=deadlines,
)


def _previous_change_ts(state: State, entry: list[Any]) -> int | None:
    earlier = [other[DIR_TS] for other in state["dirs"] if other[DIR_TS] < entry[DIR_TS]]
    return max(earlier) if earlier else None


def _subjects_for(state: State, change_type: str, t0: int) -> list[tuple[str, bool]]:
    """(subject, is_credential) pairs that a directory change of this type concerns."""
    subjects = [(account, False) for account in sorted(state["acc"])]
    if change_type in ("leaver", "suspend"):
        for credential, entry in sorted(state["cred"].items()):
            if entry.get("session"):
                continue  # role sessions expire on their own: caught by use, not by lag
            if entry.get("created") is not None and entry["created"] > t0:
                continue
            subjects.append((credential, True))
    return subjects


def _matches(state: State, change_type: str, subject: str, is_credential: bool) -> list[int]:
    """Event times of the downstream changes that close the pair, sorted."""
    times = []
    if is_credential:
        account = (state["cred"].get(subject) or {}).get("acc")
        for change in state["chg"]:
            if not change[CHG_OK]:
                continue
            revokes_it = change[CHG_KIND] == "credential_revoked" and change[CHG_CRED] == subject
            deletes_its_account = (
                account is not None
                and change[CHG_KIND] == "account_deleted"
                and change[CHG_ACC] == account
            )
            if revokes_it or deletes_its_account:
                times.append(change[CHG_TS])
    else:
        wanted = MATCHING_ACCOUNT_CHANGES[change_type]
        for change in state["chg"]:
            if change[CHG_OK] and change[CHG_KIND] in wanted and change[CHG_ACC] == subject:
                times.append(change[CHG_TS])
    # The compact per-subject record outlives the pruned change itself.
    if is_credential:
        entry = state["cred"].get(subject) or {}
        if entry.get("revoked") is not None:
            times.append(entry["revoked"])
        account_entry = state["acc"].get(entry.get("acc") or "") or {}
        if account_entry.get("deleted") is not None:
            times.append(account_entry["deleted"])
    elif change_type in ("leaver", "suspend"):
        ended = (state["acc"].get(subject) or {}).get("ended")
        if ended is not None:
            times.append(ended)
    return sorted(set(times))


def _lag_row(
    identity_id: str,
    state: State,
    entry: list[Any],
    subject: str,
    is_credential: bool,
    status: str,
    t1: int | None,
    now_us: int,
) -> dict[str, Any]:
    t0 = entry[DIR_TS]
    account = (state["cred"].get(subject) or {}).get("acc") if is_credential else subject
    return {
        "lag_id": lag_id(identity_id, entry[DIR_ID], subject),
        "identity_id": identity_id,
        "identity_kind": state["kind"],
        "change_type": entry[DIR_CT],
        "system": system_of(subject),
        "account_id": account or "",
        "credential_id": subject if is_credential else None,
        "source_time": from_micros(t0),
        "downstream_time": from_micros(t1) if t1 is not None else None,
        "lag_seconds": (t1 - t0) / MICROS if t1 is not None else None,
        "status": status,
        "detected_at": from_micros(now_us),
        "entitlement": None,
    }


def _pair_row(lag: dict[str, Any], sla_us: int) -> dict[str, Any]:
    """The deprovision pair (accessdrift/schemas/DeprovisionPair.avsc) a leaver's or suspend's
    lag row is of."""
    due_at = lag["source_time"] + timedelta(microseconds=sla_us)
    downstream = lag["downstream_time"]
    return {
        **lag,
        "sla_seconds": sla_us / MICROS,
        "due_at": due_at,
        "within_sla": None if downstream is None else downstream <= due_at,
    }


def _overdue_alert(
    identity_id: str,
    state: State,
    entry: list[Any],
    subject: str,
    is_credential: bool,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    t0 = entry[DIR_TS]
    key = alert_id(DEPROVISION_OVERDUE.name, identity_id, subject, t0)
    if not better(state, key, 1, 0, t0, True):
        return
    sla = config.sla_for(system_of(subject), state["kind"])
    account = (state["cred"].get(subject) or {}).get("acc") if is_credential else subject
    result.alerts.append(
        alert_record(
            key,
            DEPROVISION_OVERDUE,
            identity_id,
            state,
            account=account,
            credential=subject if is_credential else None,
            deprovisioned_at=t0,
            used=None,
            now_us=now_us,
            evidence={
                "directory_change": directory_evidence(entry),
                "sla_seconds": sla / MICROS,
                "deadline": from_micros(t0 + sla).isoformat(),
                "subject": subject,
            },
        )
    )
