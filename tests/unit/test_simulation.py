"""The simulated organisation: deterministic, and its ground truth is what the core finds."""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from accessdrift.canonical import parse_line, record_key
from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, is_privileged
from accessdrift.core.partitions import partition_of
from accessdrift.core.timeutil import MICROS, to_micros
from accessdrift.errors import RecordError
from accessdrift.simulate.organisation import (
    ADMINS,
    START,
    Simulation,
    SimulationOptions,
    ledger_truth,
    simulate,
)
from accessdrift.simulate.output import lines, write_truth

OPTIONS = SimulationOptions(seed=5, identities=150, days=2.0, events_per_second=0.05)
# A mover SLA short enough for movers' deadlines to fall inside the two days.
MOVERS = SimulationOptions(
    seed=7, identities=150, days=2.0, events_per_second=0.05, mover_sla=timedelta(hours=12)
)


def keyed_records(options: SimulationOptions) -> list[tuple[str, str, dict[str, Any]]]:
    """(record name, the contract's message key, fields) of each valid simulated line."""
    out = []
    for _, _kind, line in lines(simulate(options)):
        try:
            record = parse_line(line or b"").record
        except RecordError:
            continue
        out.append((type(record).__name__, record_key(record), record.model_dump()))
    return out


def records(options: SimulationOptions) -> list[tuple[str, dict[str, Any]]]:
    return [(name, fields) for name, _key, fields in keyed_records(options)]


LATENESS = 30 * MICROS
IDLE = 5_000_000  # Engine's default idle_us


def run(
    events: list[tuple[str, dict[str, object]]],
    real_pace: bool,
    options: SimulationOptions = OPTIONS,
    config: DetectionConfig | None = None,
) -> Engine:
    """Real pace: the wall clock follows the arrival of each event. Full speed: it barely moves."""
    config = config or DetectionConfig(mover_sla_us=int(options.mover_sla.total_seconds()) * MICROS)
    engine = Engine(config, allowed_lateness_us=LATENESS)
    wall = 0
    for index, (name, record) in enumerate(events):
        wall = to_micros(record["event_time"]) if real_pace else index  # type: ignore[arg-type]
        engine.feed(name, record, wall)
    latest = max(cast(datetime, record["event_time"]) for _, record in events)
    engine.tick(to_the_end(wall, START + timedelta(days=options.days), latest))
    return engine


def to_the_end(wall: int, end: datetime, latest: datetime) -> int:
    """The wall time of a last tick that takes the watermark to the ``end`` of the
    simulated days (``latest``: the last event time fed), as far as a live run's goes,
    and no further: once every input is idle the watermark moves on with the wall clock
    (core/watermark.py), and a tick far beyond would find every key of the organisation
    stale one day, stale_after after its last use. For the engine's default idle time
    and this module's lateness."""
    return wall + IDLE + LATENESS + max(0, to_micros(end) - to_micros(latest))


def test_the_same_seed_gives_the_same_stream_and_truth() -> None:
    first, second = simulate(OPTIONS), simulate(OPTIONS)
    assert [line for _, _, line in lines(first)] == [line for _, _, line in lines(second)]
    assert first.alerts == second.alerts and first.lags == second.lags
    other = simulate(SimulationOptions(seed=6, identities=150, days=2.0, events_per_second=0.05))
    assert other.alerts != first.alerts


def test_the_stream_has_every_ingredient() -> None:
    simulation = simulate(OPTIONS)
    kinds = {alert["kind"] for alert in simulation.alerts}
    assert kinds >= {
        "used_after_deprovision",
        "attempted_after_deprovision",
        "used_after_revocation",
        "deprovision_overdue",
    }
    assert {lag["status"] for lag in simulation.lags} >= {"closed", "overdue"}
    assert simulation.malformed, "a share of malformed records"
    ids = [fields.get("event_id") for _, _, fields in simulation.events if fields.get("event_id")]
    assert len(ids) > len(set(ids)), "duplicates"
    late = [
        arrival
        for arrival, name, fields in simulation.events
        if name == "DirectoryChange" and arrival > fields["event_time"]
    ]
    assert late, "late directory changes"


