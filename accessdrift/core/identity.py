"""The identity stage: one identity's facts in, lag rows and alerts out.

State is a plain JSON-able dict per identity. ``handle`` applies one message
and then asks the ``detectors`` what the facts now prove; only findings that are new or
better than what was already emitted come out, so a repeated use never repeats
an alert and a replay never doubles a row.
"""

import bisect
import operator
from dataclasses import dataclass
from typing import Any

from accessdrift.core import detectors, ledger
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors import stale
from accessdrift.core.entitlements import judged
from accessdrift.core.facts import (
    CHG_ID,
    CHG_SUBJECT,
    CHG_TS,
    DIR_CT,
    DIR_ID,
    DIR_TS,
    USE_ACC,
    USE_CRED,
    USE_ID,
    USE_OK,
    USE_SUBJECT,
    USE_TS,
)
from accessdrift.core.messages import (
    AssumedMessage,
    ChangeMessage,
    ClaimMessage,
    DirectoryMessage,
    FactsMessage,
    IdentityMessage,
    MoveMessage,
    OwnerLeftMessage,
    OwnerOfMessage,
    SharedMessage,
    UseMessage,
)
from accessdrift.core.resolver import Outbound, is_session_credential
from accessdrift.core.state import Result, State, new_state

KEEP_DIRECTORY_CHANGES = 4
PRUNE_EVERY_US = 86_400 * 1_000_000
FACTS_PER_MESSAGE = 500
USE_BUCKET_US = 3600 * 1_000_000


def handle(
    identity_id: str,
    state: State | None,
    message: IdentityMessage,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
) -> tuple[State, Result]:
    """Apply one message; return the new state and what it proves.

    A use that changes nothing the detections keep (a busy key's use in the middle
    of its hour, judged and found clean) returns the very state it was given: the
    stage has nothing to write for it."""
    if message["t"] == "use":
        known = state is not None
        base = (
            state
            if state is not None
            else new_state(message.get("ik", "human"), bool(message.get("fb")))
        )
        place = _place_use(base, message)
        if place is not None:
            return _on_use(identity_id, base, known, place, watermark_us, now_us, config)
        # Seen before (a replay): nothing to add, judged again below with the rest.
    state = (
        _copy(state)
        if state is not None
        else new_state(message.get("ik", "human"), bool(message.get("fb")))
    )
    result = Result()
    kind = message["t"]
    touched = _ledger_keys(state, message)
    before = ledger.snapshot(identity_id, state, touched) if touched else {}
    if message["t"] == "dir":
        _on_directory_change(identity_id, state, message, result)
    elif message["t"] == "use":
        pass  # recorded before: judged again with the rest below, as any replay
    elif message["t"] == "chg":
        _add_change(state, message, config)
    elif message["t"] == "claim":
        _on_claim(state, message)
    elif message["t"] == "move":
        _on_move(state, message, result)
    elif message["t"] == "facts":
        kept = _send_on_what_moved_away(state, message, result)
        arrived = _facts_keys(state, kept)
        held_before = ledger.snapshot(identity_id, state, arrived)
        # Uses that moved in are judged as uses first, in their order, against what this
        # identity knew of their subjects: the checks that look at each use as it comes
        # (a late use inside an unused stretch, core/detectors/stale.py) would otherwise
        # never see them; the rest judge them again below, idempotently.
        _insert_uses(state, kept["use"])
        for use in sorted(kept["use"], key=_use_order):
            detectors.judge_use(identity_id, state, use, now_us, config, result)
            _note_use(state, use)
        _on_facts(state, kept)
        # The unused stretches the sender kept, cut by the uses this identity already
        # holds inside them (they may have reached it first).
        stale.merge_gaps(state, kept.get("stg") or {}, config)
        # Every row of what arrived, changed here or not: the rows the sender emitted
        # for it were removed when it moved away (``_ledger_keys`` of "move").
        arrived = sorted(set(arrived) | set(_facts_keys(state, kept)))
        after = ledger.snapshot(identity_id, state, arrived)
        result.ledger += ledger.diff(held_before, after, now_us, every=True)
    elif message["t"] == "owner_of":
        _on_owner_of(identity_id, state, message, result)
    elif message["t"] == "shared":
        _on_shared(state, message)
    elif message["t"] == "assumed":
        _on_assumed(state, message)
    elif message["t"] == "owner_left":
        entry = [message["owner"], message["ts"]]
        if entry not in state["owners_left"]:
            state["owners_left"].append(entry)
    elif kind != "tick":
        raise ValueError(f"unknown identity-stage message type {kind!r}")
    if state["fb"] and not message.get("fb", True) and kind in ("dir", "claim"):
        state["fb"] = False  # a real directory record now speaks for this id
    if touched:
        result.ledger += ledger.diff(before, ledger.snapshot(identity_id, state, touched), now_us)
    if kind in ("dir", "chg", "claim", "facts"):
        _fold_uses(state)
    detectors.evaluate(identity_id, state, watermark_us, now_us, config, result)
    _prune(state, watermark_us, config)
    result.next_deadline_us = detectors.next_deadline(identity_id, state, config, watermark_us)
    return state, result


