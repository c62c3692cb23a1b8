"""The contract's detections over sequences of events: arrival order, late facts,
repeats, ticks and replays. What one detector makes of one short history is data:
its sample cases in tests/unit/detectors/cases/ (the single-rule cases that were here)."""

import itertools
import random
from datetime import timedelta
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS
from tests.unit.core_builders import (
    ADMIN,
    ADMIN_KEY,
    ALICE,
    ALICE_AWS,
    ALICE_KEY,
    admin,
    at,
    cloud,
    directory,
    link,
    use,
)

HOUR = 3600
CONFIG = DetectionConfig(
    grace_us=60 * MICROS, lookback_us=7 * 86_400 * MICROS, deprovision_sla_us=24 * HOUR * MICROS
)
Event = tuple[str, dict[str, Any]]


def run(
    events: list[Event], config: DetectionConfig = CONFIG, tick_at: float | None = None
) -> Engine:
    """Feed events in the order given; the wall clock follows event time, as if live."""
    engine = Engine(config)
    for name, record in events:
        wall = int(record["event_time"].timestamp() * MICROS)
        engine.feed(name, record, wall)
    if tick_at is not None:
        engine.tick(int(at(tick_at).timestamp() * MICROS))
    return engine


def lags(engine: Engine) -> list[tuple[str, str, str | None, str, float | None]]:
    return sorted(
        (
            (
                row["change_type"],
                row["account_id"],
                row["credential_id"],
                row["status"],
                row["lag_seconds"],
            )
            for row in engine.findings.lags.values()
        ),
        key=repr,
    )


def alerts(engine: Engine) -> list[tuple[str, str, str | None, float | None]]:
    return sorted(
        (
            (alert["kind"], alert["identity_id"], alert["credential_id"], alert["seconds_after"])
            for alert in engine.findings.alerts.values()
        ),
        key=repr,
    )


# -- 1. provisioning lag ---------------------------------------------------------------


def test_mover_is_not_closed_by_an_account_creation() -> None:
    engine = run(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "mover"),
            admin(90, "account_created", "CreateUser"),
        ]
    )
    assert [row for row in lags(engine) if row[0] == "mover"] == []


def test_a_change_processed_before_its_directory_change_closes_with_the_right_lag() -> None:
    engine = run(
        [
            admin(-9 * HOUR, "account_created", "CreateUser"),
            admin(HOUR, "account_deleted", "DeleteUser"),
            link(-9 * HOUR, ALICE, account=ALICE_AWS),
            directory(0, "leaver"),  # processed last, event time before the deletion
        ]
    )
    assert ("leaver", ALICE_AWS, None, "closed", float(HOUR)) in lags(engine)


# -- 3. overdue deprovisioning ------------------------------------------------------------


def test_overdue_fires_once_the_watermark_passes_the_sla_and_the_late_close_records_its_lag() -> (
    None
):
    events = [directory(-HOUR, "joiner", accounts=[ALICE_AWS]), directory(0, "leaver")]
    engine = run(events)
    assert lags(engine) == [] and alerts(engine) == [], "never early"
    engine.feed(
        *use(25 * HOUR, account="aws:1:user/bob", credential="aws:AKIABOB"),
        wall_us=int(at(25 * HOUR).timestamp() * MICROS),
    )
    engine.tick(int(at(25 * HOUR).timestamp() * MICROS))
    assert lags(engine) == [("leaver", ALICE_AWS, None, "overdue", None)]
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)]
    overdue_alert = next(iter(engine.findings.alerts.values()))
    assert overdue_alert["severity"] == "high"
    engine.feed(
        *admin(30 * HOUR, "account_disabled", "DeleteLoginProfile"),
        wall_us=int(at(30 * HOUR).timestamp() * MICROS),
    )
    assert lags(engine) == [("leaver", ALICE_AWS, None, "closed", 30.0 * HOUR)]
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)], "raised once, kept"
    assert engine.findings.alert_emissions == 1


