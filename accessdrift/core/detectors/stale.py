"""Stale credentials and accounts: active, of an active identity, and unused for
``ACCESSDRIFT_STALE_AFTER`` (per system and identity kind).

A credential's clock starts at its last successful use, or its creation (its first
sighting when no creation is logged); an account's at its last successful use (any use
it acts in), or the start of its current interval in the ledger. The finding is raised
once, when the watermark passes that time plus the age (a deadline like the SLA's, so
the identity stage wakes the identity then), and resolved by the first successful use
after it or by the end of the subject (revocation, disabling, deletion): the same
alert again, a newer version with ``resolved_at``. A later staleness of the same subject
is a new alert (its clock starts elsewhere).

Fallback identities (accounts no identity claims) are left to uncorrelated.py, and role
sessions expire by themselves.
"""

from typing import Any

from accessdrift.core import ledger
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import active_at, alert_record, better
from accessdrift.core.facts import USE_ACC, USE_CRED, USE_OK, USE_TS
from accessdrift.core.ids import alert_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

STALE_CREDENTIAL = AlertKind(
    name="stale_credential",
    description=(
        "An active credential of an active identity with no successful use for"
        " ACCESSDRIFT_STALE_AFTER (90 days by default) since its last use or creation."
    ),
    severity={"human": "low", "nhi": "medium"},
    title={"human": "Unused credential still active", "nhi": "Unused workload credential"},
)
STALE_ACCOUNT = AlertKind(
    name="stale_account",
    description=(
        "An active account of an active identity with no successful use for"
        " ACCESSDRIFT_STALE_AFTER (90 days by default) since its last use or creation."
    ),
    severity={"human": "low", "nhi": "medium"},
    title={"human": "Unused account still enabled", "nhi": "Unused workload account"},
)

# state["stl"]: subject -> [clock start, raised (1) or resolved (0)] of its last
# staleness; its deadline needs no wake-up again.
RAISED, RESOLVED = 1, 0
# ... or [clock start, PENDING, the use that ended it]: a gap seen on the use path, judged
# when the watermark passes its deadline.
PENDING = 2


def _credential_clock(entry: dict[str, Any]) -> tuple[int | None, int | None]:
    """(clock start, end) of a credential: None when it has no known start or is a
    session."""
    if entry.get("session"):
        return None, None
    start = entry.get("created")
    if start is None:
        start = entry.get("since")
    if start is None:
        return None, None
    last = entry.get("lu")
    return (max(start, last) if last is not None else start), entry.get("revoked")


def _account_clock(entry: dict[str, Any]) -> tuple[int | None, int | None]:
    intervals = ledger.account_intervals(entry)
    if not intervals:
        return None, None
    start, _, end, _ = intervals[-1]
    last = entry.get("lu")
    return (max(start, last) if last is not None else start), end


def _subjects(state: State) -> list[tuple[AlertKind, str, str | None, int, int | None]]:
    """(kind, subject, its account, clock start, end or None) of every subject whose
    staleness can be judged."""
    found: list[tuple[AlertKind, str, str | None, int, int | None]] = []
    for credential, entry in state["cred"].items():
        start, end = _credential_clock(entry)
        if start is None:
            continue
        account = entry.get("acc")
        deleted = (state["acc"].get(account or "") or {}).get("deleted")
        if deleted is not None and deleted >= start and (end is None or deleted < end):
            end = deleted
        found.append((STALE_CREDENTIAL, credential, account, start, end))
    for account, entry in state["acc"].items():
        start, end = _account_clock(entry)
        if start is not None:
            found.append((STALE_ACCOUNT, account, account, start, end))
    return found


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    if state["fb"]:
        return
    for kind, subject, account, start, end in _subjects(state):
        known = (state.get("stl") or {}).get(subject)
        if known is not None and known[1] == PENDING:
            _judge_gap(
                identity_id,
                state,
                kind,
                subject,
                account,
                known,
                end,
                watermark_us,
                now_us,
                config,
                result,
            )
            continue
        if known is not None and known[1] == RAISED:
            if start > known[0] or (end is not None and end > known[0]):
                _resolve(
                    identity_id,
                    state,
                    kind,
                    subject,
                    account,
                    known[0],
                    end,
                    now_us,
                    config,
                    result,
                )
            continue
        if known is not None and known[0] == start:
            continue  # this staleness was raised and resolved already
        deadline = start + config.stale_after_for(system_of(subject), state["kind"])
        if watermark_us < deadline or (end is not None and end <= deadline):
            continue
        if not active_at(state, deadline):
            continue  # a leaver's access is the deprovision checks' business
        state["stl"] = {**(state.get("stl") or {}), subject: [start, RAISED]}
        key = alert_id(kind.name, identity_id, subject, start)
        if better(state, key, 0, deadline, start, True):
            result.alerts.append(
                _record(identity_id, state, kind, subject, account, start, now_us, config, None)
            )


