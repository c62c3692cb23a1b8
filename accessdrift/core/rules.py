"""The detections of the contract, as functions of one identity's facts.

Every function is deterministic in the facts it is given: the same facts in any
arrival order yield the same findings. What was already emitted is remembered in
``state["emitted"]`` as ``[rank, time, reference]``; a finding comes out again
only when it improves (a closed lag after an overdue one, an earlier first use).
"""

import json
from datetime import timedelta
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.facts import (
    CHG_ACC,
    CHG_ACT,
    CHG_CRED,
    CHG_ID,
    CHG_KIND,
    CHG_OK,
    CHG_SYS,
    CHG_TS,
    DIR_CT,
    DIR_ID,
    DIR_OWNER,
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
from accessdrift.core.ids import alert_id, lag_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

LAG_CHANGES = ("joiner", "mover", "leaver", "suspend")
ENDS_DEPROVISION = ("joiner", "reactivate")
RANK = {"open": 0, "overdue": 1, "preceded": 2, "closed": 3}
MATCHING_ACCOUNT_CHANGES = {
    "joiner": ("account_created",),
    "mover": ("permission_granted", "permission_revoked"),
    "leaver": ("account_disabled", "account_deleted"),
    "suspend": ("account_disabled", "account_deleted"),
}

SEVERITY = {
    ("used_after_deprovision", "human"): "critical",
    ("used_after_deprovision", "nhi"): "high",
    ("used_after_revocation", "human"): "high",
    ("used_after_revocation", "nhi"): "high",
    ("attempted_after_deprovision", "human"): "medium",
    ("attempted_after_deprovision", "nhi"): "low",
    ("deprovision_overdue", "human"): "high",
    ("deprovision_overdue", "nhi"): "medium",
    ("orphaned_nhi", "nhi"): "medium",
    ("orphaned_nhi", "human"): "medium",
}


def severity(kind: str, identity_kind: str) -> str:
    return SEVERITY.get((kind, identity_kind), "medium")


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


def _previous_change_ts(state: State, entry: list[Any]) -> int | None:
    earlier = [other[DIR_TS] for other in state["dirs"] if other[DIR_TS] < entry[DIR_TS]]
    return max(earlier) if earlier else None


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


# -- lag pairs -----------------------------------------------------------------


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
    }


def _pair_row(lag: dict[str, Any], sla_us: int) -> dict[str, Any]:
    """The deprovision pair (schemas/DeprovisionPair.avsc) a leaver's or suspend's lag row is of."""
    due_at = lag["source_time"] + timedelta(microseconds=sla_us)
    downstream = lag["downstream_time"]
    return {
        **lag,
        "sla_seconds": sla_us / MICROS,
        "due_at": due_at,
        "within_sla": None if downstream is None else downstream <= due_at,
    }


def _better(
    state: State, key: str, rank: int, time_us: int, reference_us: int, earlier_wins: bool
) -> bool:
    """True (and remembered) when this finding is new or improves on the emitted one."""
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


def evaluate_lags(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: "Result",
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
            if _better(state, key, rank, t1 if t1 is not None else 0, t0, earlier):
                row = _lag_row(
                    identity_id, state, entry, subject, is_credential, status, t1, now_us
                )
                if status != "open":
                    result.lags.append(row)
                if change_type in ("leaver", "suspend"):
                    result.pairs.append(_pair_row(row, sla))


def _overdue_alert(
    identity_id: str,
    state: State,
    entry: list[Any],
    subject: str,
    is_credential: bool,
    now_us: int,
    config: DetectionConfig,
    result: "Result",
) -> None:
    t0 = entry[DIR_TS]
    kind = "deprovision_overdue"
    key = alert_id(kind, identity_id, subject, t0)
    if not _better(state, key, 1, 0, t0, True):
        return
    sla = config.sla_for(system_of(subject), state["kind"])
    account = (state["cred"].get(subject) or {}).get("acc") if is_credential else subject
    result.alerts.append(
        _alert(
            key,
            kind,
            identity_id,
            state,
            account=account,
            credential=subject if is_credential else None,
            deprovisioned_at=t0,
            used=None,
            now_us=now_us,
            evidence={
                "directory_change": _directory_evidence(entry),
                "sla_seconds": sla / MICROS,
                "deadline": from_micros(t0 + sla).isoformat(),
                "subject": subject,
            },
        )
    )


# -- uses after deprovisioning and revocation ----------------------------------------


def evaluate_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: "Result",
) -> None:
    for entry, ends in deprovision_windows(state):
        t0 = entry[DIR_TS]
        if use[USE_TS] > t0 + config.grace_us and (ends is None or use[USE_TS] < ends):
            kind = "used_after_deprovision" if use[USE_OK] else "attempted_after_deprovision"
            subject = use[USE_CRED] or use[USE_ACC]
            key = alert_id(kind, identity_id, subject, t0)
            if _better(state, key, 1, use[USE_TS], t0, True):
                result.alerts.append(
                    _alert(
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
                            "directory_change": _directory_evidence(entry),
                            "use": _use_evidence(use),
                        },
                    )
                )
    credential = use[USE_CRED]
    if credential and use[USE_OK]:
        revoked = (state["cred"].get(credential) or {}).get("revoked")
        if revoked is not None and use[USE_TS] > revoked + config.grace_us:
            kind = "used_after_revocation"
            # The credential alone says who it belongs to: the id does not change when
            # a late link moves the credential to its real identity.
            key = alert_id(kind, "", credential, revoked)
            if _better(state, key, 1, use[USE_TS], revoked, True):
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
                    _alert(
                        key,
                        kind,
                        identity_id,
                        state,
                        account=use[USE_ACC],
                        credential=credential,
                        deprovisioned_at=revoked,
                        used=use,
                        now_us=now_us,
                        evidence={
                            "revocation": _change_evidence(revocation)
                            if revocation
                            else {"time": from_micros(revoked).isoformat()},
                            "use": _use_evidence(use),
                        },
                    )
                )


