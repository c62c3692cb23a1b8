"""The access ledger: what each account of an identity held, as intervals in event time.

An account's life (created -> disabled or deleted), each credential's (created ->
revoked), and each entitlement it was granted (granted -> revoked) are kept per account
as their events, and the intervals are a pure function of those events: the same
events in any arrival order give the same intervals, so a late event (a revoke logged
after a later grant, a creation logged after the account was seen) corrects the ledger
by recomputing the intervals it touches. The identity stage emits what changed
(``diff``): new or changed intervals, and a ``removed`` row for an interval a late
event merged into another.

Stored per account in ``state["acc"][account]``: ``"ev"``, its lifecycle events
``[time, event id, op]`` (op ``OPEN``, ``CLOSE``, ``DELETE``), and ``"ent"``,
entitlement -> its events ``[time, event id, op, privileged]``; per credential in
``state["cred"][credential]``: ``"cb"``/``"rb"`` (the creating and revoking events'
ids beside ``created``/``revoked``) and ``"since"`` (when it was first known).
"""

from collections.abc import Iterable
from typing import Any

from accessdrift.core.ids import interval_id, system_of
from accessdrift.core.state import State
from accessdrift.core.timeutil import from_micros

CLOSE, OPEN, DELETE = 0, 1, 2
EV_TS, EV_ID, EV_OP = 0, 1, 2
EV_PRIV = 3  # entitlement events only

# A subject of the ledger: ("account", account), ("credential", credential) or
# ("entitlement", account, entitlement).
LedgerKey = tuple[str, ...]
# valid_from, opened_by, valid_to, closed_by
Interval = tuple[int, str | None, int | None, str | None]


def walk(events: Iterable[list[Any]], held_from: int | None = None) -> list[Interval]:
    """The intervals a sorted list of open/close events makes. An open while held and a
    close while not held change nothing (a repeated grant, a second disabling); an
    interval of no length is none. ``held_from``: held since then with no logged
    opening (an account first known from a link or a use), unless its first event
    opens it."""
    out: list[Interval] = []
    events = list(events)
    held: tuple[int, str | None] | None = None
    if held_from is not None and (not events or events[0][EV_OP] != OPEN):
        held = (held_from, None)
    for event in events:
        if event[EV_OP] == OPEN:
            if held is None:
                held = (event[EV_TS], event[EV_ID])
        elif held is not None:
            if event[EV_TS] > held[0]:
                out.append((held[0], held[1], event[EV_TS], event[EV_ID]))
            held = None
    if held is not None:
        out.append((held[0], held[1], None, None))
    return out


def add_event(events: list[list[Any]], event: list[Any]) -> bool:
    """Insert in (time, id) order; False when that event id is there already."""
    if any(existing[EV_ID] == event[EV_ID] for existing in events):
        return False
    events.append(event)
    events.sort(key=lambda item: (item[EV_TS], item[EV_ID]))
    return True


def merge_events(mine: list[list[Any]] | None, theirs: list[list[Any]] | None) -> list[list[Any]]:
    merged = [list(event) for event in mine or []]
    for event in theirs or []:
        add_event(merged, list(event))
    return merged


def account_intervals(entry: dict[str, Any]) -> list[Interval]:
    return walk(entry.get("ev") or [], entry.get("since"))


def credential_interval(state: State, credential: str) -> Interval | None:
    """A credential's one interval; None for a role session (it expires by itself: the
    ledger would show it held forever) or one with no known beginning."""
    entry = state["cred"].get(credential)
    if entry is None or entry.get("session"):
        return None
    start = entry.get("created")
    opened_by = entry.get("cb") if start is not None else None
    if start is None:
        start = entry.get("since")
    if start is None:
        return None
    end, closed_by = entry.get("revoked"), entry.get("rb")
    account = state["acc"].get(entry.get("acc") or "")
    if account is not None:
        for event in account.get("ev") or []:
            if event[EV_OP] == DELETE and event[EV_TS] >= start:
                if end is None or event[EV_TS] < end:
                    end, closed_by = event[EV_TS], event[EV_ID]
                break
    if end is not None and end <= start:
        return None
    return (start, opened_by, end, closed_by)


