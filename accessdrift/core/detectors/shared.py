"""Shared credentials: one credential or account used on behalf of, or claimed by, more
than one identity within ``ACCESSDRIFT_SHARING_WINDOW``.

By uses: a credential's successful uses come from two parties within the window. The
party of a use is its owner when it acts as the credential's own account or as an
account of the identity (known by the use's time), and otherwise the acting account
itself: a workload's key run by a person's account, a Vault token used from another
entity. By links: the resolver saw two identities claim one subject within the
window, the first claim still standing (``state["shr"]``, sent to the later claimer).

One alert per subject: the earliest pair, by the time the second party came in.
"""

import bisect
import operator
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import alert_record, better, use_evidence
from accessdrift.core.facts import USE_ACC, USE_CRED, USE_OK, USE_TS
from accessdrift.core.ids import alert_id, system_of
from accessdrift.core.state import Result, State
from accessdrift.core.timeutil import MICROS, from_micros

SHARED_CREDENTIAL = AlertKind(
    name="shared_credential",
    description=(
        "A credential or account used on behalf of, or claimed by, more than one identity"
        " within ACCESSDRIFT_SHARING_WINDOW (1 day by default)."
    ),
    severity={"human": "high", "nhi": "medium"},
    title={"human": "Personal credential shared", "nhi": "Workload credential shared"},
)
OWNER = ""  # the party of the credential's own identity
_use_time = operator.itemgetter(USE_TS)


def party(state: State, entry: dict[str, Any], use: list[Any]) -> str:
    account = use[USE_ACC]
    if not account or account == entry.get("acc"):
        return OWNER
    mine = state["acc"].get(account)
    if mine is not None and (mine.get("since") is None or mine["since"] <= use[USE_TS]):
        return OWNER
    return str(account)


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    credential = use[USE_CRED]
    if state["fb"] or not credential or not use[USE_OK]:
        return
    entry = state["cred"].get(credential)
    if entry is None or entry.get("session"):
        return
    this = party(state, entry, use)
    if this == OWNER and not entry.get("fp"):
        return  # never used by another party: nothing to pair (most uses, most keys)
    if this != OWNER and not entry.get("fp"):
        # Remembered on the credential, so that its owner's uses look for a pair too.
        state["cred"] = {**state["cred"], credential: {**entry, "fp": 1}}
        entry = state["cred"][credential]
    window = config.sharing_window_us
    uses = state["use"]
    low = bisect.bisect_left(uses, use[USE_TS] - window, key=_use_time)
    high = bisect.bisect_right(uses, use[USE_TS] + window, key=_use_time)
    second: list[Any] | None = None  # the use at which a second party came in, earliest
    for other in uses[low:high]:
        if other[USE_CRED] != credential or not other[USE_OK]:
            continue
        if party(state, entry, other) == this:
            continue
        candidate = other if other[USE_TS] > use[USE_TS] else use
        if second is None or candidate[USE_TS] < second[USE_TS]:
            second = candidate
    if second is not None:
        _candidate(state, credential, second[USE_TS])


def _candidate(state: State, credential: str, time_us: int) -> None:
    """A pair ending at ``time_us``, judged once the watermark passes it
    (``state["shp"]``: credential -> the earliest such time): by then a link dated
    before it that makes both accounts the owner's has arrived."""
    known = (state.get("shp") or {}).get(credential)
    if known is None or time_us < known:
        state["shp"] = {**(state.get("shp") or {}), credential: time_us}