def _copy(state: State) -> State:
    # Shallow copies of the mutable parts we touch: the caller's state stays as it was.
    copied = dict(state)
    for key in ("dirs", "chg", "use", "nhis", "owners_left"):
        copied[key] = list(state.get(key, []))
    for key in ("acc", "cred", "emitted", "moved"):
        copied[key] = dict(state.get(key, {}))
    if "stl" in state:
        copied["stl"] = dict(state["stl"])
    if "asm" in state:
        copied["asm"] = list(state["asm"])
    return copied


def _on_directory_change(
    identity_id: str, state: State, message: DirectoryMessage, result: Result
) -> None:
    entry = [
        message["ts"],
        message["id"],
        message["ct"],
        message.get("owner"),
        message.get("src"),
        message.get("ents"),
    ]
    if any(existing[DIR_ID] == entry[DIR_ID] for existing in state["dirs"]):
        return
    state["dirs"].append(entry)
    state["dirs"].sort(key=lambda item: (item[DIR_TS], item[DIR_ID]))
    state["kind"] = message.get("ik", state["kind"])
    for account in message.get("accounts") or []:
        _seen_since(state, account, message["ts"])
    owner = message.get("owner")
    if owner and state["kind"] == "nhi":
        result.messages.append(
            Outbound(
                owner, OwnerOfMessage(t="owner_of", nhi=identity_id, ts=message["ts"], fb=False)
            )
        )
    if message["ct"] == "leaver":
        for nhi in state["nhis"]:
            result.messages.append(
                Outbound(
                    nhi,
                    OwnerLeftMessage(t="owner_left", owner=identity_id, ts=message["ts"], fb=False),
                )
            )


def _on_owner_of(identity_id: str, state: State, message: OwnerOfMessage, result: Result) -> None:
    nhi = message["nhi"]
    if nhi not in state["nhis"]:
        state["nhis"].append(nhi)
    # The owner may have left already: tell the NHI, whatever the arrival order.
    for entry in state["dirs"]:
        if entry[DIR_CT] == "leaver":
            result.messages.append(
                Outbound(
                    nhi,
                    OwnerLeftMessage(t="owner_left", owner=identity_id, ts=entry[DIR_TS], fb=False),
                )
            )


# A use's place in an identity's list: by time, then id. itemgetter runs in C: it is
# called a dozen times per use handled.
_use_order = operator.itemgetter(USE_TS, USE_ID)
_use_time = operator.itemgetter(USE_TS)


@dataclass(frozen=True)
class _UsePlace:
    """Where a new use goes in an identity's state, found without touching the state."""

    entry: list[Any]
    keep: bool  # False: judged now, not kept (its hour's first and last stay)
    replaces: int | None  # the index of the hour's first or last use it takes the place of
    learned: bool  # the use taught the identity a credential or (a fallback) an account
    earlier: bool  # the earliest sighting of a known subject the ledger dates from


def _place_use(state: State, message: UseMessage) -> _UsePlace | None:
    """A use to record: None when it was recorded before.

    Uses are what a late leaver or revocation looks back on, and a busy key makes
    thousands. Per key, account and outcome, each hour keeps its first and its last
    use: a use that arrives after the change that makes it suspicious is judged
    exactly as it comes; one that a later-arriving change must find again is found
    in its hour (its first-use time then at most an hour late, never missed).
    """
    subject = message["s"]
    time_us = message["ts"]
    account = message.get("acc")
    success = bool(message["ok"])
    credential = message.get("cred")
    entry = [
        time_us,
        message["id"],
        message["sys"],
        account,
        credential,
        message.get("act"),
        success,
        message.get("ip"),
        subject,
        message.get("ua"),
    ]
    uses = state["use"]
    bucket_start = time_us - time_us % USE_BUCKET_US
    low = bisect.bisect_left(uses, bucket_start, key=_use_time)
    high = bisect.bisect_left(uses, bucket_start + USE_BUCKET_US, lo=low, key=_use_time)
    same = [
        index
        for index in range(low, high)
        if uses[index][USE_SUBJECT] == subject
        and uses[index][USE_ACC] == account
        and uses[index][USE_OK] == success
    ]
    use_id = entry[USE_ID]
    for index in same:
        if uses[index][USE_ID] == use_id:
            return None
    learned = bool(
        (credential and credential == subject and credential not in state["cred"])
        or (not credential and subject not in state["acc"] and state["fb"])
    )
    earlier = not learned and _sighted_earlier(state, subject, credential, time_us)
    if len(same) < 2:
        return _UsePlace(entry, True, None, learned, earlier)
    first, last = same[0], same[-1]
    if _use_order(entry) < _use_order(uses[first]):
        return _UsePlace(entry, True, first, learned, earlier)
    if _use_order(entry) > _use_order(uses[last]):
        return _UsePlace(entry, True, last, learned, earlier)
    return _UsePlace(entry, False, None, learned, earlier)


