"""The contract's detections, each with positive and negative cases side by side."""

import itertools
import random
from datetime import timedelta
from typing import Any

import pytest

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
    secret,
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


def test_joiner_closes_with_the_account_creation_after_it() -> None:
    engine = run(
        [directory(0, "joiner", accounts=[ALICE_AWS]), admin(300, "account_created", "CreateUser")]
    )
    assert lags(engine) == [("joiner", ALICE_AWS, None, "closed", 300.0)]


def test_joiner_without_a_creation_yields_no_row() -> None:
    engine = run([directory(0, "joiner", accounts=[ALICE_AWS]), use(100)])
    assert lags(engine) == []


def test_a_creation_before_the_joiner_is_preceded() -> None:
    engine = run(
        [admin(-600, "account_created", "CreateUser"), directory(0, "joiner", accounts=[ALICE_AWS])]
    )
    assert lags(engine) == [("joiner", ALICE_AWS, None, "preceded", -600.0)]


def test_mover_closes_with_a_permission_change() -> None:
    engine = run(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "mover"),
            admin(90, "permission_granted", "AttachUserPolicy"),
        ]
    )
    assert ("mover", ALICE_AWS, None, "closed", 90.0) in lags(engine)


def test_mover_is_not_closed_by_an_account_creation() -> None:
    engine = run(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "mover"),
            admin(90, "account_created", "CreateUser"),
        ]
    )
    assert [row for row in lags(engine) if row[0] == "mover"] == []


def test_leaver_closes_account_and_each_credential_in_rows_of_their_own() -> None:
    engine = run(
        [
            directory(-10 * HOUR, "joiner", accounts=[ALICE_AWS]),
            admin(-9 * HOUR, "credential_created", "CreateAccessKey", target_credential=ALICE_KEY),
            directory(0, "leaver"),
            admin(2 * HOUR, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY),
            admin(3 * HOUR, "account_deleted", "DeleteUser"),
        ]
    )
    assert lags(engine) == [
        ("leaver", ALICE_AWS, ALICE_KEY, "closed", 2 * HOUR),
        ("leaver", ALICE_AWS, None, "closed", 3 * HOUR),
    ]


def test_suspend_closes_with_a_disable() -> None:
    engine = run(
        [
            directory(-HOUR, "joiner", accounts=[ALICE_AWS]),
            directory(0, "suspend"),
            admin(45, "account_disabled", "DeleteLoginProfile"),
        ]
    )
    assert ("suspend", ALICE_AWS, None, "closed", 45.0) in lags(engine)


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


def test_per_system_sla_override() -> None:
    config = DetectionConfig(
        deprovision_sla_us=24 * HOUR * MICROS, sla_overrides_us={"aws:human": HOUR * MICROS}
    )
    engine = run([directory(-HOUR, "joiner", accounts=[ALICE_AWS]), directory(0, "leaver")], config)
    engine.tick(int(at(2 * HOUR).timestamp() * MICROS))
    assert alerts(engine) == [("deprovision_overdue", ALICE, None, None)]


# -- 2. use after deprovisioning ---------------------------------------------------------


LEFT = [directory(-10 * HOUR, "joiner", accounts=[ALICE_AWS]), directory(0, "leaver")]


@pytest.mark.parametrize(
    "event, expected",
    [
        (use(2 * HOUR), [("used_after_deprovision", ALICE, ALICE_KEY, 2.0 * HOUR)]),
        (use(2 * HOUR, ok=False), [("attempted_after_deprovision", ALICE, ALICE_KEY, 2.0 * HOUR)]),
        (use(30), []),  # within the grace for clock skew
        (use(-30), []),  # before the leaver
        (
            secret(HOUR, "vault:accessor/abc", account=ALICE_AWS),
            [("used_after_deprovision", ALICE, "vault:accessor/abc", 1.0 * HOUR)],
        ),
    ],
    ids=["success", "failure", "within-grace", "before", "secret-store"],
)
def test_use_after_deprovision(event: Event, expected: list[Any]) -> None:
    assert alerts(run([*LEFT, event])) == expected


