"""The simulated organisation's hygiene truth (issue 26): the spec's rules applied to the
events, over every key and account of the organisation, give exactly the cases the
simulator planted; the near misses are in the events; the core finds the truth with
other limits than the defaults too."""

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, is_privileged
from accessdrift.core.resolver import guess_kind
from accessdrift.core.timeutil import MICROS
from accessdrift.errors import ConfigError
from accessdrift.simulate.organisation import (
    MARGIN,
    Simulation,
    SimulationOptions,
    check_hygiene_options,
    simulate,
)
from tests.unit.test_simulation import records, run

HYGIENE = (
    "stale_credential",
    "stale_account",
    "rotation_overdue",
    "shared_credential",
    "uncorrelated_account_active",
)
DEFAULTS = SimulationOptions(seed=5, identities=150, days=2.0, events_per_second=0.05)
# Other limits and shorter days: the cases are timed by the options (and a deprovision SLA
# whose deadlines fall in the single day).
OTHER_LIMITS = SimulationOptions(
    seed=9,
    identities=40,
    days=1.0,
    events_per_second=0.05,
    sla=timedelta(hours=12),
    stale_after=timedelta(days=30),
    max_credential_age=timedelta(days=45),
    sharing_window=timedelta(hours=6),
    uncorrelated_after=timedelta(days=3),
)
STALE = ("stale_credential", "stale_account")

# kind, identity, account, credential
Key = tuple[str, str, str | None, str | None]


@dataclass
class Credential:
    account: str | None = None
    created: datetime | None = None
    revoked: datetime | None = None
    since: datetime | None = None
    session: bool = False
    uses: list[tuple[datetime, str | None]] = field(default_factory=list)  # (time, actor)
    failed: list[tuple[datetime, str | None]] = field(default_factory=list)


def _lists() -> defaultdict[str, list[Any]]:
    return defaultdict(list)


@dataclass
class World:
    """What the events say, read as the spec reads them."""

    kind: dict[str, str] = field(default_factory=dict)  # identity -> kind
    claims: defaultdict[str, list[tuple[datetime, str, bool]]] = field(default_factory=_lists)
    directory: defaultdict[str, list[tuple[datetime, str]]] = field(default_factory=_lists)
    first_known: dict[str, datetime] = field(default_factory=dict)
    # account -> (time, key, success) of what it did
    actions: defaultdict[str, list[tuple[datetime, str | None, bool]]] = field(
        default_factory=_lists
    )
    targeted: defaultdict[str, list[datetime]] = field(default_factory=_lists)
    ended: dict[str, datetime] = field(default_factory=dict)  # disabled or deleted
    deleted: dict[str, datetime] = field(default_factory=dict)
    credentials: defaultdict[str, Credential] = field(
        default_factory=lambda: defaultdict(Credential)
    )
    grants: defaultdict[str, list[tuple[datetime, str, bool]]] = field(default_factory=_lists)

    def owner(self, account: str | None) -> str | None:
        """The identity of the last standing claim (the later claim wins)."""
        standing: list[str] = []
        for _, identity, removed in sorted(self.claims.get(account or "", [])):
            if removed:
                standing = [claimer for claimer in standing if claimer != identity]
            else:
                standing.append(identity)
        return standing[-1] if standing else None

    def used(self, account: str) -> list[datetime]:
        return [when for when, _, ok in self.actions[account] if ok]