def _sighted_earlier(state: State, subject: str, credential: str | None, time_us: int) -> bool:
    """A use before the first sighting of a subject whose ledger interval starts at it (an
    account or credential with no logged creation). Uses mostly come in order: rare."""
    if credential and credential == subject:
        entry = state["cred"].get(credential)
        return bool(
            entry is not None
            and entry.get("created") is None
            and entry.get("since") is not None
            and time_us < entry["since"]
        )
    if credential:
        return False
    account_entry = state["acc"].get(subject)
    return bool(
        account_entry is not None
        and account_entry.get("since") is not None
        and time_us < account_entry["since"]
    )


def _on_use(
    identity_id: str,
    given: State,
    known: bool,
    place: _UsePlace,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
) -> tuple[State, Result]:
    """Record and judge a use, copying only the parts of the state it changes: uses
    are most of the messages, and most change nothing but the list of uses, or not
    even that (then the very state given comes back: nothing to write). ``known``:
    ``given`` is the identity's stored state, not a new one."""
    entry = place.entry
    state = dict(given)
    state["emitted"] = dict(given["emitted"])  # what judging the use may add to
    if place.learned:
        state.pop("sdl", None)  # a new subject: its stale deadline is not in the cache
        credential, subject = entry[USE_CRED], entry[USE_SUBJECT]
        if credential and credential == subject:
            state["cred"] = {
                **state["cred"],
                credential: {
                    "acc": entry[USE_ACC],
                    "session": is_session_credential(credential),
                    "created": None,
                    "revoked": None,
                    "since": entry[USE_TS],
                },
            }
            learned_key: ledger.LedgerKey = ("credential", credential)
        else:
            state["acc"] = {**state["acc"], subject: {"since": entry[USE_TS]}}
            learned_key = ("account", subject)
    elif place.earlier:
        credential, subject = entry[USE_CRED], entry[USE_SUBJECT]
        if credential and credential == subject:
            state["cred"] = {
                **state["cred"],
                subject: {**state["cred"][subject], "since": entry[USE_TS]},
            }
            learned_key = ("credential", subject)
        else:
            state["acc"] = {
                **state["acc"],
                subject: {**state["acc"][subject], "since": entry[USE_TS]},
            }
            learned_key = ("account", subject)
    if place.keep:
        uses = list(state["use"])
        if place.replaces is not None:
            del uses[place.replaces]
        bisect.insort(uses, entry, key=_use_order)
        state["use"] = uses
    result = Result()
    if place.learned or place.earlier:
        result.ledger += ledger.diff(
            ledger.snapshot(identity_id, given, [learned_key]) if place.earlier else {},
            ledger.snapshot(identity_id, state, [learned_key]),
            now_us,
        )
    # Judged before its time counts as a last use: staleness is judged on the clock
    # the use ends (core/detectors/stale.py).
    detectors.judge_use(identity_id, state, entry, now_us, config, result)
    noted = _note_use(state, entry)
    # A detector that remembers something on the subject replaces its mapping.
    remembered = (
        state["cred"] is not given["cred"]
        or state.get("stl") is not given.get("stl")
        or state.get("stg") is not given.get("stg")
        or state.get("rot") is not given.get("rot")
        or state.get("shp") is not given.get("shp")
    )
    if known and not (
        place.keep or place.learned or place.earlier or noted or remembered or result.alerts
    ):
        # Judging found nothing new (so ``emitted`` is as it was), nothing was kept.
        result.next_deadline_us = detectors.next_deadline(identity_id, given, config)
        return given, result
    _prune(state, watermark_us, config)
    result.next_deadline_us = detectors.next_deadline(identity_id, state, config)
    return state, result