@pytest.mark.parametrize(
    ("seed", "mover_sla"),
    [
        (1, timedelta(days=7)),
        (2, timedelta(days=7)),
        (3, timedelta(days=7)),
        (7, timedelta(hours=12)),
    ],
)
def test_full_speed_replay_finds_exactly_the_ground_truth_and_the_same_as_real_pace(
    seed: int, mover_sla: timedelta
) -> None:
    options = SimulationOptions(
        seed=seed, identities=150, days=2.0, events_per_second=0.05, mover_sla=mover_sla
    )
    simulation = simulate(options)
    events = records(options)
    fast = run(events, real_pace=False, options=options)
    live = run(events, real_pace=True, options=options)
    assert fast.findings.comparable() == live.findings.comparable()
    truth = json.loads(
        json.dumps({"alerts": simulation.alerts, "lags": simulation.lags}, default=str)
    )
    score = evaluate(
        truth, list(fast.findings.alerts.values()), list(fast.findings.lags.values()), 0
    )
    assert score.perfect, score.as_dict()
    # The entitlement kinds' severity is in the truth, not in the evaluation's key.
    found = {
        (a["kind"], a["identity_id"], a["account_id"], a["credential_id"], a["entitlement"]): a
        for a in fast.findings.alerts.values()
    }
    rated = [alert for alert in simulation.alerts if "severity" in alert]
    assert rated or mover_sla == timedelta(days=7)
    for alert in rated:
        key = (
            alert["kind"],
            alert["identity_id"],
            alert["account_id"],
            alert["credential_id"],
            alert["entitlement"],
        )
        assert found[key]["severity"] == alert["severity"], key
    # What each identity held at each directory change: the engine's ledger agrees.
    held_by_engine = engine_ledger(fast)
    for change in simulation.ledger:
        at = datetime.fromisoformat(change["at"])
        assert held_by_engine(change["identity_id"], at) == change["held"], change


def engine_ledger(engine: Engine) -> Any:
    rows = [row for row in engine.findings.ledger.values() if not row.get("removed")]

    def held(identity_id: str, at: datetime) -> list[list[str]]:
        return sorted(
            [row["subject_type"], row["account_id"], row["subject"]]
            for row in rows
            if row["identity_id"] == identity_id
            and row["valid_from"] <= at
            and (row["valid_to"] is None or row["valid_to"] > at)
        )

    return held


def permission_events(simulation: Simulation) -> list[tuple[datetime, dict[str, Any]]]:
    return [
        (arrival, fields)
        for arrival, name, fields in simulation.events
        if name == "CloudAuditEvent"
        and fields["kind"] in ("permission_granted", "permission_revoked")
    ]


def owners(simulation: Simulation) -> dict[str, str]:
    """Account -> identity, from the inventory's links and the joiners' listings."""
    found = {}
    for _, name, fields in simulation.events:
        if name == "IdentityLink":
            found[fields["account_id"]] = fields["identity_id"]
        elif name == "DirectoryChange":
            found.update(
                {account: fields["identity_id"] for account in fields.get("accounts") or []}
            )
    return found


def test_grants_and_revokes_name_their_entitlement_and_whom_it_went_to() -> None:
    simulation = simulate(MOVERS)
    owned = owners(simulation)
    changes = permission_events(simulation)
    assert changes
    admins = {system: actor for system, (actor, _key) in ADMINS.items()}
    for _, fields in changes:
        assert fields["entitlement"].split(":", 1)[0] == fields["system"]
        assert fields["privileged"] is is_privileged(fields["entitlement"], DEFAULT_PRIVILEGED)
        assert fields["account_id"] == admins[fields["system"]]
        # Unlinked: only the two planted uncorrelated accounts granted AdministratorAccess.
        assert fields["target_account_id"] in owned or fields["target_account_id"] in (
            "aws:111122223333:user/break-glass",
            "aws:111122223333:user/temp-admin",
        )
    privileged = {fields["entitlement"] for _, fields in changes if fields["privileged"]}
    assert len(privileged) >= 3, privileged
    # The organisation held entitlements before the simulated days began.
    first = min(fields["event_time"] for _, fields in changes)
    assert first < datetime(2026, 3, 2, tzinfo=UTC)
    # Some revokes of leavers' entitlements are logged late.
    assert any(
        arrival > fields["event_time"]
        for arrival, fields in changes
        if fields["kind"] == "permission_revoked"
    )