def read(simulation: Simulation) -> World:
    world = World()
    seen: set[tuple[str, str]] = set()

    def known(account: str | None, when: datetime) -> None:
        if account and (account not in world.first_known or when < world.first_known[account]):
            world.first_known[account] = when

    for _, name, fields in sorted(simulation.events, key=lambda event: event[2]["event_time"]):
        when = fields["event_time"]
        if fields.get("event_id"):
            if (name, fields["event_id"]) in seen:
                continue  # a duplicate delivery
            seen.add((name, fields["event_id"]))
        if name == "IdentityLink":
            known(fields["account_id"], when)
            world.kind[fields["identity_id"]] = fields["identity_kind"]
            world.claims[fields["account_id"]].append(
                (when, fields["identity_id"], bool(fields["removed"]))
            )
            continue
        if name == "DirectoryChange":
            identity = fields["identity_id"]
            world.kind[identity] = fields["identity_kind"]
            world.directory[identity].append((when, fields["change_type"]))
            for account in fields.get("accounts") or []:
                known(account, when)
                world.claims[account].append((when, identity, False))
            continue
        account, key = fields["account_id"], fields.get("credential_id")
        ok = fields["outcome"] == "success"
        known(account, when)
        world.actions[account].append((when, key, ok))
        if key:
            credential = world.credentials[key]
            credential.since = credential.since or when
            credential.account = credential.account or account
            (credential.uses if ok else credential.failed).append((when, account))
        if name != "CloudAuditEvent":
            continue
        target, kind = fields.get("target_account_id"), fields["kind"]
        known(target, when)
        if target:
            world.targeted[target].append(when)
        made = fields.get("target_credential_id")
        if not ok:
            continue
        if kind in ("credential_created", "credential_revoked") and made:
            credential = world.credentials[made]
            credential.since = credential.since or when
            if kind == "credential_created":
                credential.account = target or account
                credential.created = credential.created or when
                credential.session = fields["action"] == "AssumeRole"
            else:
                credential.revoked = credential.revoked or when
        elif kind in ("account_disabled", "account_deleted") and target:
            world.ended.setdefault(target, when)
            if kind == "account_deleted":
                world.deleted.setdefault(target, when)
        elif kind in ("permission_granted", "permission_revoked") and target:
            world.grants[target].append((when, fields["entitlement"], kind == "permission_granted"))
    return world


def active_at(world: World, identity: str, at: datetime) -> bool:
    changes = [change for when, change in sorted(world.directory[identity]) if when <= at]
    return not changes or changes[-1] not in ("leaver", "suspend")


def privileged_at(world: World, account: str, at: datetime) -> bool:
    held: set[str] = set()
    for when, entitlement, granted in sorted(world.grants[account]):
        if when > at:
            break
        if granted:
            held.add(entitlement)
        else:
            held.discard(entitlement)
    return any(is_privileged(entitlement, DEFAULT_PRIVILEGED) for entitlement in held)


def first_staleness(
    start: datetime,
    uses: list[datetime],
    limit: timedelta,
    horizon: datetime,
    ends: datetime | None,
    active: Callable[[datetime], bool],
) -> tuple[datetime, datetime | None] | None:
    """(clock start, resolved at) of the first staleness: each use restarts the clock
    unless its deadline passed first; None when no deadline is reached in time."""
    base = start
    for use in [*sorted(uses), None]:
        if use is not None and use <= base:
            continue
        deadline = base + limit
        if use is not None and use < deadline:
            base = use
            continue
        if deadline > horizon or (ends is not None and ends <= deadline) or not active(deadline):
            return None
        ending = [when for when in (use, ends) if when is not None and when > base]
        return base, min(ending, default=None)
    return None