def _add_change(state: State, message: ChangeMessage, config: DetectionConfig) -> None:
    if any(
        existing[CHG_ID] == message["id"] and existing[CHG_SUBJECT] == message["s"]
        for existing in state["chg"]
    ):
        return
    state["chg"].append(
        [
            message["ts"],
            message["id"],
            message["kind"],
            message["sys"],
            message.get("acc"),
            message.get("cred"),
            message.get("act"),
            bool(message["ok"]),
            message["s"],
        ]
    )
    state["chg"].sort(key=lambda item: (item[CHG_TS], item[CHG_ID]))
    if not message["ok"]:
        return
    kind = message["kind"]
    credential = message.get("cred")
    time_us, event_id = message["ts"], message["id"]
    if credential:
        entry = dict(
            state["cred"].get(credential)
            or {"acc": None, "session": False, "created": None, "revoked": None}
        )
        if message.get("acc") and not entry.get("acc"):
            entry["acc"] = message["acc"]
        entry["since"] = _min(entry.get("since"), time_us)
        if kind == "credential_created":
            if _earlier(time_us, event_id, entry.get("created"), entry.get("cb")):
                entry["created"], entry["cb"] = time_us, event_id
                # Its creation names its account: a use that arrived first named only
                # the account acting with it, which may be another party's.
                if message.get("acc"):
                    entry["acc"] = message["acc"]
            entry["session"] = bool(message.get("session")) or is_session_credential(credential)
        elif kind == "credential_revoked" and _earlier(
            time_us, event_id, entry.get("revoked"), entry.get("rb")
        ):
            entry["revoked"], entry["rb"] = time_us, event_id
        state["cred"][credential] = entry
    elif message.get("acc"):
        account = message["acc"]
        entry = dict(state["acc"].get(account) or {"since": time_us})
        entry["since"] = _min(entry.get("since"), time_us)
        if kind in ("account_disabled", "account_deleted"):
            entry["ended"] = _min(entry.get("ended"), time_us)
        if kind == "account_deleted":
            entry["deleted"] = _min(entry.get("deleted"), time_us)
        op = LIFECYCLE_OPS.get(kind)
        if op is not None:
            events = list(entry.get("ev") or [])
            ledger.add_event(events, [time_us, event_id, op])
            entry["ev"] = events
        entitlement = message.get("ent")
        floor = (entry.get("pf") or {}).get(entitlement or "")
        if floor is not None and time_us < floor:
            entitlement = None  # settled and pruned: a replay of it changes nothing
        if entitlement and kind in ("permission_granted", "permission_revoked"):
            entitlements = dict(entry.get("ent") or {})
            events = list(entitlements.get(entitlement) or [])
            privileged = judged(entitlement, message.get("priv"), config.privileged_patterns)
            op = ledger.OPEN if kind == "permission_granted" else ledger.CLOSE
            ledger.add_event(events, [time_us, event_id, op, privileged])
            entitlements[entitlement] = events
            entry["ent"] = entitlements
        state["acc"][account] = entry


LIFECYCLE_OPS = {
    "account_created": ledger.OPEN,
    "account_disabled": ledger.CLOSE,
    "account_deleted": ledger.DELETE,
}


def _earlier(time_us: int, event_id: str, known_us: int | None, known_id: str | None) -> bool:
    """Whether (time, id) comes before the known event: the earliest event is kept, the
    same one whatever the arrival order."""
    if known_us is None:
        return True
    return (time_us, event_id) < (known_us, known_id or "")


def _ledger_keys(state: State, message: IdentityMessage) -> list[ledger.LedgerKey]:
    """The ledger subjects a message may change (their intervals are compared before and
    after it)."""
    if message["t"] == "chg":
        credential = message.get("cred")
        if credential:
            return [("credential", credential)]
        account = message.get("acc")
        if not account:
            return []
        entitlement = message.get("ent")
        if entitlement:
            return [("account", account), ("entitlement", account, entitlement)]
        keys: list[ledger.LedgerKey] = [("account", account)]
        if message["kind"] == "account_deleted":  # ends its credentials
            keys += [
                ("credential", credential)
                for credential, entry in sorted(state["cred"].items())
                if entry.get("acc") == account
            ]
        return keys
    if message["t"] == "dir":
        if message.get("ik", state["kind"]) != state["kind"]:
            return ledger.all_keys(state)  # every row names the identity's kind
        return [("account", account) for account in message.get("accounts") or []]
    if message["t"] == "move":
        # What moves away leaves this identity's ledger: removed here, emitted anew by
        # the identity it moves to when its facts arrive there.
        moved: list[ledger.LedgerKey] = []
        for subject in sorted(message["subjects"]):
            if subject in state["acc"]:
                moved += ledger.keys_of_account(state, subject)
            if subject in state["cred"]:
                moved.append(("credential", subject))
        return moved
    if message["t"] == "claim":
        if message.get("cred"):
            return [("credential", message["s"])]
        return [("account", message["s"])]
    return []


def _facts_keys(state: State, message: FactsMessage) -> list[ledger.LedgerKey]:
    keys: list[ledger.LedgerKey] = []
    for account in sorted(message["acc"]):
        keys += ledger.keys_of_account(state, account)
    credentials = set(message["cred"])
    # A credential already here whose account arrived: the account's deletion ends it.
    credentials |= {
        credential
        for credential, entry in state["cred"].items()
        if entry.get("acc") in message["acc"]
    }
    keys += [("credential", credential) for credential in sorted(credentials)]
    return keys


def _seen_since(state: State, account: str, time_us: int) -> None:
    """The account is known at ``time_us``: its first sighting is the earliest, whatever
    the arrival order (the ledger holds an account without a logged creation from it)."""
    entry = state["acc"].get(account)
    if entry is None:
        state["acc"][account] = {"since": time_us}
    elif entry.get("since") is None or time_us < entry["since"]:
        state["acc"][account] = {**entry, "since": time_us}