def test_an_idle_stream_still_fires_overdue_by_wall_clock() -> None:
    engine = run([directory(-HOUR, "joiner", accounts=[ALICE_AWS]), directory(0, "leaver")])
    # No event after the leaver: the watermark advances with the wall clock once idle.
    engine.tick(int(at(HOUR).timestamp() * MICROS))
    assert alerts(engine) == []
    engine.tick(int(at(25 * HOUR).timestamp() * MICROS))
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)]


# -- 2. use after deprovisioning ---------------------------------------------------------


LEFT = [directory(-10 * HOUR, "joiner", accounts=[ALICE_AWS]), directory(0, "leaver")]


def test_a_repeated_use_does_not_repeat_its_alert() -> None:
    engine = run([*LEFT, use(HOUR), use(2 * HOUR), use(3 * HOUR)])
    assert alerts(engine) == [("used_after_deprovision", ALICE, ALICE_KEY, 1.0 * HOUR)]
    assert engine.findings.alert_emissions == 1


def test_a_late_deprovision_catches_uses_processed_before_it() -> None:
    engine = run(
        [
            directory(-10 * HOUR, "joiner", accounts=[ALICE_AWS]),
            use(2 * HOUR),
            use(3 * HOUR),
            directory(0, "leaver"),
        ]
    )
    assert alerts(engine) == [("used_after_deprovision", ALICE, ALICE_KEY, 2.0 * HOUR)]


def test_a_late_link_catches_uses_processed_before_it() -> None:
    engine = run(
        [
            directory(-10 * HOUR, "joiner"),
            directory(0, "leaver"),
            use(2 * HOUR),
            link(-10 * HOUR, ALICE, account=ALICE_AWS),
        ]
    )
    assert alerts(engine) == [("used_after_deprovision", ALICE, ALICE_KEY, 2.0 * HOUR)]


def test_a_session_key_issued_before_deprovisioning_is_caught_when_used_after() -> None:
    role_session = "aws:111122223333:assumed-role/Deploy/alice-session"
    session_key = "aws:ASIAALICESESSION01"
    issue = cloud(
        -HOUR,
        "credential_created",
        ALICE_AWS,
        ALICE_KEY,
        action="AssumeRole",
        target_credential=session_key,
    )
    later_use = cloud(HOUR, "usage", role_session, session_key, action="PutObject")
    for order in ([*LEFT, issue, later_use], [later_use, *LEFT, issue]):
        engine = run(order)
        assert alerts(engine) == [("used_after_deprovision", ALICE, session_key, 1.0 * HOUR)], order
        assert ALICE_KEY not in [row["credential_id"] for row in engine.findings.lags.values()]
        assert session_key not in [row["credential_id"] for row in engine.findings.lags.values()], (
            "a role session expires by itself: no lag pair"
        )


# -- used after revocation -----------------------------------------------------------------


def test_revocation_alert_keeps_its_id_when_a_late_link_names_the_person() -> None:
    revoke = admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY)
    engine = run([revoke, use(600), link(-HOUR, ALICE, account=ALICE_AWS)])
    (alert,) = engine.findings.alerts.values()
    assert alert["identity_id"] == ALICE
    before_link = run([revoke, use(600)])
    assert list(before_link.findings.alerts) == list(engine.findings.alerts)


# -- order independence ----------------------------------------------------------------------