def directory_changes(simulation: Simulation, change_type: str) -> list[dict[str, Any]]:
    unique = {
        fields["event_id"]: fields
        for _, name, fields in simulation.events
        if name == "DirectoryChange" and fields["change_type"] == change_type
    }
    return list(unique.values())


def entitlement_events(
    simulation: Simulation,
) -> dict[tuple[str, str], list[tuple[datetime, str, str]]]:
    """(account, entitlement) -> [(time, event id, kind)] sorted, duplicates once."""
    found: dict[tuple[str, str], set[tuple[datetime, str, str]]] = defaultdict(set)
    for _, fields in permission_events(simulation):
        key = (fields["target_account_id"], fields["entitlement"])
        found[key].add((fields["event_time"], fields["event_id"], fields["kind"]))
    return {key: sorted(events) for key, events in found.items()}


def held_at(events: list[tuple[datetime, str, str]], at: datetime) -> datetime | None:
    """When the interval holding at ``at`` began (the spec's walk), or None."""
    since: datetime | None = None
    for when, _, kind in events:
        if when > at:
            break
        if kind == "permission_granted" and since is None:
            since = when
        elif kind == "permission_revoked":
            since = None
    return since


def test_mover_truth_is_the_spec_rule_applied_to_the_events() -> None:
    """Re-derived from the events alone: entitlements held before T0 and still at T0 + the
    mover SLA, not granted again in between, not listed by the mover; and the cases that
    must not count are all there (listed, granted again, revoked a minute before)."""
    simulation = simulate(MOVERS)
    owned = owners(simulation)
    grants = entitlement_events(simulation)
    expected: dict[tuple[str, str, str], str] = {}
    near_misses = regranted = listed_kept = 0
    for mover in directory_changes(simulation, "mover"):
        t0, deadline = mover["event_time"], mover["event_time"] + MOVERS.mover_sla
        assert deadline <= simulation.end - timedelta(hours=2), "judged inside the days"
        listed = {
            part for part in (mover["attributes"].get("entitlements") or "").split(",") if part
        }
        for (account, entitlement), events in grants.items():
            if owned.get(account) != mover["identity_id"]:
                continue
            began = held_at(events, t0)
            if began is None or began >= t0:
                continue
            again = any(
                t0 < when <= deadline and kind == "permission_granted" for when, _, kind in events
            )
            revoked = [when for when, _, kind in events if kind == "permission_revoked"]
            near_misses += deadline - timedelta(minutes=1) in revoked
            regranted += again
            listed_kept += entitlement in listed
            if held_at(events, deadline) is not None and not again and entitlement not in listed:
                expected[(mover["identity_id"], account, entitlement)] = (
                    "high" if is_privileged(entitlement, DEFAULT_PRIVILEGED) else "medium"
                )
    truth = {
        (alert["identity_id"], alert["account_id"], alert["entitlement"]): alert["severity"]
        for alert in simulation.alerts
        if alert["kind"] == "mover_access_retained"
    }
    assert truth == expected
    assert near_misses and regranted and listed_kept
    assert {"high", "medium"} <= set(truth.values())
    movers = directory_changes(simulation, "mover")
    assert any("entitlements" in m["attributes"] for m in movers)
    assert any("entitlements" not in m["attributes"] for m in movers)
    rows = [lag for lag in simulation.lags if lag["entitlement"] is not None]
    assert {(lag["identity_id"], lag["account_id"], lag["entitlement"]) for lag in rows} == set(
        truth
    )
    assert {lag["status"] for lag in rows} == {"overdue", "closed"}
    for lag in rows:
        assert (lag["lag_seconds"] is None) == (lag["status"] == "overdue")
        if lag["lag_seconds"] is not None:
            assert lag["lag_seconds"] > MOVERS.mover_sla.total_seconds()