def _raise(
    identity_id: str,
    state: State,
    entry: dict[str, Any],
    credential: str,
    second: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """The alert for the pair that ends at ``second``: its partner is the earliest use of
    another party in the window before it, the same whatever the arrival order."""
    window = config.sharing_window_us
    uses = state["use"]
    low = bisect.bisect_left(uses, second[USE_TS] - window, key=_use_time)
    theirs = party(state, entry, second)
    first = next(
        (
            other
            for other in uses[low:]
            if other[USE_TS] <= second[USE_TS]
            and other[USE_CRED] == credential
            and other[USE_OK]
            and party(state, entry, other) != theirs
        ),
        None,
    )
    if first is None:
        return
    # The credential alone names it: when a late creation moves the key to its real
    # owner, the owner's alert replaces the one raised where the key was before.
    key = alert_id(SHARED_CREDENTIAL.name, "", credential, 0)
    if not better(state, key, 0, second[USE_TS], first[USE_TS], True):
        return
    result.alerts.append(
        alert_record(
            key,
            SHARED_CREDENTIAL,
            identity_id,
            state,
            account=entry.get("acc"),
            credential=credential,
            deprovisioned_at=first[USE_TS],
            used=second,
            now_us=now_us,
            evidence={
                "how": "uses",
                "first_use": use_evidence(first),
                "second_use": use_evidence(second),
                "sharing_window_seconds": window / MICROS,
            },
        )
    )


def _by_uses(
    identity_id: str, state: State, now_us: int, config: DetectionConfig, result: Result
) -> None:
    """Every credential's earliest pair again (uses brought together by a late creation,
    claim or move): one pass over the uses, then a sweep for those used by two parties."""
    parties: dict[str, set[str]] = {}
    for use in state["use"]:
        credential = use[USE_CRED]
        if not credential or not use[USE_OK]:
            continue
        entry = state["cred"].get(credential)
        if entry is None or entry.get("session"):
            continue
        parties.setdefault(credential, set()).add(party(state, entry, use))
    window = config.sharing_window_us
    for credential, seen in sorted(parties.items()):
        if len(seen) < 2:
            continue
        entry = state["cred"][credential]
        last_by_party: dict[str, int] = {}
        for use in state["use"]:
            if use[USE_CRED] != credential or not use[USE_OK]:
                continue
            this = party(state, entry, use)
            if any(
                other != this and use[USE_TS] - time_us <= window
                for other, time_us in last_by_party.items()
            ):
                _candidate(state, credential, use[USE_TS])
                break
            last_by_party[this] = use[USE_TS]


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """Pairs of uses brought together by a late fact, and subjects two identities
    claimed at once (the resolver's links)."""
    if not state["fb"]:
        _by_uses(identity_id, state, now_us, config, result)
        for credential, time_us in sorted((state.get("shp") or {}).items()):
            if time_us > watermark_us:
                continue
            state["shp"] = {key: value for key, value in state["shp"].items() if key != credential}
            entry = state["cred"].get(credential)
            second = next(
                (
                    use
                    for use in state["use"]
                    if use[USE_TS] == time_us and use[USE_CRED] == credential and use[USE_OK]
                ),
                None,
            )
            if entry is not None and second is not None:
                _raise(identity_id, state, entry, credential, second, now_us, config, result)
    for subject, is_credential, other, other_us, claimed_us in state.get("shr") or []:
        # Per pair: alternating claims tell each later claimer its own pair, each a
        # finding of its own whatever the order they are told in.
        key = alert_id(SHARED_CREDENTIAL.name, "", subject, claimed_us)
        if not better(state, key, 0, claimed_us, other_us, True):
            continue
        result.alerts.append(
            alert_record(
                key,
                SHARED_CREDENTIAL,
                identity_id,
                state,
                account=None if is_credential else subject,
                credential=subject if is_credential else None,
                deprovisioned_at=other_us,
                used=None,
                used_at=claimed_us,
                now_us=now_us,
                system=system_of(subject),
                action="link",
                evidence={
                    "how": "links",
                    "other_identity_id": other,
                    "other_claimed_at": from_micros(other_us).isoformat(),
                    "claimed_at": from_micros(claimed_us).isoformat(),
                    "sharing_window_seconds": config.sharing_window_us / MICROS,
                },
            )
        )


def deadlines(identity_id: str, state: State, config: DetectionConfig) -> list[int]:
    if not state.get("shp"):
        return []
    found = list((state.get("shp") or {}).values())
    return [min(found)] if found else []


DETECTOR = Detector(
    name="shared",
    order=80,
    kinds=(SHARED_CREDENTIAL,),
    evaluate=evaluate,
    deadlines=deadlines,
    judge_use=judge_use,
)