def _on_claim(state: State, message: ClaimMessage) -> None:
    subject = message["s"]
    if message.get("cred"):
        if message.get("removed"):
            state["cred"].pop(subject, None)
        else:
            entry = dict(
                state["cred"].get(subject)
                or {
                    "acc": None,
                    "session": is_session_credential(subject),
                    "created": None,
                    "revoked": None,
                }
            )
            entry["acc"] = entry.get("acc") or message.get("acc")
            entry["since"] = _min(entry.get("since"), message["ts"])
            state["cred"][subject] = entry
    elif message.get("removed"):
        state["acc"].pop(subject, None)
    else:
        _seen_since(state, subject, message["ts"])


def _on_move(state: State, message: MoveMessage, result: Result) -> None:
    subjects = set(message["subjects"])
    generations: dict[str, int] = message.get("g") or {}
    moved_uses = [use for use in state["use"] if use[USE_SUBJECT] in subjects]
    moved_changes = [change for change in state["chg"] if change[CHG_SUBJECT] in subjects]
    state["use"] = [use for use in state["use"] if use[USE_SUBJECT] not in subjects]
    state["chg"] = [change for change in state["chg"] if change[CHG_SUBJECT] not in subjects]
    moved_credentials = {
        key: state["cred"].pop(key) for key in list(state["cred"]) if key in subjects
    }
    moved_accounts = {key: state["acc"].pop(key) for key in list(state["acc"]) if key in subjects}
    staleness = state.get("stl") or {}
    moved_judged = {subject: staleness[subject] for subject in subjects if subject in staleness}
    if moved_judged:
        state["stl"] = {key: value for key, value in staleness.items() if key not in moved_judged}
    pending = state.get("stg") or {}
    moved_gaps = {subject: pending[subject] for subject in subjects if subject in pending}
    if moved_gaps:
        state["stg"] = {key: value for key, value in pending.items() if key not in moved_gaps}
    moved_assumptions = [
        entry for entry in state.get("asm") or [] if _assumption_of(entry, subjects)
    ]
    if moved_assumptions:
        state["asm"] = [
            entry for entry in state.get("asm") or [] if not _assumption_of(entry, subjects)
        ]
    # Facts about these subjects may still be on their way here from an earlier
    # holder on another partition: remember where each went, and in which
    # generation, to send those on when they come (see _send_on_what_moved_away).
    destination = [message["to"], message["to_kind"], message["to_fallback"]]
    moved = state.setdefault("moved", {})
    for subject in subjects:
        moved[subject] = [int(generations.get(subject, 0)), *destination]
    result.messages += _facts_messages(
        destination,
        {subject: int(generations.get(subject, 0)) for subject in subjects},
        moved_uses,
        moved_changes,
        moved_credentials,
        moved_accounts,
        moved_assumptions,
        moved_judged,
        moved_gaps,
    )


def _assumption_of(entry: list[Any], subjects: set[str]) -> bool:
    """An assumption kept for a subject: the role (its holder's) or the creator's account."""
    return bool(entry[2] in subjects if entry[6] == "holder" else entry[7] in subjects)


def _facts_messages(
    destination: list[Any],
    generations: dict[str, int],
    uses: list[list[Any]],
    changes: list[list[Any]],
    credentials: dict[str, Any],
    accounts: dict[str, Any],
    assumptions: list[list[Any]] | None = None,
    staleness: dict[str, list[int]] | None = None,
    gaps: dict[str, list[list[int]]] | None = None,
) -> list[Outbound]:
    """The facts for one destination, in messages of at most FACTS_PER_MESSAGE uses and
    changes: a busy account's history stays far below what a Kafka message may carry."""
    out = []
    first = True
    while first or uses or changes:
        take_uses = uses[:FACTS_PER_MESSAGE]
        take_changes = changes[: FACTS_PER_MESSAGE - len(take_uses)]
        uses, changes = uses[len(take_uses) :], changes[len(take_changes) :]
        facts: FactsMessage = {
            "t": "facts",
            "ik": destination[1],
            "fb": destination[2],
            "g": generations,
            "use": take_uses,
            "chg": take_changes,
            "cred": credentials if first else {},
            "acc": accounts if first else {},
        }
        if first and assumptions:
            facts["asm"] = assumptions
        if first and staleness:
            facts["stl"] = staleness
        if first and gaps:
            facts["stg"] = gaps
        out.append(Outbound(destination[0], facts))
        first = False
    return out