def test_granted_after_deprovision_truth_is_the_spec_rule_applied_to_the_events() -> None:
    """Per leaver: every account created, key made or entitlement granted for it after
    T0 + grace, one finding per subject at its earliest event; a grant within the grace
    or just before T0 is none."""
    simulation = simulate(MOVERS)
    owned = owners(simulation)
    leavers = {m["identity_id"]: m["event_time"] for m in directory_changes(simulation, "leaver")}
    earliest: dict[tuple[str, str | None, str | None, str | None], datetime] = {}
    within_grace = just_before = 0
    for _, name, fields in simulation.events:
        if name != "CloudAuditEvent" or fields["kind"] not in (
            "account_created",
            "credential_created",
            "permission_granted",
        ):
            continue
        account = fields["target_account_id"]
        identity = owned.get(account or "")
        if identity is None or identity not in leavers:
            continue
        t0, when = leavers[identity], fields["event_time"]
        if fields["kind"] == "permission_granted":
            within_grace += t0 < when <= t0 + MOVERS.grace
            just_before += t0 - timedelta(minutes=10) <= when < t0
        if when <= t0 + MOVERS.grace:
            continue
        key = (
            identity,
            account,
            fields["target_credential_id"] if fields["kind"] == "credential_created" else None,
            fields.get("entitlement"),
        )
        earliest[key] = min(earliest.get(key, when), when)
    truth = {
        (a["identity_id"], a["account_id"], a["credential_id"], a["entitlement"]): a
        for a in simulation.alerts
        if a["kind"] == "granted_after_deprovision"
    }
    assert set(truth) == set(earliest)
    for key, alert in truth.items():
        assert alert["used_at"] == earliest[key].isoformat()
        assert alert["deprovisioned_at"] == leavers[key[0]].isoformat()
        privileged = is_privileged(key[3], DEFAULT_PRIVILEGED)
        assert alert["severity"] == ("critical" if privileged else "high")
    assert within_grace and just_before
    assert {alert["severity"] for alert in truth.values()} == {"critical", "high"}
    assert any(key[2] for key in truth), "a key made for a leaver"
    assert any(not key[2] and not key[3] for key in truth), "an account made for a leaver"


def test_the_truth_file_has_what_each_identity_held_at_each_directory_change(
    tmp_path: Any,
) -> None:
    simulation = simulate(MOVERS)
    path = tmp_path / "truth.json"
    write_truth(simulation, MOVERS, path)
    ledger = json.loads(path.read_text())["ledger"]
    changes = {
        fields["event_id"] for _, name, fields in simulation.events if name == "DirectoryChange"
    }
    assert {change["event_id"] for change in ledger} == changes
    kinds = {change["change_type"] for change in ledger}
    assert kinds == {"joiner", "mover", "leaver", "owner_change"}
    held = [tuple(item) for change in ledger for item in change["held"]]
    assert {item[0] for item in held} == {"account", "credential", "entitlement"}
    assert not any("ASIA" in item[2] for item in held), "role sessions are not held"
    for change in ledger:
        if change["change_type"] == "joiner":  # its accounts are created after T0
            assert change["held"] == []