def derive(
    simulation: Simulation, options: SimulationOptions, horizon: datetime
) -> dict[Key, dict[str, Any]]:
    """Every hygiene finding the spec's rules give on the events, with the watermark at
    ``horizon``."""
    world = read(simulation)
    found: dict[Key, dict[str, Any]] = {}

    def add(key: Key, used: datetime | None, reference: datetime, severity: str) -> None:
        assert key not in found, key
        found[key] = {
            "used_at": used.isoformat() if used else None,
            "deprovisioned_at": reference.isoformat(),
            "severity": severity,
        }

    def rated(identity: str, human: str, nhi: str) -> str:
        return nhi if world.kind[identity] == "nhi" else human

    for name, credential in world.credentials.items():
        account = credential.account
        identity = world.owner(account)
        if identity is None or credential.session or name.startswith("aws:ASIA"):
            continue  # a fallback's (uncorrelated's business), or a role session
        uses = sorted(when for when, _ in credential.uses)
        start = credential.created or credential.since
        assert start is not None
        ends = credential.revoked
        deleted = world.deleted.get(account or "")
        if deleted is not None and deleted >= start and (ends is None or deleted < ends):
            ends = deleted
        stale = first_staleness(
            start,
            uses,
            options.stale_after,
            horizon,
            ends,
            lambda at, identity=identity: active_at(world, identity, at),  # type: ignore[misc]
        )
        if stale is not None:
            key: Key = ("stale_credential", identity, account, name)
            add(key, None, stale[0], rated(identity, "low", "medium"))
            found[key]["resolved_at"] = stale[1].isoformat() if stale[1] else None
        if world.kind[identity] == "nhi" and credential.created is not None:
            late = [when for when in uses if when - credential.created > options.max_credential_age]
            if late:
                high = privileged_at(world, account or "", late[0])
                key = ("rotation_overdue", identity, account, name)
                add(key, late[0], credential.created, "high" if high else "medium")
        pair = shared_pair(world, credential, identity, options.sharing_window)
        if pair is not None:
            key = ("shared_credential", identity, account, name)
            add(key, pair[1], pair[0], rated(identity, "high", "medium"))

    for account, first in world.first_known.items():
        identity = world.owner(account)
        if identity is None:
            continue
        stale = first_staleness(
            first,
            world.used(account),
            options.stale_after,
            horizon,
            world.ended.get(account),
            lambda at, identity=identity: active_at(world, identity, at),  # type: ignore[misc]
        )
        if stale is not None:
            key = ("stale_account", identity, account, None)
            add(key, None, stale[0], rated(identity, "low", "medium"))
            found[key]["resolved_at"] = stale[1].isoformat() if stale[1] else None

    # Shared by links: a claim within the window of another identity's standing claim.
    for account, claims in world.claims.items():
        ordered = sorted(claims)
        for index, (when, identity, removed) in enumerate(ordered):
            standing: dict[str, datetime] = {}
            for earlier, other, gone in ordered[:index]:
                if gone:
                    standing.pop(other, None)
                else:
                    standing.setdefault(other, earlier)
            rivals = [
                since
                for other, since in standing.items()
                if other != identity and when - since <= options.sharing_window
            ]
            if rivals and not removed:
                key = ("shared_credential", identity, account, None)
                add(key, when, min(rivals), rated(identity, "high", "medium"))

    # Uncorrelated: accounts no identity claims, acting alone or with their own keys (a use
    # of another's key goes to that key's identity); also seen when acted upon.
    own_keys: defaultdict[str, set[str]] = defaultdict(set)
    for name, credential in world.credentials.items():
        if credential.account is not None and world.owner(credential.account) is None:
            own_keys[credential.account].add(name)
    for account, actions in world.actions.items():
        if world.owner(account) is not None:
            continue
        routed = [
            (when, ok) for when, key, ok in actions if key is None or key in own_keys[account]
        ]
        if not routed:
            continue
        first = min([when for when, _ in routed] + world.targeted[account])
        for when, ok in sorted(routed):
            if not ok:
                continue
            high = privileged_at(world, account, when)
            if high or when >= first + options.uncorrelated_after:
                key = ("uncorrelated_account_active", account, account, None)
                add(key, when, first, "medium" if high else "low")
                break
    return found


def shared_pair(
    world: World, credential: Credential, identity: str, window: timedelta
) -> tuple[datetime, datetime] | None:
    """(earlier, later) use of the first pair from two parties within the window."""
    ordered = sorted(credential.uses)
    for index, (later, later_actor) in enumerate(ordered):
        for earlier, earlier_actor in ordered[:index]:
            if later - earlier <= window and party(
                world, credential, identity, earlier_actor, earlier
            ) != party(world, credential, identity, later_actor, later):
                return earlier, later
    return None


def party(
    world: World, credential: Credential, identity: str, actor: str | None, when: datetime
) -> str | None:
    """ "owner": the credential's own account, or another account its identity claimed by
    then; anyone else: the acting account."""
    if actor == credential.account:
        return "owner"
    claims = world.claims.get(actor or "", [])
    if any(claimer == identity and at <= when and not gone for at, claimer, gone in claims):
        return "owner"
    return actor