def _send_on_what_moved_away(state: State, message: FactsMessage, result: Result) -> FactsMessage:
    """Split arriving facts: those this identity holds, and those it must send on.

    The resolver moves a subject from A to B, then from B to C; A's facts reach B on
    A's partition while the second move reaches B from the resolver, in either order.
    Facts tagged with an older generation than B's own move of the subject are sent
    on to where B sent it; a newer generation means the subject came back to B.
    """
    moved: dict[str, list[Any]] = state.get("moved") or {}
    generations: dict[str, int] = message.get("g") or {}
    for subject, generation in generations.items():
        entry = moved.get(subject)
        if entry is not None and entry[0] <= generation:
            del moved[subject]  # this identity holds the subject again
    if not moved:
        return message
    onward: dict[
        str, tuple[list[Any], dict[str, int], list[Any], list[Any], dict[str, Any], dict[str, Any]]
    ] = {}

    def holder(
        subject: str,
    ) -> (
        tuple[list[Any], dict[str, int], list[Any], list[Any], dict[str, Any], dict[str, Any]]
        | None
    ):
        entry = moved.get(subject)
        if entry is None:
            return None
        found = onward.setdefault(entry[1], (entry[1:], {}, [], [], {}, {}))
        found[1][subject] = entry[0]
        return found

    kept: FactsMessage = {**message, "use": [], "chg": [], "cred": {}, "acc": {}}
    for use in message["use"]:
        found = holder(use[USE_SUBJECT])
        (found[2] if found else kept["use"]).append(use)
    for change in message["chg"]:
        found = holder(change[CHG_SUBJECT])
        (found[3] if found else kept["chg"]).append(change)
    for credential, entry in message["cred"].items():
        found = holder(credential)
        (found[4] if found else kept["cred"])[credential] = entry
    for account, entry in message["acc"].items():
        found = holder(account)
        (found[5] if found else kept["acc"])[account] = entry
    onward_assumptions: dict[str, list[list[Any]]] = {}
    for assumed in message.get("asm") or []:
        found = holder(assumed[2] if assumed[6] == "holder" else assumed[7])
        if found is None:
            kept.setdefault("asm", []).append(assumed)
        else:
            onward_assumptions.setdefault(found[0][0], []).append(assumed)
    for destination, onward_generations, uses, changes, credentials, accounts in onward.values():
        result.messages += _facts_messages(
            destination,
            onward_generations,
            uses,
            changes,
            credentials,
            accounts,
            onward_assumptions.get(destination[0]),
        )
    return kept


def _insert_uses(state: State, uses: list[list[Any]]) -> None:
    known_uses = {(use[USE_ID], use[USE_SUBJECT]) for use in state["use"]}
    added = [use for use in uses if (use[USE_ID], use[USE_SUBJECT]) not in known_uses]
    if added:
        state["use"] = sorted([*state["use"], *added], key=_use_order)


def _on_facts(state: State, message: FactsMessage) -> None:
    for subject, verdict in (message.get("stl") or {}).items():
        # What the sender judged of a subject's staleness, unless this identity did.
        if subject not in (state.get("stl") or {}):
            state["stl"] = {**(state.get("stl") or {}), subject: verdict}
    for assumed in message.get("asm") or []:
        _keep_assumption(state, list(assumed))
    known_uses = {(use[USE_ID], use[USE_SUBJECT]) for use in state["use"]}
    state["use"] += [
        use for use in message["use"] if (use[USE_ID], use[USE_SUBJECT]) not in known_uses
    ]
    state["use"].sort(key=lambda item: (item[USE_TS], item[USE_ID]))
    known_changes = {(change[CHG_ID], change[CHG_SUBJECT]) for change in state["chg"]}
    state["chg"] += [
        change
        for change in message["chg"]
        if (change[CHG_ID], change[CHG_SUBJECT]) not in known_changes
    ]
    state["chg"].sort(key=lambda item: (item[CHG_TS], item[CHG_ID]))
    for credential, entry in message["cred"].items():
        mine = state["cred"].get(credential)
        if mine is None:
            state["cred"][credential] = entry
        else:
            merged_credential = {
                "acc": mine.get("acc") or entry.get("acc"),
                "session": bool(mine.get("session") or entry.get("session")),
                "created": mine.get("created"),
                "revoked": mine.get("revoked"),
            }
            for time_key, id_key in (("created", "cb"), ("revoked", "rb")):
                if id_key in mine:
                    merged_credential[id_key] = mine[id_key]
                if entry.get(time_key) is not None and _earlier(
                    entry[time_key], entry.get(id_key) or "", mine.get(time_key), mine.get(id_key)
                ):
                    merged_credential[time_key] = entry[time_key]
                    merged_credential[id_key] = entry.get(id_key)
                    if time_key == "created" and entry.get("acc"):
                        # The account of the creation that stands (as in _on_change).
                        merged_credential["acc"] = entry["acc"]
            since = _min(mine.get("since"), entry.get("since"))
            if since is not None:
                merged_credential["since"] = since
            last_use = _max(mine.get("lu"), entry.get("lu"))
            if last_use is not None:
                merged_credential["lu"] = last_use
            if mine.get("fp") or entry.get("fp"):
                merged_credential["fp"] = 1
            state["cred"][credential] = merged_credential
    for account, entry in message["acc"].items():
        mine = state["acc"].get(account)
        if mine is None:
            state["acc"][account] = entry
        else:
            merged = dict(mine)
            merged["since"] = _min(mine.get("since"), entry.get("since"))
            if mine.get("lu") is not None or entry.get("lu") is not None:
                merged["lu"] = _max(mine.get("lu"), entry.get("lu"))
            for end in ("ended", "deleted"):
                if entry.get(end) is not None or mine.get(end) is not None:
                    merged[end] = _min(mine.get(end), entry.get(end))
            if mine.get("ev") or entry.get("ev"):
                merged["ev"] = ledger.merge_events(mine.get("ev"), entry.get("ev"))
            if mine.get("pf") or entry.get("pf"):
                floors = dict(mine.get("pf") or {})
                for name, floor in (entry.get("pf") or {}).items():
                    floors[name] = max(floors.get(name, floor), floor)
                merged["pf"] = floors
            if mine.get("ent") or entry.get("ent"):
                entitlements = dict(mine.get("ent") or {})
                for name, events in (entry.get("ent") or {}).items():
                    entitlements[name] = ledger.merge_events(entitlements.get(name), events)
                merged["ent"] = entitlements
            state["acc"][account] = merged


