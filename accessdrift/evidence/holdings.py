"""What an identity held at a directory change and at its SLA, from the access ledger's
intervals: plain data in, plain data out (the queries are in collect.py and report.py).

Which SLA: the deprovisioning SLA for leavers and suspends (per system and identity
kind; for a leaver's or suspend's system, the one its deprovision pairs were judged by),
the mover SLA for movers, and for joiners and reactivations the deprovisioning SLA too,
only to show what they held a while after (nothing is expected of them).

What should no longer be held by then (``not_matched``):
- a leaver: every account, credential and entitlement of the identity's accounts;
- a suspend: its accounts and credentials (an entitlement of a disabled account is inert,
  and a suspension that ends gives it back);
- a mover: every entitlement it held before the move, still held through the same
  interval, that the new role does not list (``attributes["entitlements"]``; absent:
  it lists nothing), as the ``mover_access_retained`` detection judges it;
and nothing while the identity came back in between (a joiner or reactivate after a
leaver or suspend), nor for a mover that left or was suspended in between (the leaver's
own check speaks), nor before the SLA has passed in event time (``reached``).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from accessdrift.core.entitlements import listed_entitlements

if TYPE_CHECKING:
    from accessdrift.settings import Settings

SUBJECT_TYPES = ("account", "credential", "entitlement")
LIST_OF_TYPE = {"account": "accounts", "credential": "credentials", "entitlement": "entitlements"}
RETURNS = ("joiner", "reactivate")
DEPARTURES = ("leaver", "suspend")


def _most_specific(
    overrides: Mapping[str, timedelta], system: str, identity_kind: str
) -> timedelta | None:
    for key in (f"{system}:{identity_kind}", system, f"*:{identity_kind}"):
        if key in overrides:
            return overrides[key]
    return None


@dataclass(frozen=True)
class Slas:
    """The SLAs a directory change is held to (the contract's defaults unless the
    settings say otherwise: ``from_settings``)."""

    deprovision: timedelta = timedelta(hours=24)
    deprovision_overrides: Mapping[str, timedelta] = field(default_factory=dict)
    mover: timedelta = timedelta(days=7)
    mover_overrides: Mapping[str, timedelta] = field(default_factory=dict)

    def of(self, change_type: str, system: str, identity_kind: str) -> timedelta:
        if change_type == "mover":
            found = _most_specific(self.mover_overrides, system, identity_kind)
            return self.mover if found is None else found
        found = _most_specific(self.deprovision_overrides, system, identity_kind)
        return self.deprovision if found is None else found

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Slas":
        return cls(
            settings.deprovision_sla,
            dict(settings.deprovision_sla_overrides),
            settings.mover_sla,
            dict(settings.mover_sla_overrides),
        )


def when(value: Any) -> datetime | None:
    """A time as a query gives it: a datetime from the engine, ISO text through the
    worker's JSON."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Interval:
    """One row of the access ledger (latest version, not removed)."""

    system: str
    account_id: str
    subject_type: str
    subject: str
    privileged: bool
    valid_from: datetime
    valid_to: datetime | None
    opened_by: str | None
    closed_by: str | None

    def holds_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or self.valid_to > moment)

    def entry(self) -> dict[str, Any]:
        """As the evidence shows it, under accounts, credentials or entitlements."""
        named: dict[str, Any]
        if self.subject_type == "account":
            named = {"account_id": self.subject}
        elif self.subject_type == "credential":
            named = {"credential_id": self.subject, "account_id": self.account_id}
        elif self.subject_type == "entitlement":
            named = {
                "entitlement": self.subject,
                "account_id": self.account_id,
                "privileged": self.privileged,
            }
        else:  # a newer writer's subject type: shown as it is
            named = {"subject": self.subject, "account_id": self.account_id}
        return {
            **named,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "opened_by": self.opened_by,
            "closed_by": self.closed_by,
        }


def intervals_of(rows: Iterable[Mapping[str, Any]]) -> list[Interval]:
    """The ledger's rows as intervals (rows without a beginning cannot be placed: left out)."""
    found = []
    for row in rows:
        start = when(row.get("valid_from"))
        if start is None:
            continue
        found.append(
            Interval(
                system=str(row.get("system") or ""),
                account_id=str(row.get("account_id") or ""),
                subject_type=str(row.get("subject_type") or ""),
                subject=str(row.get("subject") or ""),
                privileged=bool(row.get("privileged")),
                valid_from=start,
                valid_to=when(row.get("valid_to")),
                opened_by=row.get("opened_by"),
                closed_by=row.get("closed_by"),
            )
        )
    return found