def planted(simulation: Simulation) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for alert in simulation.alerts:
        if alert["kind"] not in HYGIENE:
            continue
        key = (alert["kind"], alert["identity_id"], alert["account_id"], alert["credential_id"])
        assert key not in out, key
        assert alert["entitlement"] is None
        out[key] = {
            name: alert[name]
            for name in ("used_at", "deprovisioned_at", "severity", "resolved_at")
            if name in alert
        }
    return out


@pytest.mark.parametrize(
    "options",
    [DEFAULTS, OTHER_LIMITS, replace(DEFAULTS, seed=3, identities=40, days=12.0)],
    ids=["defaults", "other-limits", "twelve-days"],
)
def test_the_hygiene_truth_is_the_spec_applied_to_every_key_and_account(
    options: SimulationOptions,
) -> None:
    simulation = simulate(options)
    truth = planted(simulation)
    # The same whether the watermark stops where a live run's deadlines must fall, or a
    # day past the end: nothing is judged on the edge of the days.
    for horizon in (simulation.end - MARGIN, simulation.end + timedelta(days=1)):
        assert derive(simulation, options, horizon) == truth


def test_each_kind_is_planted_with_each_of_its_severities() -> None:
    truth = planted(simulate(DEFAULTS))
    severities: defaultdict[str, set[str]] = defaultdict(set)
    for key, alert in truth.items():
        severities[key[0]].add(alert["severity"])
    assert severities == {
        "stale_credential": {"low", "medium"},
        "stale_account": {"low", "medium"},
        "rotation_overdue": {"medium", "high"},
        "shared_credential": {"medium", "high"},
        "uncorrelated_account_active": {"low", "medium"},
    }
    assert len(truth) == 12
    # One staleness is resolved within the days, by a use of its key.
    assert [key[0] for key, alert in truth.items() if alert.get("resolved_at")] == [
        "stale_credential"
    ]
    # Links: the later claimer of an account claimed twice within the window.
    assert [key for key in truth if key[0] == "shared_credential" and key[3] is None]
    # Uncorrelated: the fallback identity is the account itself.
    for kind, identity, account, _ in truth:
        if kind == "uncorrelated_account_active":
            assert identity == account and guess_kind(account) == "human"