def scenario() -> list[Event]:
    session_key = "aws:ASIAALICESESSION01"
    return [
        directory(-10 * HOUR, "joiner", accounts=[ALICE_AWS]),
        admin(-10 * HOUR + 120, "account_created", "CreateUser"),
        admin(
            -10 * HOUR + 180, "credential_created", "CreateAccessKey", target_credential=ALICE_KEY
        ),
        cloud(
            -HOUR,
            "credential_created",
            ALICE_AWS,
            ALICE_KEY,
            action="AssumeRole",
            target_credential=session_key,
        ),
        directory(-5 * HOUR, "mover"),
        admin(-5 * HOUR + 30, "permission_granted", "AttachUserPolicy"),
        use(-2 * HOUR),
        directory(0, "leaver"),
        admin(HOUR, "account_disabled", "DeleteLoginProfile"),
        use(2 * HOUR),
        cloud(3 * HOUR, "usage", "aws:111122223333:assumed-role/Deploy/alice", session_key),
        use(4 * HOUR, ok=False),
        directory(
            -HOUR,
            "joiner",
            identity_id="N7",
            kind="nhi",
            owner=ALICE,
            accounts=["gcp:bot@p.iam.gserviceaccount.com"],
        ),
        cloud(
            -HOUR,
            "credential_created",
            "gcp:admin@p.com",
            action="CreateServiceAccountKey",
            target_account="gcp:bot@p.iam.gserviceaccount.com",
            target_credential="gcp:key/9",
        ),
        cloud(
            2 * HOUR,
            "credential_revoked",
            "gcp:admin@p.com",
            action="DeleteServiceAccountKey",
            target_credential="gcp:key/9",
        ),
        cloud(5 * HOUR, "usage", "gcp:bot@p.iam.gserviceaccount.com", "gcp:key/9"),
        link(-10 * HOUR, "E2", account="okta:00u2", kind="human"),
        directory(-HOUR, "leaver", identity_id="E2"),
        cloud(HOUR, "usage", "okta:00u2", "okta:token/7"),
        use(30 * HOUR, account=ADMIN, credential=ADMIN_KEY),  # moves the watermark past the SLA
    ]


def run_unordered(events: list[Event], **engine_options: Any) -> Engine:
    """Arrival order is not event order: an allowed lateness wider than the disorder, then a
    final tick once the stream is idle, as a worker's timer would do."""
    lateness = 100 * HOUR * MICROS
    engine = Engine(CONFIG, allowed_lateness_us=lateness, idle_us=5 * MICROS, **engine_options)
    wall = int(at(0).timestamp() * MICROS)
    for name, record in events:
        engine.feed(name, record, wall)
    if engine.partitions:
        engine.drain(wall)  # what is in flight arrives before the stream goes idle
    last_event = max(int(record["event_time"].timestamp() * MICROS) for _, record in events)
    engine.tick(
        wall + 5 * MICROS + lateness + (int(at(31 * HOUR).timestamp() * MICROS) - last_event)
    )
    return engine


def test_results_do_not_depend_on_arrival_order() -> None:
    events = scenario()
    expected = run_unordered(events).findings.comparable()
    kinds = {dict(alert)["kind"] for alert in expected[1]}
    assert kinds == {
        "used_after_deprovision",
        "attempted_after_deprovision",
        "used_after_revocation",
        "deprovision_overdue",
        "orphaned_nhi",
    }
    statuses = {dict(row)["status"] for row in expected[0]}
    assert statuses == {"closed", "overdue"}
    generator = random.Random(7)
    for _ in range(40):
        shuffled = events[:]
        generator.shuffle(shuffled)
        assert run_unordered(shuffled).findings.comparable() == expected


def test_live_pace_and_full_speed_replay_agree() -> None:
    events = sorted(scenario(), key=lambda event: event[1]["event_time"])
    live = run(events, tick_at=31 * HOUR).findings.comparable()
    assert run_unordered(events).findings.comparable() == live


def test_data_later_than_the_allowed_lateness_can_raise_an_overdue_early() -> None:
    """What the allowed lateness is for: with none, a disable that arrives after the watermark
    passed the deadline comes too late to prevent the overdue alert (its lag is still right)."""
    events = [
        directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
        use(30 * HOUR, account=ADMIN, credential=ADMIN_KEY),
        directory(0, "leaver"),
        admin(HOUR, "account_disabled", "DeleteLoginProfile"),
    ]
    engine = run(events)
    assert ("deprovision_overdue", ALICE, None, None) in alerts(engine)
    assert lags(engine) == [("leaver", ALICE_AWS, None, "closed", float(HOUR))]
    tolerant = run_unordered(events)
    assert alerts(tolerant) == []