def _prune(state: State, watermark_us: int, config: DetectionConfig) -> None:
    """Keep what a late change within the lookback can still need, and no more."""
    horizon = watermark_us - 2 * config.lookback_us
    if (state["use"] and state["use"][0][USE_TS] < horizon) or len(
        state["use"]
    ) > config.max_uses_per_identity:
        _fold_uses(state)  # the last uses and first sighting outlive the uses themselves
    if state["use"] and state["use"][0][USE_TS] < horizon:
        state["use"] = [use for use in state["use"] if use[USE_TS] >= horizon]
        state["ph"] = horizon  # before it, the uses kept are not all there were
    if len(state["use"]) > config.max_uses_per_identity:
        # Sorted anew, not in place: the list may still be the caller's (see _on_use).
        state["use"] = sorted(state["use"], key=lambda item: (item[USE_TS], item[USE_ID]))[
            -config.max_uses_per_identity :
        ]
        state["ph"] = max(state.get("ph") or 0, state["use"][0][USE_TS])
    if state["chg"] and state["chg"][0][CHG_TS] < horizon:
        state["chg"] = [change for change in state["chg"] if change[CHG_TS] >= horizon]
    # An entitlement's intervals that ended before the horizon were emitted and no late
    # event within the lookback can change them: their events go, and an entitlement
    # with nothing left goes too (an account's few lifecycle events all stay).
    # Looked at once per day of the horizon: every entitlement of every account is a
    # walk, too much for each use of a busy identity.
    day = horizon // PRUNE_EVERY_US
    if state.get("lpr") != day:
        state["lpr"] = day
        state["acc"] = dict(state["acc"])  # on the use path it may still be the caller's
        for account, entry in list(state["acc"].items()):
            entitlements = entry.get("ent")
            if entitlements and _has_old_closed(entitlements, horizon):
                kept, floors = _pruned(entitlements, horizon)
                state["acc"][account] = {
                    **entry,
                    "ent": kept,
                    "pf": {**(entry.get("pf") or {}), **floors},
                }
    # The latest directory changes stay whatever their age: a key used today after a
    # leaver of last year is still a key used after deprovisioning. What was emitted
    # stays too (one small entry per finding), so that nothing old is raised again.
    if len(state["dirs"]) > KEEP_DIRECTORY_CHANGES and state["dirs"][0][DIR_TS] < horizon:
        older = state["dirs"][:-KEEP_DIRECTORY_CHANGES]
        state["dirs"] = [entry for entry in older if entry[DIR_TS] >= horizon] + state["dirs"][
            -KEEP_DIRECTORY_CHANGES:
        ]


def _has_old_closed(entitlements: dict[str, list[list[Any]]], horizon: int) -> bool:
    return any(
        events and events[0][0] < horizon and _closed_before(events, horizon)
        for events in entitlements.values()
    )


def _closed_before(events: list[list[Any]], horizon: int) -> bool:
    intervals = ledger.entitlement_intervals(events)
    return bool(intervals) and intervals[0][2] is not None and intervals[0][2] < horizon


def _pruned(
    entitlements: dict[str, list[list[Any]]], horizon: int
) -> tuple[dict[str, list[list[Any]]], dict[str, int]]:
    """The events still needed, and per entitlement whose events went the time before
    which its events are settled (a replay of a pruned grant must not open it again)."""
    kept: dict[str, list[list[Any]]] = {}
    floors: dict[str, int] = {}
    for name, events in entitlements.items():
        intervals = ledger.entitlement_intervals(events)
        # The first event of the first interval that ends after the horizon (or holds).
        later = [
            interval for interval in intervals if interval[2] is None or interval[2] >= horizon
        ]
        if later:
            start = later[0][0]
        elif events and events[-1][0] >= horizon:
            start = min(event[0] for event in events if event[0] >= horizon)
        else:
            start = horizon
        remaining = [event for event in events if event[0] >= start]
        if len(remaining) < len(events):
            floors[name] = start
        if remaining:
            kept[name] = remaining
    return kept, floors