def _judge_gap(
    identity_id: str,
    state: State,
    kind: AlertKind,
    subject: str,
    account: str | None,
    gap: list[int],
    end: int | None,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    start, _, used = gap
    deadline = start + config.stale_after_for(system_of(subject), state["kind"])
    if watermark_us < deadline:
        return
    if (end is not None and end <= deadline) or not active_at(state, deadline):
        _remember(state, subject, [start, RESOLVED])
        return
    # Stale from the deadline to the use: one version, already resolved.
    _remember(state, subject, [start, RESOLVED])
    key = alert_id(kind.name, identity_id, subject, start)
    if better(state, key, 1, used, start, True):
        result.alerts.append(
            _record(identity_id, state, kind, subject, account, start, now_us, config, used)
        )


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """A successful use ends its subject's clock (the use path skips evaluate): a
    staleness raised for that clock is resolved, and one that became true before the use
    with no wake-up in between (a fast replay) is raised and resolved at once."""
    if state["fb"] or not use[USE_OK]:
        return
    for kind, subject, table in (
        (STALE_CREDENTIAL, use[USE_CRED], "cred"),
        (STALE_ACCOUNT, use[USE_ACC], "acc"),
    ):
        entry = state[table].get(subject) if subject else None
        if entry is None:
            continue
        age = config.stale_after_for(system_of(subject), state["kind"])
        known = (state.get("stl") or {}).get(subject)
        if known is not None and known[1] == PENDING:
            _split(state, subject, known, use[USE_TS], age)  # a late use inside the gap
            continue
        start, end = _credential_clock(entry) if table == "cred" else _account_clock(entry)
        if start is None:
            continue
        if use[USE_TS] <= start:
            # A use older than the clock (it arrived late, or moved in): the stretch from
            # it to the next use known may be as long as the age.
            _late_gap(state, subject, table, use, age)
            continue
        account = entry.get("acc") if table == "cred" else subject
        if table == "cred":
            deleted = (state["acc"].get(account or "") or {}).get("deleted")
            if deleted is not None and deleted >= start and (end is None or deleted < end):
                end = deleted
        if known is not None and known[1] == RAISED:
            _resolve(
                identity_id, state, kind, subject, account, known[0], end, now_us, config, result
            )
            continue
        if known is not None and known[0] == start:
            continue
        if use[USE_TS] >= start + age:
            # Unused from ``start`` to this use, longer than the age, with no wake-up in
            # between (a fast replay): judged once the watermark passes the deadline, by
            # when a late use inside the gap has arrived and split it (``_split``).
            _remember(state, subject, [start, PENDING, use[USE_TS]])


def _late_gap(state: State, subject: str, table: str, use: list[Any], age: int) -> None:
    column = USE_CRED if table == "cred" else USE_ACC
    later = next(
        (
            other[USE_TS]
            for other in state["use"]
            if other[USE_TS] > use[USE_TS] and other[USE_OK] and other[column] == subject
        ),
        None,
    )
    known = (state.get("stl") or {}).get(subject)
    if later is None or later - use[USE_TS] < age:
        return
    if known is not None and known[0] >= use[USE_TS]:
        return  # judged already for this stretch or a later one
    _remember(state, subject, [use[USE_TS], PENDING, later])


def _remember(state: State, subject: str, entry: list[int] | None) -> None:
    remembered = dict(state.get("stl") or {})
    if entry is None:
        remembered.pop(subject, None)
    else:
        remembered[subject] = entry
    state["stl"] = remembered


def _split(state: State, subject: str, gap: list[int], time_us: int, age: int) -> None:
    """A use inside a pending gap: what is left of it still as long as the age (the
    later part first), or nothing."""
    start, _, end = gap
    if not start < time_us < end:
        return
    if end - time_us >= age:
        _remember(state, subject, [time_us, PENDING, end])
    elif time_us - start >= age:
        _remember(state, subject, [start, PENDING, time_us])
    else:
        _remember(state, subject, None)


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """When each subject's current clock makes it stale, unless judged for that clock."""
    if state["fb"]:
        return []
    # Called for every message an identity handles: the earliest only.
    raised = state.get("stl") or {}
    earliest: int | None = None
    for _, subject, _, start, end in _subjects(state):
        known = raised.get(subject)
        if known is not None and known[1] == PENDING:
            deadline = known[0] + config.stale_after_for(system_of(subject), state["kind"])
            if earliest is None or deadline < earliest:
                earliest = deadline
            continue
        if known is not None and known[0] == start:
            continue
        deadline = start + config.stale_after_for(system_of(subject), state["kind"])
        if (end is None or end > deadline) and (earliest is None or deadline < earliest):
            earliest = deadline
    return [] if earliest is None else [earliest]


def _resolve(
    identity_id: str,
    state: State,
    kind: AlertKind,
    subject: str,
    account: str | None,
    start: int,
    end: int | None,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """The staleness raised for the clock that began at ``start`` ended: at the first
    successful use after it, or the subject's end, whichever came first."""
    is_credential = kind is STALE_CREDENTIAL
    candidates = [
        use[USE_TS]
        for use in state["use"]
        if use[USE_OK]
        and use[USE_TS] > start
        and (use[USE_CRED] if is_credential else use[USE_ACC]) == subject
    ]
    entry = state["cred" if is_credential else "acc"].get(subject) or {}
    if not candidates and entry.get("lu") is not None and entry["lu"] > start:
        candidates.append(entry["lu"])  # its uses were pruned: the last one is known
    if end is not None and end > start:
        candidates.append(end)
    if not candidates:
        return
    state["stl"] = {**(state.get("stl") or {}), subject: [start, RESOLVED]}
    resolved = min(candidates)
    key = alert_id(kind.name, identity_id, subject, start)
    if better(state, key, 1, resolved, start, True):
        # A newer version of the same alert: same id, and when it stopped being true.
        result.alerts.append(
            _record(identity_id, state, kind, subject, account, start, now_us, config, resolved)
        )


def _record(
    identity_id: str,
    state: State,
    kind: AlertKind,
    subject: str,
    account: str | None,
    start: int,
    now_us: int,
    config: DetectionConfig,
    resolved: int | None,
) -> dict[str, Any]:
    age = config.stale_after_for(system_of(subject), state["kind"])
    return alert_record(
        alert_id(kind.name, identity_id, subject, start),
        kind,
        identity_id,
        state,
        account=account,
        credential=subject if kind is STALE_CREDENTIAL else None,
        deprovisioned_at=start,
        used=None,
        now_us=now_us,
        system=system_of(subject),
        resolved_at=resolved,
        evidence={
            "unused_since": from_micros(start).isoformat(),
            "stale_after_seconds": age / MICROS,
            "stale_at": from_micros(start + age).isoformat(),
            "resolved_at": from_micros(resolved).isoformat() if resolved is not None else None,
        },
    )


DETECTOR = Detector(
    name="stale",
    order=60,
    kinds=(STALE_CREDENTIAL, STALE_ACCOUNT),
    evaluate=evaluate,
    deadlines=deadlines,
    judge_use=judge_use,
)
