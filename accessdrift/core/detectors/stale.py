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

import itertools
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

# state["stl"]: subject -> [clock start, RAISED or RESOLVED]: what was judged of the clock
# that began then (its deadline needs no wake-up again).
RAISED, RESOLVED = 1, 0
# state["stg"]: subject -> [[start, end], ...]: stretches without a use, longer than the
# age, that a use ended before they were judged (a fast replay, a late use): judged when
# the watermark passes their deadline, by when a use inside one that arrives late has
# split it. A few per subject; the oldest go first.
KEEP_GAPS = 4
# state["sdl"]: the earliest deadline as evaluate last found it, NO_DEADLINE for none (the
# use path, which does not evaluate, answers with it: a use only ever moves a clock
# later; a subject it learns drops it).
NO_DEADLINE = 0


def _clock(
    state: State, kind: AlertKind, subject: str, entry: dict[str, Any]
) -> tuple[int | None, int | None, str | None]:
    """(clock start, end of the subject or None, its account) of a credential or an
    account; no start: not judged (a session, nothing known of it)."""
    if kind is STALE_ACCOUNT:
        intervals = ledger.account_intervals(entry) if entry.get("ev") else None
        if intervals is None:
            start = entry.get("since")
            end = None
        elif not intervals:
            return None, None, subject
        else:
            start, _, end, _ = intervals[-1]
        last = entry.get("lu")
        if start is None:
            return None, None, subject
        return (max(start, last) if last is not None else start), end, subject
    if entry.get("session"):
        return None, None, None
    start = entry.get("created")
    if start is None:
        start = entry.get("since")
    account = entry.get("acc")
    if start is None:
        return None, None, account
    last = entry.get("lu")
    if last is not None and last > start:
        start = last
    end = entry.get("revoked")
    if end is None or end > start:
        # Its account's deletion ends it too.
        deleted = (state["acc"].get(account or "") or {}).get("deleted")
        if deleted is not None and deleted >= start and (end is None or deleted < end):
            end = deleted
    return start, end, account


def _subjects(state: State) -> list[tuple[AlertKind, str, dict[str, Any]]]:
    return [
        *((STALE_CREDENTIAL, credential, entry) for credential, entry in state["cred"].items()),
        *((STALE_ACCOUNT, account, entry) for account, entry in state["acc"].items()),
    ]