def test_the_ledger_truth_follows_the_spec_on_a_small_history() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)

    def at(hours: float) -> datetime:
        return day + timedelta(hours=hours)

    def cloud(
        hours: float, event_id: str, kind: str, **fields: Any
    ) -> tuple[datetime, str, dict[str, Any]]:
        record = {
            "event_time": at(hours),
            "event_id": event_id,
            "system": "aws",
            "account_id": "aws:1:user/admin",
            "kind": kind,
            "action": kind,
            "outcome": "success",
            **fields,
        }
        return at(hours), "CloudAuditEvent", record

    def change(
        hours: float, event_id: str, change_type: str
    ) -> tuple[datetime, str, dict[str, Any]]:
        fields = {
            "event_time": at(hours),
            "event_id": event_id,
            "identity_id": "E1",
            "change_type": change_type,
        }
        return at(hours), "DirectoryChange", fields

    alice, other = "aws:1:user/alice", "aws:1:user/other"
    events = [
        # Known from a link, no creation logged: held from the link.
        (at(0), "IdentityLink", {"event_time": at(0), "identity_id": "E1", "account_id": alice}),
        cloud(
            1, "c1", "credential_created", target_account_id=alice, target_credential_id="aws:AKIA1"
        ),
        cloud(1, "c2", "permission_granted", target_account_id=alice, entitlement="aws:group/dev"),
        cloud(2, "c3", "permission_granted", target_account_id=alice, entitlement="aws:group/dev"),
        # A role session is never held.
        cloud(
            2,
            "c4",
            "credential_created",
            account_id=alice,
            target_credential_id="aws:ASIA9",
            credential_id="aws:AKIA1",
        ),
        change(3, "d1", "mover"),
        # The revoke closes the interval opened at 1 (the grant at 2 changed nothing);
        # a revoke while not held changes nothing either.
        cloud(4, "c5", "permission_revoked", target_account_id=alice, entitlement="aws:group/dev"),
        cloud(
            4.5, "c6", "permission_revoked", target_account_id=alice, entitlement="aws:group/ops"
        ),
        cloud(
            5, "c7", "credential_revoked", target_account_id=alice, target_credential_id="aws:AKIA1"
        ),
        # Granted and revoked at once: no interval.
        cloud(5, "c8", "permission_granted", target_account_id=alice, entitlement="aws:group/x"),
        cloud(5, "c9", "permission_revoked", target_account_id=alice, entitlement="aws:group/x"),
        cloud(6, "c10", "account_disabled", target_account_id=alice),
        # Someone else's account is not E1's.
        cloud(1, "c11", "permission_granted", target_account_id=other, entitlement="aws:group/dev"),
        change(5, "d2", "leaver"),
        change(7, "d3", "joiner"),
    ]
    duplicate = events[2]
    ledger = ledger_truth([*events, duplicate], {alice: "E1", other: "E2"})
    held = {change["event_id"]: change["held"] for change in ledger}
    assert held == {
        "d1": [
            ["account", alice, alice],
            ["credential", alice, "aws:AKIA1"],
            ["entitlement", alice, "aws:group/dev"],
        ],
        # At the revocation's instant the key is no longer held.
        "d2": [["account", alice, alice]],
        "d3": [],
    }
    assert [change["change_type"] for change in ledger] == ["mover", "leaver", "joiner"]
    assert ledger[0]["at"] == at(3).isoformat()


def unique_events(simulation: Simulation, record: str) -> list[dict[str, Any]]:
    """The fields of each ``record`` once (duplicate deliveries dropped), in time order."""
    found = {fields["event_id"]: fields for _, name, fields in simulation.events if name == record}
    return sorted(found.values(), key=lambda fields: (fields["event_time"], fields["event_id"]))