def _order(interval: Interval) -> tuple[str, str, int, str, datetime]:
    known = interval.subject_type in SUBJECT_TYPES
    kind = SUBJECT_TYPES.index(interval.subject_type) if known else len(SUBJECT_TYPES)
    return (interval.system, interval.account_id, kind, interval.subject, interval.valid_from)


def per_system(held: Iterable[Interval]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """system -> {"accounts": [...], "credentials": [...], "entitlements": [...]}."""
    systems: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for interval in sorted(held, key=_order):
        lists = systems.setdefault(interval.system, {name: [] for name in LIST_OF_TYPE.values()})
        lists.setdefault(LIST_OF_TYPE.get(interval.subject_type, "other"), []).append(
            interval.entry()
        )
    return systems


@dataclass(frozen=True)
class Change:
    """A directory change, as much as the holdings need of it."""

    event_id: str
    change_type: str
    at: datetime
    identity_kind: str
    # What the new role lists (a mover's attributes["entitlements"]); None: nothing.
    listed: frozenset[str] | None = None


def listed_of(value: Any) -> frozenset[str] | None:
    """attributes["entitlements"] as the query gives it (absent: None or empty)."""
    if value is None:
        return None
    return listed_entitlements({"entitlements": str(value)})


def _due(
    change: Change, system: str, slas: Slas, judged: Mapping[str, float]
) -> tuple[datetime, float]:
    seconds = judged.get(system)
    if seconds is None or change.change_type not in DEPARTURES:
        seconds = slas.of(change.change_type, system, change.identity_kind).total_seconds()
    return change.at + timedelta(seconds=seconds), seconds


def _between(
    changes: Sequence[Change], kinds: Sequence[str], start: datetime, end: datetime
) -> bool:
    return any(other.change_type in kinds and start < other.at <= end for other in changes)


def expected_gone(
    change: Change, interval: Interval, due: datetime, changes: Sequence[Change]
) -> bool:
    """Whether this interval, held at the due time, should have ended by then."""
    kind = change.change_type
    if kind in DEPARTURES:
        if _between(changes, RETURNS, change.at, due):
            return False
        return kind == "leaver" or interval.subject_type in ("account", "credential")
    if kind == "mover":
        if interval.subject_type != "entitlement" or _between(changes, DEPARTURES, change.at, due):
            return False
        listed = change.listed or frozenset()
        # Begun before the move and held at the due time: the same interval held through
        # it (a grant after the move is the new role's).
        return interval.valid_from < change.at and interval.subject not in listed
    return False


def holdings(
    change: Change,
    intervals: Sequence[Interval],
    changes: Sequence[Change],
    slas: Slas,
    as_of: datetime | None,
    judged: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """``held_at_change``, ``held_at_sla`` and ``not_matched_at_sla`` of one change.

    held_at_change: per system, what was held at T0. held_at_sla: per system held at
    T0 or at its due time, what was held at T0 + that system's SLA (``judged``: the SLA
    seconds per system the detector judged this change's pairs by), whether the data
    reaches that time yet. not_matched_at_sla: what should have gone by then and had not
    (None for a joiner or reactivate: nothing is expected of them)."""
    at_change = per_system(i for i in intervals if i.holds_at(change.at))
    systems = sorted({i.system for i in intervals})
    held_at_sla = []
    not_matched: list[dict[str, Any]] = []
    for system in systems:
        due, seconds = _due(change, system, slas, judged or {})
        held = [i for i in intervals if i.system == system and i.holds_at(due)]
        if not held and system not in at_change:
            continue
        reached = None if as_of is None else due <= as_of
        held_at_sla.append(
            {
                "system": system,
                "at": due.isoformat(),
                "sla_seconds": seconds,
                "reached": reached,
                **per_system(held).get(system, {name: [] for name in LIST_OF_TYPE.values()}),
            }
        )
        if reached is False:
            continue  # not judged before its time
        for interval in sorted(held, key=_order):
            if expected_gone(change, interval, due, changes):
                not_matched.append(
                    {
                        "system": system,
                        "due_at": due.isoformat(),
                        "subject_type": interval.subject_type,
                        "subject": interval.subject,
                        "account_id": interval.account_id,
                        "privileged": interval.privileged,
                        "valid_from": _iso(interval.valid_from),
                        "valid_to": _iso(interval.valid_to),
                    }
                )
    return {
        "held_at_change": [
            {"system": system, "at": change.at.isoformat(), **lists}
            for system, lists in at_change.items()
        ],
        "held_at_sla": held_at_sla,
        "not_matched_at_sla": None if change.change_type in RETURNS else not_matched,
    }