def test_the_near_misses_are_in_the_events() -> None:
    """What must not become a finding is there, each on the edge of its rule (the
    derivation above proves none of it is in the truth)."""
    simulation = simulate(DEFAULTS)
    world = read(simulation)
    limit, age, window = DEFAULTS.stale_after, DEFAULTS.max_credential_age, DEFAULTS.sharing_window
    days = (simulation.end - timedelta(days=DEFAULTS.days), simulation.end - MARGIN)
    truth = planted(simulation)
    flagged = {key[3] or key[2] for key in truth}

    def uses(credential: Credential) -> list[datetime]:
        return sorted(when for when, _ in credential.uses)

    def would_be_due(last: datetime | None) -> bool:
        return last is not None and days[0] <= last + limit <= days[1]

    # Used again an hour before its deadline.
    assert [
        name
        for name, credential in world.credentials.items()
        if any(
            b - a == limit - timedelta(hours=1)
            for a, b in zip(uses(credential), uses(credential)[1:], strict=False)
        )
    ]
    # Revoked before its deadline; its account deleted before it; its identity gone.
    assert [
        name
        for name, credential in world.credentials.items()
        if credential.revoked
        and would_be_due(
            max((when for when in uses(credential) if when < credential.revoked), default=None)
        )
        and name not in flagged
    ]
    assert [
        account
        for account, deleted in world.deleted.items()
        if would_be_due(max(world.used(account))) and deleted < max(world.used(account)) + limit
    ]
    leavers = [
        identity
        for identity, changes in world.directory.items()
        if any(change == "leaver" for _, change in changes)
    ]
    assert [
        name
        for name, credential in world.credentials.items()
        if world.owner(credential.account) in leavers
        and uses(credential)
        and would_be_due(uses(credential)[-1])
    ]
    # Rotation: a workload's key used only before its limit, which falls in the days; one
    # replaced (and revoked) a day before its limit.
    workload_keys = [
        (name, credential)
        for name, credential in world.credentials.items()
        if credential.created and world.kind.get(world.owner(credential.account) or "") == "nhi"
    ]
    assert [
        name
        for name, credential in workload_keys
        if credential.created
        and days[0] <= credential.created + age <= days[1]
        and uses(credential)[-1] < credential.created + age
        and uses(credential)[-1] >= days[0]
    ]
    assert [
        name
        for name, credential in workload_keys
        if credential.created
        and credential.revoked
        and credential.revoked - credential.created == age - timedelta(hours=23)
    ]
    # Sharing: a failed foreign use; a foreign use a window and six hours after the only
    # own one; another account of the same identity.
    assert [
        name
        for name, credential in world.credentials.items()
        if any(actor != credential.account for _, actor in credential.failed)
        and name not in flagged
        and world.owner(credential.account) is not None
    ]
    assert [
        name
        for name, credential in world.credentials.items()
        if len(credential.uses) == 2
        and credential.uses[1][1] != credential.uses[0][1]
        and credential.uses[1][0] - credential.uses[0][0] == window + timedelta(hours=6)
    ]
    assert [
        name
        for name, credential in world.credentials.items()
        if any(
            actor != credential.account and world.owner(actor) == world.owner(credential.account)
            for _, actor in credential.uses
        )
    ]
    # Links: a second identity two windows after the first; one after the first's link
    # was removed.
    twice = [
        account for account, claims in world.claims.items() if len({c[1] for c in claims}) == 2
    ]
    assert len(twice) == 3 and len([a for a in twice if a in flagged]) == 1
    # Uncorrelated: used only until an hour before the limit; privileged between two
    # uses only.
    unlinked = [account for account in world.actions if world.owner(account) is None]
    assert [
        account
        for account in unlinked
        if max(world.used(account)) - min(world.used(account))
        == DEFAULTS.uncorrelated_after - timedelta(hours=1)
    ]
    assert [account for account in unlinked if world.grants[account] and account not in flagged]


def test_the_core_finds_the_truth_with_other_limits() -> None:
    options = OTHER_LIMITS
    simulation = simulate(options)

    def micros(delta: timedelta) -> int:
        return int(delta.total_seconds()) * MICROS

    config = DetectionConfig(
        deprovision_sla_us=micros(options.sla),
        mover_sla_us=micros(options.mover_sla),
        stale_after_us=micros(options.stale_after),
        max_credential_age_us=micros(options.max_credential_age),
        sharing_window_us=micros(options.sharing_window),
        uncorrelated_after_us=micros(options.uncorrelated_after),
    )
    for real_pace in (False, True):
        engine = run(records(options), real_pace=real_pace, options=options, config=config)
        truth = json.loads(
            json.dumps({"alerts": simulation.alerts, "lags": simulation.lags}, default=str)
        )
        alerts = list(engine.findings.alerts.values())
        score = evaluate(truth, alerts, list(engine.findings.lags.values()), 0)
        assert score.perfect, score.as_dict()
        found = {
            (a["kind"], a["identity_id"], a["account_id"], a["credential_id"]): a for a in alerts
        }
        for key, expected in planted(simulation).items():
            alert = found[key]
            assert alert["severity"] == expected["severity"], key
            assert alert["deprovisioned_at"].isoformat() == expected["deprovisioned_at"], key
            if "resolved_at" in expected:
                resolved = alert["resolved_at"]
                assert (resolved.isoformat() if resolved else None) == expected["resolved_at"]


@pytest.mark.parametrize(
    "changes",
    [
        {"days": 30.0},
        {"days": 0.1},
        {"stale_after": timedelta(days=5)},
        {"sharing_window": timedelta(days=20)},
        {"uncorrelated_after": timedelta(hours=12)},
    ],
)
def test_options_that_would_make_the_truth_wrong_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="simulation options"):
        check_hygiene_options(replace(DEFAULTS, **changes))
    check_hygiene_options(DEFAULTS)