def evaluate_orphans(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: "Result",
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
        kind = "orphaned_nhi"
        key = alert_id(kind, identity_id, owner, t0)
        if _better(state, key, 1, 0, t0, True):
            result.alerts.append(
                _alert(
                    key,
                    kind,
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


def _owner_at(state: State, time_us: int) -> str | None:
    owner = None
    for entry in state["dirs"]:
        if entry[DIR_TS] <= time_us and entry[DIR_OWNER] is not None:
            owner = entry[DIR_OWNER]
    return owner


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: "Result",
) -> None:
    evaluate_lags(identity_id, state, watermark_us, now_us, config, result)
    for use in state["use"]:
        evaluate_use(identity_id, state, use, now_us, config, result)
    evaluate_orphans(identity_id, state, watermark_us, now_us, config, result)


def next_deadline(
    identity_id: str, state: State, config: DetectionConfig, evaluated_until: int | None = None
) -> int | None:
    """The earliest event time at which an absence may become a finding not yet raised.

    Deadlines at or before ``evaluated_until`` (the watermark the rules were just
    evaluated at) have been judged already and need no wake-up.
    """
    deadlines = []
    for entry in state["dirs"]:
        if entry[DIR_CT] != "leaver":
            continue
        t0 = entry[DIR_TS]
        for subject, is_credential in _subjects_for(state, "leaver", t0):
            deadline = t0 + config.sla_for(system_of(subject), state["kind"])
            if any(t <= deadline for t in _matches(state, "leaver", subject, is_credential)):
                continue  # deprovisioned in time, or before the leaver
            if alert_id("deprovision_overdue", identity_id, subject, t0) in state["emitted"]:
                continue
            deadlines.append(deadline)
    if state["kind"] == "nhi":
        sla = config.sla_for("*", "nhi")
        deadlines += [
            t0 + sla
            for owner, t0 in state["owners_left"]
            if alert_id("orphaned_nhi", identity_id, owner, t0) not in state["emitted"]
        ]
    if evaluated_until is not None:
        deadlines = [deadline for deadline in deadlines if deadline > evaluated_until]
    return min(deadlines) if deadlines else None


# -- alert records -------------------------------------------------------------------


def _alert(
    key: str,
    kind: str,
    identity_id: str,
    state: State,
    *,
    account: str | None,
    credential: str | None,
    deprovisioned_at: int,
    used: list[Any] | None,
    now_us: int,
    evidence: dict[str, Any],
) -> dict[str, Any]:
    subject = credential or account or identity_id
    return {
        "alert_id": key,
        "kind": kind,
        "severity": severity(kind, state["kind"]),
        "identity_id": identity_id,
        "identity_kind": state["kind"],
        "account_id": account,
        "credential_id": credential,
        "deprovisioned_at": from_micros(deprovisioned_at),
        "used_at": from_micros(used[USE_TS]) if used else None,
        "seconds_after": (used[USE_TS] - deprovisioned_at) / MICROS if used else None,
        "system": used[USE_SYS] if used else system_of(subject),
        "action": used[USE_ACT] if used else None,
        "source_ip": used[USE_IP] if used else None,
        "detected_at": from_micros(now_us),
        "evidence": json.dumps(evidence, sort_keys=True),
    }


def _directory_evidence(entry: list[Any]) -> dict[str, Any]:
    return {
        "event_id": entry[DIR_ID],
        "event_time": from_micros(entry[DIR_TS]).isoformat(),
        "change_type": entry[DIR_CT],
        "source": entry[DIR_SRC],
    }


def _use_evidence(use: list[Any]) -> dict[str, Any]:
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


def _change_evidence(change: list[Any]) -> dict[str, Any]:
    return {
        "event_id": change[CHG_ID],
        "event_time": from_micros(change[CHG_TS]).isoformat(),
        "kind": change[CHG_KIND],
        "action": change[CHG_ACT],
        "system": change[CHG_SYS],
    }