def _min(left: int | None, right: int | None) -> int | None:
    if left is None:
        return right
    if right is None:
        return left
    return min(left, right)


# -- what the hygiene detectors keep beyond the uses ----------------------------------
# Uses are pruned after twice the lookback, but a credential is stale 90 days after its
# last use: per credential and account "lu" keeps the last successful use, and a
# fallback identity's "fs" the first time anything named it (core/detectors/stale.py,
# uncorrelated.py).


def _note_use(state: State, entry: list[Any]) -> bool:
    """Record a use's time as a last use (and a fallback's first sighting); True when the
    state changed. Replaces the entries it changes, never edits the caller's."""
    changed = False
    time_us = entry[USE_TS]
    if state["fb"] and (state.get("fs") is None or time_us < state["fs"]):
        state["fs"] = time_us
        changed = True
    if not entry[USE_OK]:
        return changed
    credential, account = entry[USE_CRED], entry[USE_ACC]
    found = state["cred"].get(credential) if credential else None
    if found is not None and (found.get("lu") is None or found["lu"] < time_us):
        state["cred"] = {**state["cred"], credential: {**found, "lu": time_us}}
        changed = True
    found = state["acc"].get(account) if account else None
    if found is not None and (found.get("lu") is None or found["lu"] < time_us):
        state["acc"] = {**state["acc"], account: {**found, "lu": time_us}}
        changed = True
    return changed


def _fold_uses(state: State) -> None:
    """Fold the kept uses into the last uses (and the fallback's first sighting): after a
    message that may have added a credential or account the uses name (a claim, a
    creation logged after the uses, facts moved in), and before uses are pruned."""
    last_by_credential: dict[str, int] = {}
    last_by_account: dict[str, int] = {}
    for use in state["use"]:
        if state["fb"] and (state.get("fs") is None or use[USE_TS] < state["fs"]):
            state["fs"] = use[USE_TS]
        if not use[USE_OK]:
            continue
        if use[USE_CRED]:
            last_by_credential[use[USE_CRED]] = use[USE_TS]  # sorted: the last one wins
        if use[USE_ACC]:
            last_by_account[use[USE_ACC]] = use[USE_TS]
    for table, last_uses in (("cred", last_by_credential), ("acc", last_by_account)):
        updates = {}
        for subject, time_us in last_uses.items():
            found = state[table].get(subject)
            if found is not None and (found.get("lu") is None or found["lu"] < time_us):
                updates[subject] = {**found, "lu": time_us}
        if updates:  # a new mapping: on the use path it may still be the caller's
            state[table] = {**state[table], **updates}


def _on_shared(state: State, message: SharedMessage) -> None:
    """Two identities claimed the subject at once (the resolver's links): kept for
    core/detectors/shared.py as [subject, is credential, other identity, its claim, ours]."""
    entry = [
        message["s"],
        bool(message.get("cred")),
        message["other"],
        message["ots"],
        message["ts"],
    ]
    # The earliest pair per subject only (by the later claim): one finding per subject.
    shared = [known for known in state.get("shr") or [] if known[0] != entry[0]]
    earlier = [known for known in state.get("shr") or [] if known[0] == entry[0]]
    if earlier and (earlier[0][4], earlier[0][3]) <= (entry[4], entry[3]):
        return
    state["shr"] = [*shared, entry]


# Assumptions kept per identity: enough for the earliest after any departure (they
# come in mostly in order); a busy role's older ones go first.
KEEP_ASSUMPTIONS = 200


def _on_assumed(state: State, message: AssumedMessage) -> None:
    """A role this identity holds, or created, was assumed: kept for
    core/detectors/trust.py as [time, event id, role, by, credential, ip, via, creator,
    created at, creation event id]."""
    entry = [
        message["ts"],
        message["id"],
        message["role"],
        message.get("by"),
        message.get("cred"),
        message.get("ip"),
        message["via"],
        message.get("mk"),
        message.get("mts"),
        message.get("mid"),
    ]
    _keep_assumption(state, entry)


def _keep_assumption(state: State, entry: list[Any]) -> None:
    kept = list(state.get("asm") or [])
    if any(known[1] == entry[1] and known[6] == entry[6] for known in kept):
        return
    bisect.insort(kept, entry, key=lambda item: (item[0], item[1]))
    state["asm"] = kept[-KEEP_ASSUMPTIONS:]


def _max(left: int | None, right: int | None) -> int | None:
    if left is None:
        return right
    if right is None:
        return left
    return max(left, right)