def test_severity_depends_on_identity_kind_and_outcome() -> None:
    human = run([*LEFT, use(HOUR)]).findings.alerts
    assert [alert["severity"] for alert in human.values()] == ["critical"]
    failed = run([*LEFT, use(HOUR, ok=False)]).findings.alerts
    assert [alert["severity"] for alert in failed.values()] == ["medium"]
    bot = run(
        [
            directory(
                -HOUR,
                "joiner",
                identity_id="N1",
                kind="nhi",
                accounts=["gcp:bot@p.iam.gserviceaccount.com"],
            ),
            directory(0, "leaver", identity_id="N1", kind="nhi"),
            cloud(HOUR, "usage", "gcp:bot@p.iam.gserviceaccount.com", "gcp:key/1"),
        ]
    ).findings.alerts
    assert [alert["severity"] for alert in bot.values()] == ["high"]


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


def test_uses_after_a_rehire_are_fine() -> None:
    engine = run([*LEFT, directory(HOUR, "reactivate"), use(2 * HOUR)])
    assert alerts(engine) == []


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


@pytest.mark.parametrize(
    "events, expected",
    [
        (
            [
                admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY),
                use(600),
            ],
            [("used_after_revocation", ALICE_AWS, ALICE_KEY, 600.0)],
        ),
        (
            [
                use(600),
                admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY),
            ],
            [("used_after_revocation", ALICE_AWS, ALICE_KEY, 600.0)],
        ),
        (
            [
                admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY),
                use(-600),
                use(20),
            ],
            [],
        ),
        (
            [
                admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY),
                use(600, ok=False),
            ],
            [],
        ),
    ],
    ids=["after", "after-processed-first", "before-and-within-grace", "denied"],
)
def test_use_after_revocation_of_an_unlinked_key(events: list[Event], expected: list[Any]) -> None:
    # No link at all: the key's account stands for its identity.
    assert alerts(run(events)) == expected


def test_revocation_alert_keeps_its_id_when_a_late_link_names_the_person() -> None:
    revoke = admin(0, "credential_revoked", "DeleteAccessKey", target_credential=ALICE_KEY)
    engine = run([revoke, use(600), link(-HOUR, ALICE, account=ALICE_AWS)])
    (alert,) = engine.findings.alerts.values()
    assert alert["identity_id"] == ALICE
    before_link = run([revoke, use(600)])
    assert list(before_link.findings.alerts) == list(engine.findings.alerts)


# -- 4. orphaned NHI -------------------------------------------------------------------------


def test_an_nhi_whose_owner_left_and_got_no_new_owner_is_orphaned() -> None:
    events = [
        directory(-HOUR, "joiner", identity_id="N7", kind="nhi", owner=ALICE),
        directory(0, "leaver"),
    ]
    engine = run(events, tick_at=25 * HOUR)
    assert alerts(engine) == [("orphaned_nhi", "N7", None, None)]
    (alert,) = engine.findings.alerts.values()
    assert '"owner_id": "E1"' in alert["evidence"]


@pytest.mark.parametrize(
    "rescue",
    [
        directory(2 * HOUR, "owner_change", identity_id="N7", kind="nhi", owner="E2"),
        directory(2 * HOUR, "leaver", identity_id="N7", kind="nhi"),
    ],
    ids=["new-owner", "nhi-retired"],
)
def test_an_nhi_with_a_new_owner_in_time_is_not_orphaned(rescue: Event) -> None:
    events = [
        directory(-HOUR, "joiner", identity_id="N7", kind="nhi", owner=ALICE),
        directory(0, "leaver"),
        rescue,
    ]
    assert alerts(run(events, tick_at=25 * HOUR)) == []


def test_orphan_is_found_whatever_the_order_of_owner_and_leaver() -> None:
    events = [
        directory(0, "leaver"),
        directory(-HOUR, "joiner", identity_id="N7", kind="nhi", owner=ALICE),
    ]
    assert alerts(run(events, tick_at=25 * HOUR)) == [("orphaned_nhi", "N7", None, None)]


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


def test_alert_fields_follow_the_contract() -> None:
    engine = run([*LEFT, use(7200)])
    (alert,) = engine.findings.alerts.values()
    assert alert["deprovisioned_at"] == at(0)
    assert alert["used_at"] == at(7200)
    assert alert["seconds_after"] == 7200.0
    assert alert["system"] == "aws" and alert["action"] == "GetObject"
    assert alert["source_ip"] == "203.0.113.9"
    assert alert["account_id"] == ALICE_AWS


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