def _age(state: State, subject: str, config: DetectionConfig) -> int:
    return config.stale_after_for(system_of(subject), state["kind"])


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
    earliest: int | None = None
    for kind, subject, entry in _subjects(state):
        age = _age(state, subject, config)
        start, end, account = _clock(state, kind, subject, entry)
        for gap in list((state.get("stg") or {}).get(subject) or []):
            if watermark_us >= gap[0] + age:
                _judge_gap(
                    identity_id, state, kind, subject, account, gap, end, now_us, config, result
                )
            elif earliest is None or gap[0] + age < earliest:
                earliest = gap[0] + age
        if start is None:
            continue
        known = (state.get("stl") or {}).get(subject)
        if known is not None and known[1] == RAISED and known[0] != start:
            # A use moved the clock on a path that does not judge uses (a claim, facts).
            _resolve(
                identity_id, state, kind, subject, account, known[0], end, now_us, config, result
            )
            known = (state.get("stl") or {}).get(subject)
        if known is not None and known[0] == start:
            if known[1] == RAISED and end is not None:
                if end <= watermark_us:
                    _resolve(
                        identity_id,
                        state,
                        kind,
                        subject,
                        account,
                        start,
                        end,
                        now_us,
                        config,
                        result,
                    )
                elif earliest is None or end < earliest:
                    earliest = end
            continue  # this clock was judged
        deadline = start + age
        if end is not None and end <= deadline:
            continue
        if watermark_us < deadline:
            if earliest is None or deadline < earliest:
                earliest = deadline
            continue
        if not active_at(state, deadline):
            _remember(state, "stl", subject, [start, RESOLVED])  # the leaver checks own it
            continue
        _remember(state, "stl", subject, [start, RAISED])
        key = alert_id(kind.name, identity_id, subject, start)
        if better(state, key, 0, deadline, start, True):
            result.alerts.append(
                _record(identity_id, state, kind, subject, account, start, now_us, config, None)
            )
        if end is not None and end <= watermark_us:
            _resolve(identity_id, state, kind, subject, account, start, end, now_us, config, result)
        elif end is not None and (earliest is None or end < earliest):
            earliest = end
    state["sdl"] = earliest if earliest is not None else NO_DEADLINE


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """A successful use ends its subject's clock (the use path does not evaluate): a
    staleness raised for it is resolved; one that became true before the use, not yet
    judged, is kept as a gap; a late use splits a gap it falls in, or measures the
    stretch to the next use.

    A fallback identity is never judged, but keeps its gaps all the same: when a late
    link moves its subjects to their identity, the gaps go with them (its uses before
    the prune horizon do not)."""
    if not use[USE_OK]:
        return
    time_us = use[USE_TS]
    judged, pending = state.get("stl"), state.get("stg")
    for kind, subject, table in (
        (STALE_CREDENTIAL, use[USE_CRED], "cred"),
        (STALE_ACCOUNT, use[USE_ACC], "acc"),
    ):
        entry = state[table].get(subject) if subject else None
        if entry is None:
            continue
        if not (judged and subject in judged) and not (pending and subject in pending):
            # Most uses: nothing judged or kept for the subject, and a use this close to
            # the last one (before or after it) ends or measures no stretch that long.
            last = entry.get("lu")
            if (
                last is not None
                and abs(time_us - last) < config.stale_after_us
                and (not config.stale_after_overrides_us)
            ):
                continue
        age = _age(state, subject, config)
        gaps = (pending or {}).get(subject) or []
        inside = next((gap for gap in gaps if gap[0] < time_us < gap[1]), None)
        if inside is not None:
            _split(state, subject, inside, time_us, age)
            continue
        if subject in (state.get("stl") or {}):
            # A clock judged before (so not in the cached deadline) may move on: the
            # next deadline is found again.
            state.pop("sdl", None)
        start, end, account = _clock(state, kind, subject, entry)
        if start is None:
            continue
        if time_us <= start:
            _late_gap(state, subject, table, entry, start, use, age)
            continue
        known = (state.get("stl") or {}).get(subject)
        if known is not None and known[0] == start:
            if known[1] == RAISED:
                _resolve(
                    identity_id, state, kind, subject, account, start, end, now_us, config, result
                )
            continue
        if time_us - start >= age:
            _add_gap(state, subject, [start, time_us])


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    """The earliest deadline of a clock or a gap not yet judged (or of a raised
    staleness's known end). What evaluate found last, and the gaps since."""
    if state["fb"]:
        return []
    cached = state.get("sdl")
    if cached is not None and not state.get("stg"):
        return [cached] if cached > 0 else []  # the usual answer, on every use
    found: list[int] = []
    if cached is None:
        found += _deadlines(state, config)
    elif cached > 0:
        found.append(cached)
    for subject, gaps in (state.get("stg") or {}).items():
        found += [gap[0] + _age(state, subject, config) for gap in gaps]
    return [min(found)] if found else []


def _deadlines(state: State, config: DetectionConfig) -> list[int]:
    found = []
    raised = state.get("stl") or {}
    for kind, subject, entry in _subjects(state):
        start, end, _ = _clock(state, kind, subject, entry)
        if start is None:
            continue
        known = raised.get(subject)
        if known is not None and known[0] == start:
            if known[1] == RAISED and end is not None:
                found.append(end)
            continue
        deadline = start + _age(state, subject, config)
        if end is None or end > deadline:
            found.append(deadline)
    return found