def test_feeding_the_same_events_twice_adds_nothing() -> None:
    events = scenario()
    engine = run(events, tick_at=31 * HOUR)
    before = engine.findings.comparable()
    emissions = (engine.findings.lag_emissions, engine.findings.alert_emissions)
    for name, record in events:
        engine.feed(name, record, int(at(32 * HOUR).timestamp() * MICROS))
    assert engine.findings.comparable() == before
    assert (engine.findings.lag_emissions, engine.findings.alert_emissions) == emissions


def test_the_same_finding_has_the_same_id_in_a_new_engine() -> None:
    first = run([*LEFT, use(7200)])
    second = run([*LEFT, use(7200)])
    assert list(first.findings.alerts) == list(second.findings.alerts)


del itertools, timedelta


def test_a_deprovision_after_the_deadline_does_not_undo_the_overdue_even_when_processed_first() -> (
    None
):
    """At full replay speed the late close can arrive before any timer tick: same findings."""
    engine = run_unordered(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "leaver"),
            admin(30 * HOUR, "account_disabled", "DeleteLoginProfile"),
        ]
    )
    assert lags(engine) == [("leaver", ALICE_AWS, None, "closed", 30.0 * HOUR)]
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)]


def test_a_deprovision_in_time_prevents_the_overdue() -> None:
    engine = run_unordered(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "leaver"),
            admin(23 * HOUR, "account_disabled", "DeleteLoginProfile"),
        ]
    )
    assert alerts(engine) == []


def test_no_deadline_stays_due_once_judged() -> None:
    """A rescued orphan or a raised overdue must not wake its identity again and again."""
    events = [
        directory(-HOUR, "joiner", identity_id="N7", kind="nhi", owner=ALICE),
        directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
        directory(0, "leaver"),
        directory(2 * HOUR, "owner_change", identity_id="N7", kind="nhi", owner="E2"),
    ]
    engine = run(events, tick_at=25 * HOUR)
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)]
    watermark = engine.watermark.current(int(at(25 * HOUR).timestamp() * MICROS))
    assert watermark is not None
    assert all(deadline > watermark for deadline in engine.deadlines.values())


# -- optional email matching ------------------------------------------------------------------


def test_email_matching_links_an_unlinked_account_to_the_directory_identity() -> None:
    account = "gcp:carol@corp.example"
    events = [
        use(2 * HOUR, account=account, credential="gcp:key/c1"),  # before any directory record
        directory(-10 * HOUR, "joiner", identity_id="E9"),
        directory(0, "leaver", identity_id="E9"),
    ]
    events[1][1]["email"] = "Carol@corp.example"
    engine = Engine(CONFIG, link_by_email=True)
    for name, record in events:
        engine.feed(name, record, int(record["event_time"].timestamp() * MICROS))
    assert alerts(engine) == [("used_after_deprovision", "E9", "gcp:key/c1", 2.0 * HOUR)]


def test_without_the_option_or_with_an_explicit_link_email_does_not_decide() -> None:
    account = "gcp:carol@corp.example"
    events = [
        directory(-10 * HOUR, "joiner", identity_id="E9"),
        link(-10 * HOUR, "E10", account=account),
        directory(0, "leaver", identity_id="E9"),
        use(2 * HOUR, account=account, credential="gcp:key/c1"),
    ]
    events[0][1]["email"] = "carol@corp.example"
    assert alerts(run(events)) == []
    engine = Engine(CONFIG, link_by_email=True)
    for name, record in events:
        engine.feed(name, record, int(record["event_time"].timestamp() * MICROS))
    assert alerts(engine) == [], "the explicit link to E10 wins over the email"


def test_email_of_account_ids() -> None:
    from accessdrift.core.resolver import email_of

    assert email_of("gcp:Alice@Corp.example") == "alice@corp.example"
    assert email_of("aws:1:saml-user/bob@corp.example") == "bob@corp.example"
    assert email_of("aws:1:user/bob") is None
    assert email_of("okta:00u1ab2cd3") is None