@pytest.mark.parametrize(
    "options",
    [
        OPTIONS,
        # One short day and a shorter SLA: the cases are timed by the options.
        SimulationOptions(
            seed=9, identities=40, days=1.0, events_per_second=0.05, sla=timedelta(hours=12)
        ),
    ],
)
def test_trust_path_truth_is_the_rule_applied_to_the_events(options: SimulationOptions) -> None:
    """Re-derived from the events alone: a role created by an account of a person who
    left, or held by a workload whose owner left and got no other owner (nor was
    retired) by then, assumed successfully after that departure + the SLA (before a
    rehire): one finding per role and departure, at its earliest such assumption. The
    near misses are in the events: assumed within the SLA, a denied assumption, the role
    of someone who stays, the role of a workload handed over in time."""
    simulation = simulate(options)
    owned = owners(simulation)
    changes = unique_events(simulation, "DirectoryChange")
    cloud = unique_events(simulation, "CloudAuditEvent")
    left: dict[str, list[datetime]] = defaultdict(list)
    rehired: dict[str, list[datetime]] = defaultdict(list)
    owner_changes: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    retired: dict[str, list[datetime]] = defaultdict(list)
    held_by: dict[str, str] = {}
    for change in changes:
        identity, when = change["identity_id"], change["event_time"]
        if change["change_type"] == "leaver":
            (retired if change["identity_kind"] == "nhi" else left)[identity].append(when)
        elif change["change_type"] in ("joiner", "reactivate"):
            rehired[identity].append(when)
        if change["identity_kind"] == "nhi":
            if change.get("owner_id"):
                owner_changes[identity].append((when, change["owner_id"]))
            held_by.update({account: identity for account in change.get("accounts") or []})
    created: dict[str, str] = {}
    for fields in cloud:
        target = fields["target_account_id"] or ""
        if (
            fields["kind"] == "account_created"
            and fields["outcome"] == "success"
            and ":role/" in target
            and target not in created
        ):
            created[target] = fields["account_id"]
    assumptions = [
        (fields["event_time"], fields["target_account_id"])
        for fields in cloud
        if fields["kind"] == "credential_created"
        and fields["action"] == "AssumeRole"
        and fields["outcome"] == "success"
        and fields["target_credential_id"]
        and ":role/" in (fields["target_account_id"] or "")
    ]

    def owner_at(nhi: str, when: datetime) -> str | None:
        before = [owner for at, owner in owner_changes[nhi] if at <= when]
        return before[-1] if before else None

    expected: dict[tuple[str, datetime], tuple[str, datetime]] = {}
    within_sla = stayers = handed_over = 0

    def found(role: str, t0: datetime, identity: str, when: datetime) -> None:
        earlier = expected.get((role, t0))
        if earlier is None or when < earlier[1]:
            expected[(role, t0)] = (identity, when)

    for when, role in assumptions:
        creator = owned.get(created.get(role, ""))
        if creator is not None:
            stayers += not left[creator]
            for t0 in left[creator]:
                if when <= t0 + options.sla:
                    within_sla += when > t0
                elif not any(t0 < back <= when for back in rehired[creator]):
                    found(role, t0, creator, when)
        nhi = held_by.get(role)
        if nhi is None:
            continue
        departures = {(person, t0) for _, person in owner_changes[nhi] for t0 in left[person]}
        for owner, t0 in sorted(departures):
            if when <= t0 + options.sla or owner_at(nhi, t0) != owner:
                continue
            if owner_at(nhi, when) != owner or any(t0 < end <= when for end in retired[nhi]):
                handed_over += 1
                continue
            found(role, t0, nhi, when)

    truth = {
        (alert["account_id"], datetime.fromisoformat(alert["deprovisioned_at"])): (
            alert["identity_id"],
            datetime.fromisoformat(alert["used_at"]),
        )
        for alert in simulation.alerts
        if alert["kind"] == "trust_path_of_leaver"
    }
    assert truth == expected
    for alert in simulation.alerts:
        if alert["kind"] == "trust_path_of_leaver":
            assert alert["severity"] == "high" and alert["credential_id"] is None
    # Both paths, and the near misses.
    assert {role for role, _ in truth} & set(created), "a leaver's role"
    assert {role for role, _ in truth} & set(held_by), "an orphaned workload's role"
    assert within_sla and stayers and handed_over
    denied = [
        fields
        for fields in cloud
        if fields["action"] == "AssumeRole" and fields["outcome"] == "failure"
    ]
    assert denied, "a denied assumption"
    # The orphaned workload is an orphaned_nhi too; each leaver's role lives on the other
    # of two resolver partitions than its creator account (a partitioned run hops).
    orphans = {
        alert["identity_id"] for alert in simulation.alerts if alert["kind"] == "orphaned_nhi"
    }
    for role, _ in truth:
        if role in held_by:
            assert held_by[role] in orphans
        else:
            assert partition_of(role, 2) != partition_of(created[role], 2)
