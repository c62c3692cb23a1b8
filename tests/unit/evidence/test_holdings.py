"""What an identity held at a directory change and at its SLA, and what should have gone
by then (accessdrift/evidence/holdings.py), on hand-made ledger intervals."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accessdrift.evidence.holdings import (
    Change,
    Interval,
    Slas,
    holdings,
    intervals_of,
    listed_of,
    when,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LATER = T0 + 30 * DAY  # the data's watermark: every SLA below has passed


def interval(
    subject_type: str,
    subject: str,
    start: datetime,
    end: datetime | None = None,
    account: str = "aws:1:user/alice",
    privileged: bool = False,
) -> Interval:
    return Interval(
        system=account.split(":", 1)[0],
        account_id=account,
        subject_type=subject_type,
        subject=subject,
        privileged=privileged,
        valid_from=start,
        valid_to=end,
        opened_by=f"open-{subject}",
        closed_by=f"close-{subject}" if end else None,
    )


ACCOUNT = interval("account", "aws:1:user/alice", T0 - 90 * DAY)
KEY_REVOKED_IN_TIME = interval("credential", "aws:AKIA1", T0 - 60 * DAY, T0 + 2 * HOUR)
ADMIN = interval("entitlement", "aws:policy/AdministratorAccess", T0 - 60 * DAY, privileged=True)
DEV_REMOVED = interval("entitlement", "aws:group/dev", T0 - 30 * DAY, T0 + 3 * HOUR)
OKTA = interval("account", "okta:00u1", T0 - 90 * DAY, T0 + 30 * HOUR, account="okta:00u1")
LEDGER = [ACCOUNT, KEY_REVOKED_IN_TIME, ADMIN, DEV_REMOVED, OKTA]


def subjects(systems: list[dict[str, Any]], system: str) -> set[str]:
    (entry,) = [s for s in systems if s["system"] == system]
    return {
        item.get("entitlement") or item.get("credential_id") or item["account_id"]
        for name in ("accounts", "credentials", "entitlements")
        for item in entry[name]
    }


def leaver(at: datetime = T0, kind: str = "leaver") -> Change:
    return Change("dc-1", kind, at, "human")


def test_a_leaver_shows_what_it_held_and_what_it_still_held_at_its_sla() -> None:
    found = holdings(leaver(), LEDGER, [leaver()], Slas(), LATER)
    held = found["held_at_change"]
    assert {entry["at"] for entry in held} == {T0.isoformat()}
    assert subjects(held, "aws") == {
        "aws:1:user/alice",
        "aws:AKIA1",
        "aws:policy/AdministratorAccess",
        "aws:group/dev",
    }
    assert subjects(held, "okta") == {"okta:00u1"}
    at_sla = {entry["system"]: entry for entry in found["held_at_sla"]}
    assert at_sla["aws"]["at"] == (T0 + DAY).isoformat() and at_sla["aws"]["reached"] is True
    assert subjects(found["held_at_sla"], "aws") == {
        "aws:1:user/alice",
        "aws:policy/AdministratorAccess",
    }
    # Okta's account was deleted 30 h after: still there at T0 + 24 h.
    assert subjects(found["held_at_sla"], "okta") == {"okta:00u1"}
    (admin,) = [e for e in at_sla["aws"]["entitlements"]]
    assert admin == {
        "entitlement": "aws:policy/AdministratorAccess",
        "account_id": "aws:1:user/alice",
        "privileged": True,
        "valid_from": (T0 - 60 * DAY).isoformat(),
        "valid_to": None,
        "opened_by": "open-aws:policy/AdministratorAccess",
        "closed_by": None,
    }
    assert {(n["system"], n["subject"], n["privileged"]) for n in found["not_matched_at_sla"]} == {
        ("aws", "aws:1:user/alice", False),
        ("aws", "aws:policy/AdministratorAccess", True),
        ("okta", "okta:00u1", False),
    }


def test_a_system_cleared_by_its_sla_is_shown_empty_and_each_system_has_its_own_sla() -> None:
    slas = Slas(deprovision_overrides={"okta": 48 * HOUR, "aws:nhi": HOUR})
    found = holdings(leaver(), LEDGER, [leaver()], slas, LATER)
    okta = next(entry for entry in found["held_at_sla"] if entry["system"] == "okta")
    assert okta["at"] == (T0 + 48 * HOUR).isoformat() and okta["sla_seconds"] == 48 * 3600
    assert okta["accounts"] == [] and okta["credentials"] == [] and okta["entitlements"] == []
    assert "okta" not in {n["system"] for n in found["not_matched_at_sla"]}


def test_a_leavers_pairs_sla_is_the_one_its_held_at_sla_is_taken_at() -> None:
    # The detector judged the aws pairs with 2 h: the evidence looks at T0 + 2 h there.
    found = holdings(leaver(), LEDGER, [leaver()], Slas(), LATER, judged={"aws": 7200.0})
    aws = next(entry for entry in found["held_at_sla"] if entry["system"] == "aws")
    assert aws["at"] == (T0 + 2 * HOUR).isoformat()
    assert "aws:group/dev" in subjects(found["held_at_sla"], "aws")  # removed at T0 + 3 h


def test_nothing_is_judged_before_the_sla_has_passed_in_event_time() -> None:
    found = holdings(leaver(), LEDGER, [leaver()], Slas(), as_of=T0 + 2 * HOUR)
    assert {entry["reached"] for entry in found["held_at_sla"]} == {False}
    assert found["not_matched_at_sla"] == []
    unknown = holdings(leaver(), LEDGER, [leaver()], Slas(), as_of=None)
    assert {entry["reached"] for entry in unknown["held_at_sla"]} == {None}
    assert len(unknown["not_matched_at_sla"]) == 3, "no watermark: judged on what is known"


def test_a_leaver_who_came_back_before_the_sla_is_expected_to_hold_again() -> None:
    changes = [leaver(), Change("dc-2", "joiner", T0 + 5 * HOUR, "human")]
    assert holdings(leaver(), LEDGER, changes, Slas(), LATER)["not_matched_at_sla"] == []


def test_a_suspend_need_not_take_entitlements_away() -> None:
    suspend = leaver(kind="suspend")
    found = holdings(suspend, LEDGER, [suspend], Slas(), LATER)
    assert {n["subject_type"] for n in found["not_matched_at_sla"]} == {"account"}


MOVE = Change("dc-m", "mover", T0, "human", listed=frozenset({"aws:group/data"}))
OLD_ADMIN = interval("entitlement", "aws:policy/AdministratorAccess", T0 - DAY, privileged=True)
OLD_LISTED = interval("entitlement", "aws:group/data", T0 - DAY)
OLD_REVOKED_IN_TIME = interval("entitlement", "aws:group/payroll", T0 - DAY, T0 + 2 * DAY)
OLD_REVOKED_LATE = interval("entitlement", "aws:group/finance", T0 - DAY, T0 + 9 * DAY)
NEW_GRANT = interval("entitlement", "aws:group/analytics", T0 + HOUR)
MOVER_LEDGER = [ACCOUNT, OLD_ADMIN, OLD_LISTED, OLD_REVOKED_IN_TIME, OLD_REVOKED_LATE, NEW_GRANT]


def test_a_mover_keeps_only_what_the_new_role_lists_or_was_granted_after_the_move() -> None:
    found = holdings(MOVE, MOVER_LEDGER, [MOVE], Slas(), LATER)
    (aws,) = found["held_at_sla"]
    assert aws["at"] == (T0 + 7 * DAY).isoformat(), "the mover SLA, 7 days by default"
    assert {(n["subject"], n["privileged"]) for n in found["not_matched_at_sla"]} == {
        ("aws:policy/AdministratorAccess", True),
        ("aws:group/finance", False),
    }
    shorter = holdings(MOVE, MOVER_LEDGER, [MOVE], Slas(mover_overrides={"aws": 10 * DAY}), LATER)
    assert [n["subject"] for n in shorter["not_matched_at_sla"]] == [
        "aws:policy/AdministratorAccess"
    ]


def test_a_mover_lists_nothing_without_the_attribute_and_a_later_leaver_speaks_instead() -> None:
    unlisted = Change("dc-m", "mover", T0, "human", listed=None)
    found = holdings(unlisted, MOVER_LEDGER, [unlisted], Slas(), LATER)
    assert "aws:group/data" in {n["subject"] for n in found["not_matched_at_sla"]}
    left = [unlisted, Change("dc-l", "leaver", T0 + 3 * DAY, "human")]
    assert holdings(unlisted, MOVER_LEDGER, left, Slas(), LATER)["not_matched_at_sla"] == []


def test_a_joiner_shows_what_it_held_and_is_expected_nothing() -> None:
    joiner = Change("dc-j", "joiner", T0 + HOUR, "human")
    found = holdings(joiner, [NEW_GRANT], [joiner], Slas(), LATER)
    assert subjects(found["held_at_change"], "aws") == {"aws:group/analytics"}
    assert found["not_matched_at_sla"] is None


def test_rows_read_through_the_worker_have_their_times_as_text() -> None:
    # Through the worker a time is ISO text; from the engine a datetime, naive when a
    # caller reads it without accessdrift/sinks/clickhouse.py (UTC all the same).
    naive_utc = datetime(2026, 3, 1)  # noqa: DTZ001 - the engine's own shape
    rows = [
        {"system": "aws", "account_id": "aws:1:user/a", "subject_type": "entitlement",
         "subject": "aws:group/x", "privileged": True, "valid_from": "2026-03-01T00:00:00+00:00",
         "valid_to": None, "opened_by": "e1", "closed_by": None},
        {"system": "aws", "account_id": "aws:1:user/a", "subject_type": "account",
         "subject": "aws:1:user/a", "privileged": False,
         "valid_from": naive_utc, "valid_to": "2026-03-04T00:00:00Z",
         "opened_by": None, "closed_by": "e2"},
        {"system": "aws", "account_id": "", "subject_type": "credential", "subject": "k",
         "privileged": False, "valid_from": None, "valid_to": None},
    ]  # fmt: skip
    parsed = intervals_of(rows)
    assert [i.subject for i in parsed] == ["aws:group/x", "aws:1:user/a"]
    assert parsed[1].valid_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert parsed[1].valid_to == datetime(2026, 3, 4, tzinfo=UTC)
    assert when("") is None and when(None) is None


@pytest.mark.parametrize(
    ("value", "listed"),
    [
        (None, None),
        ("", frozenset()),
        ("aws:group/a, okta:group/b,,", frozenset({"aws:group/a", "okta:group/b"})),
    ],
)
def test_the_new_roles_list_is_the_mover_attribute(
    value: str | None, listed: frozenset[str] | None
) -> None:
    assert listed_of(value) == listed


def test_the_slas_most_specific_override_wins() -> None:
    slas = Slas(
        deprovision_overrides={"aws": 4 * HOUR, "aws:nhi": HOUR, "*:nhi": 2 * DAY},
        mover_overrides={"okta": 2 * DAY},
    )
    assert slas.of("leaver", "aws", "nhi") == HOUR
    assert slas.of("suspend", "aws", "human") == 4 * HOUR
    assert slas.of("leaver", "gcp", "nhi") == 2 * DAY
    assert slas.of("leaver", "gcp", "human") == DAY
    assert slas.of("mover", "okta", "human") == 2 * DAY
    assert slas.of("mover", "aws", "nhi") == 7 * DAY
    assert slas.of("joiner", "aws", "human") == 4 * HOUR