def merge_gaps(state: State, gaps_of: dict[str, list[list[int]]], config: DetectionConfig) -> None:
    """Gaps another identity kept for subjects that moved here, split by the successful
    uses of theirs this identity holds inside them (a use that arrived here before the
    gap did): what is left and still as long as the age is kept."""
    for subject, gaps in gaps_of.items():
        is_credential = subject in state["cred"]
        column = USE_CRED if is_credential else USE_ACC
        age = _age(state, subject, config)
        for start, end in gaps:
            inside = sorted(
                use[USE_TS]
                for use in state["use"]
                if use[USE_OK] and use[column] == subject and start < use[USE_TS] < end
            )
            bounds = [start, *inside, end]
            for low, high in itertools.pairwise(bounds):
                if high - low >= age:
                    _add_gap(state, subject, [low, high])


def _judge_gap(
    identity_id: str,
    state: State,
    kind: AlertKind,
    subject: str,
    account: str | None,
    gap: list[int],
    end: int | None,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    start, used = gap
    deadline = start + _age(state, subject, config)
    _drop_gap(state, subject, gap)
    if (end is not None and end <= deadline) or not active_at(state, deadline):
        return
    known = (state.get("stl") or {}).get(subject)
    if known is not None and known[0] == start:
        _remember(state, "stl", subject, [start, RESOLVED])
    # Stale from the deadline to the use that ended it: one version, already resolved.
    key = alert_id(kind.name, identity_id, subject, start)
    if better(state, key, 1, used, start, True):
        result.alerts.append(
            _record(identity_id, state, kind, subject, account, start, now_us, config, used)
        )


def _late_gap(
    state: State,
    subject: str,
    table: str,
    entry: dict[str, Any],
    start: int,
    use: list[Any],
    age: int,
) -> None:
    """A use older than the clock (late, or moved in): the stretch from it to the next
    use known, when as long as the age. Not before the uses were pruned: there the
    next use kept is not the next use."""
    time_us = use[USE_TS]
    if time_us < (state.get("ph") or 0):
        return
    column = USE_CRED if table == "cred" else USE_ACC
    later = next(
        (
            other[USE_TS]
            for other in state["use"]
            if other[USE_TS] > time_us and other[USE_OK] and other[column] == subject
        ),
        None,
    )
    if later is None and entry.get("lu") == start:
        later = start
    if later is None or later - time_us < age:
        return
    known = (state.get("stl") or {}).get(subject)
    if known is not None and known[0] == time_us:
        return
    _add_gap(state, subject, [time_us, later])


def _split(state: State, subject: str, gap: list[int], time_us: int, age: int) -> None:
    """A use inside a gap: what is left on either side, where still as long as the age."""
    _drop_gap(state, subject, gap)
    for part in ([gap[0], time_us], [time_us, gap[1]]):
        if part[1] - part[0] >= age:
            _add_gap(state, subject, part)


def _add_gap(state: State, subject: str, gap: list[int]) -> None:
    gaps = [known for known in (state.get("stg") or {}).get(subject) or [] if known != gap]
    _remember(state, "stg", subject, sorted([*gaps, gap])[-KEEP_GAPS:])


def _drop_gap(state: State, subject: str, gap: list[int]) -> None:
    gaps = [known for known in (state.get("stg") or {}).get(subject) or [] if known != gap]
    _remember(state, "stg", subject, gaps or None)


def _remember(state: State, name: str, subject: str, value: Any) -> None:
    """Replace the mapping (on the use path it may still be the caller's)."""
    remembered = dict(state.get(name) or {})
    if value is None:
        remembered.pop(subject, None)
    else:
        remembered[subject] = value
    if remembered:
        state[name] = remembered
    else:
        state.pop(name, None)


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
    column = USE_CRED if is_credential else USE_ACC
    candidates = [
        use[USE_TS]
        for use in state["use"]
        if use[USE_OK] and use[USE_TS] > start and use[column] == subject
    ]
    entry = state["cred" if is_credential else "acc"].get(subject) or {}
    if not candidates and entry.get("lu") is not None and entry["lu"] > start:
        candidates.append(entry["lu"])  # its uses were pruned: the last one is known
    if end is not None and end > start:
        candidates.append(end)
    if not candidates:
        return
    _remember(state, "stl", subject, [start, RESOLVED])
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
    age = _age(state, subject, config)
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