def entitlement_intervals(events: list[list[Any]]) -> list[Interval]:
    return walk(events)


def entitlement_privileged(events: list[list[Any]]) -> bool:
    return any(len(event) > EV_PRIV and event[EV_PRIV] for event in events)


def keys_of_account(state: State, account: str) -> list[LedgerKey]:
    entry = state["acc"].get(account)
    keys: list[LedgerKey] = [("account", account)]
    if entry is not None:
        keys += [("entitlement", account, name) for name in sorted(entry.get("ent") or {})]
    return keys


def all_keys(state: State) -> list[LedgerKey]:
    keys: list[LedgerKey] = []
    for account in sorted(state["acc"]):
        keys += keys_of_account(state, account)
    keys += [("credential", credential) for credential in sorted(state["cred"])]
    return keys


def snapshot(
    identity_id: str, state: State, keys: Iterable[LedgerKey]
) -> dict[str, dict[str, Any]]:
    """The ledger rows of these subjects as the state now has them, by interval id
    (without ``updated_at``: two snapshots compare equal when nothing changed)."""
    rows: dict[str, dict[str, Any]] = {}
    for key in keys:
        for row in _rows(identity_id, state, key):
            rows[row["interval_id"]] = row
    return rows


def diff(
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    now_us: int,
    every: bool = False,
) -> list[dict[str, Any]]:
    """Rows to emit: the new and changed intervals (``every``: all of ``after``), and the
    vanished ones as removed."""
    updated_at = from_micros(now_us)
    out = [
        {**row, "updated_at": updated_at}
        for key, row in after.items()
        if every or before.get(key) != row
    ]
    out += [
        {**row, "removed": True, "updated_at": updated_at}
        for key, row in before.items()
        if key not in after
    ]
    return out


def _rows(identity_id: str, state: State, key: LedgerKey) -> list[dict[str, Any]]:
    subject_type = key[0]
    if subject_type == "account":
        account = key[1]
        entry = state["acc"].get(account)
        if entry is None:
            return []
        return [
            _row(identity_id, state, "account", account, account, interval, False)
            for interval in account_intervals(entry)
        ]
    if subject_type == "credential":
        credential = key[1]
        interval = credential_interval(state, credential)
        if interval is None:
            return []
        account = (state["cred"].get(credential) or {}).get("acc") or ""
        return [_row(identity_id, state, "credential", account, credential, interval, False)]
    account, entitlement = key[1], key[2]
    events = ((state["acc"].get(account) or {}).get("ent") or {}).get(entitlement)
    if not events:
        return []
    privileged = entitlement_privileged(events)
    return [
        _row(identity_id, state, "entitlement", account, entitlement, interval, privileged)
        for interval in entitlement_intervals(events)
    ]


def _row(
    identity_id: str,
    state: State,
    subject_type: str,
    account: str,
    subject: str,
    interval: Interval,
    privileged: bool,
) -> dict[str, Any]:
    valid_from, opened_by, valid_to, closed_by = interval
    # An account's or credential's interval without a logged beginning has one
    # beginning (its first sighting may move earlier): its id does not depend on it.
    return {
        "interval_id": interval_id(
            identity_id,
            subject_type,
            account if subject_type == "entitlement" else "",
            subject,
            opened_by,
        ),
        "system": system_of(account or subject),
        "account_id": account,
        "subject_type": subject_type,
        "subject": subject,
        "identity_id": identity_id,
        "identity_kind": state["kind"],
        "valid_from": from_micros(valid_from),
        "valid_to": from_micros(valid_to) if valid_to is not None else None,
        "opened_by": opened_by,
        "closed_by": closed_by,
        "privileged": privileged,
        "removed": False,
    }


def held_at(events: list[list[Any]], at_us: int) -> Interval | None:
    """The entitlement interval that holds at ``at_us``, if any."""
    for interval in entitlement_intervals(events):
        if interval[0] <= at_us and (interval[2] is None or interval[2] > at_us):
            return interval
    return None
