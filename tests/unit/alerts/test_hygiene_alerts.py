"""The hygiene kinds in chat (docs/hygiene.md): what a person reads for each (a role
left behind by a leaver as its chain: role, assumer, credential, creator, leaver), a stale
finding's resolution (a newer version of the same alert with ``resolved_at``) delivered
once as a follow-up, never twice by a replay, and nothing from the evidence taken as
markup."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from accessdrift.alerts.config import Routing, load_routing
from accessdrift.alerts.destinations.pagerduty import pagerduty_event
from accessdrift.alerts.destinations.slack import slack_message
from accessdrift.alerts.destinations.teams import teams_message
from accessdrift.alerts.destinations.webhook import webhook_document
from accessdrift.alerts.dispatch import Delivery, Dispatcher, alert_version, better
from accessdrift.alerts.render import facts, headline
from accessdrift.alerts.send import Answer
from tests.unit.alerts.samples import alert
from tests.unit.alerts.test_config import ENV, write

SINCE = datetime(2025, 11, 1, 8, 0, tzinfo=UTC)
STALE_AT = SINCE + timedelta(days=90)
RESOLVED = STALE_AT + timedelta(days=3, hours=2)
NOW = (STALE_AT + timedelta(minutes=5)).timestamp()
HOSTILE = "<!channel> *bold* [x](https://evil.example)\n*Status*\nFalse positive"

ROUTES = """\
destinations:
  soc-slack: {type: slack, url_env: SLACK_URL}
  siem:      {type: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY}
routes:
  - match: {kind: [stale_credential, stale_account, rotation_overdue, shared_credential,
                   uncorrelated_account_active, trust_path_of_leaver]}
    to: [soc-slack, siem]
max_age: 3650d
"""


def stale(**overrides: Any) -> dict[str, Any]:
    """A stale_credential alert as the notifier decodes it; resolved_at=... resolves it."""
    return alert(
        **{
            "alert_id": "al-stale",
            "kind": "stale_credential",
            "severity": "medium",
            "identity_id": "svc-ci",
            "identity_kind": "nhi",
            "account_id": "aws:111122223333:user/ci",
            "credential_id": "aws:key/AKIACI",
            "deprovisioned_at": SINCE,
            "used_at": None,
            "seconds_after": None,
            "action": None,
            "source_ip": None,
            "detected_at": STALE_AT,
            "evidence": json.dumps({"unused_since": SINCE.isoformat()}),
            "resolved_at": None,
            **overrides,
        }
    )


def resolved() -> dict[str, Any]:
    return stale(resolved_at=RESOLVED, detected_at=RESOLVED)


LEFT = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
ASSUMED = LEFT + timedelta(days=2, hours=3)
ROLE = "aws:111122223333:role/deploy"


def trust_evidence(**overrides: Any) -> dict[str, Any]:
    """The evidence trust.py writes for a role the leaver created."""
    return {
        "role": ROLE,
        "path": "created by the leaver",
        "leaver": "aws:111122223333:user/alice",
        "left_at": LEFT.isoformat(),
        "sla_seconds": 86400.0,
        "assumed": {
            "event_id": "ce-9",
            "event_time": ASSUMED.isoformat(),
            "by_account": "aws:111122223333:user/bob",
            "with_credential": "aws:AKIABOB",
            "source_ip": "203.0.113.8",
        },
        "created": {
            "by_account": "aws:111122223333:user/alice",
            "event_time": "2025-06-01T10:00:00+00:00",
            "event_id": "ce-1",
        },
        **overrides,
    }


def trust(**overrides: Any) -> dict[str, Any]:
    """A trust_path_of_leaver alert as the notifier decodes it (trust.py's fields: the
    role as account, the leaver's T0, the assumption as used_at, no source_ip of its own)."""
    return alert(
        **{
            "alert_id": "al-trust",
            "kind": "trust_path_of_leaver",
            "severity": "high",
            "identity_id": "E00042",
            "identity_kind": "human",
            "account_id": ROLE,
            "credential_id": None,
            "deprovisioned_at": LEFT,
            "used_at": ASSUMED,
            "seconds_after": (ASSUMED - LEFT).total_seconds(),
            "system": "aws",
            "action": "assume",
            "source_ip": None,
            "detected_at": ASSUMED + timedelta(minutes=1),
            "evidence": json.dumps(trust_evidence()),
            **overrides,
        }
    )


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    # The routing file names the six kinds: the validator takes them (catalogue's kinds).
    return load_routing(write(tmp_path, ROUTES), ENV)


def sent_rows(dispatcher: Dispatcher, now: float) -> dict[tuple[str, str], Delivery]:
    rows: dict[tuple[str, str], Delivery] = {}
    for message in dispatcher.due(now):
        for row in dispatcher.record(message, Answer("sent", 200, "ok"), now):
            rows[row.key] = row
    return rows


# -- What a person reads ---------------------------------------------------------------


def test_a_stale_credential_says_since_when_it_is_unused() -> None:
    shown = dict(facts(stale()))
    assert shown["Unused since"] == "2025-11-01 08:00:00 UTC"
    assert "Deprovisioned" not in shown and "Used" not in shown and "Resolved" not in shown
    assert headline([stale()], update=False) == "MEDIUM: Unused workload credential"


def test_a_resolved_version_says_resolved_in_every_destination() -> None:
    shown = dict(facts(resolved()))
    assert shown["Resolved"] == "2026-02-02 10:00:00 UTC"
    assert headline([resolved()], update=True) == "Resolved: MEDIUM: Unused workload credential"
    # The first message of an alert that resolved before it could go says it too.
    assert headline([resolved()], update=False).startswith("Resolved: ")
    # A group that is not all resolved is an update of some.
    assert headline([resolved(), stale(alert_id="x")], update=True).startswith("Update: ")
    slack = json.dumps(slack_message([resolved()], update=True))
    assert "Resolved: MEDIUM" in slack and "*Resolved*\\n`2026-02-02 10:00:00 UTC`" in slack
    card = teams_message([resolved()], update=True)["attachments"][0]["content"]
    assert any(
        fact == {"title": "Resolved", "value": "2026-02-02 10:00:00 UTC"}
        for element in card["body"]
        for fact in element.get("facts", [])
    )
    document = webhook_document([resolved()], update=True)
    assert document["update"] is True
    assert document["alerts"][0]["resolved_at"] == "2026-02-02T10:00:00.000000Z"
    # PagerDuty: the resolution resolves the incident the alert opened (same dedup_key).
    opened, closed = pagerduty_event(stale(), "K"), pagerduty_event(resolved(), "K")
    assert (opened["event_action"], closed["event_action"]) == ("trigger", "resolve")
    assert opened["dedup_key"] == closed["dedup_key"] == "al-stale"


@pytest.mark.parametrize(
    ("kind", "reference", "used"),
    [
        ("stale_account", "Unused since", None),
        ("rotation_overdue", "Created", "Used"),
        ("shared_credential", "First party", "Second party"),
        ("uncorrelated_account_active", "First seen", "Used"),
    ],
)
def test_each_hygiene_kind_names_what_its_times_are(
    kind: str, reference: str, used: str | None
) -> None:
    at = STALE_AT if used else None
    shown = dict(facts(stale(kind=kind, used_at=at, seconds_after=3600.0 if used else None)))
    assert shown[reference] == "2025-11-01 08:00:00 UTC" and "Deprovisioned" not in shown
    if used is not None:
        assert shown[used] == "2026-01-30 08:00:00 UTC, 1h 0m after"


def test_a_shared_credential_names_both_parties_uses_or_claims() -> None:
    uses = {
        "how": "uses",
        "first_use": {"account_id": "aws:111122223333:user/ci"},
        "second_use": {"account_id": "aws:111122223333:user/alice"},
    }
    shown = dict(facts(stale(kind="shared_credential", evidence=json.dumps(uses))))
    assert shown["Parties"] == "aws:111122223333:user/ci and aws:111122223333:user/alice"
    links = {"how": "links", "other_identity_id": "E00001"}
    shown = dict(facts(stale(kind="shared_credential", evidence=json.dumps(links))))
    assert shown["Parties"] == "E00001 and svc-ci"
    # Evidence of another shape, or none: no Parties line, no crash.
    for evidence in ("[1, 2]", "not json", '{"first_use": "x", "second_use": 7}', "[" * 5000):
        assert "Parties" not in dict(facts(stale(kind="shared_credential", evidence=evidence)))


def test_an_unowned_account_or_overdue_key_names_the_privileged_entitlement() -> None:
    evidence = json.dumps({"privileged_entitlement": "aws:policy/AdministratorAccess"})
    for kind in ("uncorrelated_account_active", "rotation_overdue"):
        shown = dict(facts(stale(kind=kind, evidence=evidence)))
        assert shown["Privileged"] == "aws:policy/AdministratorAccess"
    assert "Privileged" not in dict(facts(stale(kind="rotation_overdue")))
    null = json.dumps({"privileged_entitlement": None})
    assert "Privileged" not in dict(facts(stale(kind="rotation_overdue", evidence=null)))


def test_strings_from_the_evidence_are_never_markup() -> None:
    evidence = json.dumps(
        {
            "how": "uses",
            "first_use": {"account_id": HOSTILE},
            "second_use": {"account_id": "<@U123>"},
        }
    )
    alert_ = stale(kind="shared_credential", evidence=evidence, identity_id="<!here>")
    shown = dict(facts(alert_))
    assert "\n" not in shown["Parties"], "one line: no field faked below it"
    slack = json.dumps(slack_message([alert_]))
    assert "<!channel>" not in slack and "<@U123>" not in slack and "<!here>" not in slack
    assert "&lt;!channel&gt;" in slack
    card = teams_message([alert_])["attachments"][0]["content"]
    parties = next(
        fact["value"]
        for element in card["body"]
        for fact in element.get("facts", [])
        if fact["title"] == "Parties"
    )
    assert "\\*bold\\*" in parties and "\\[x\\]\\(https://evil.example\\)" in parties


# -- A role left behind by a leaver: the chain -------------------------------------------

CHAIN = [
    ("Identity", "E00042 (human)"),
    ("Severity", "high"),
    ("Role", ROLE),
    ("Assumed by", "aws:111122223333:user/bob"),
    ("With credential", "aws:AKIABOB"),
    ("Created by", "aws:111122223333:user/alice, 2025-06-01 10:00:00 UTC"),
    ("Leaver", "aws:111122223333:user/alice (created the role)"),
    ("Left", "2026-01-05 17:00:00 UTC"),
    ("Assumed", "2026-01-07 20:00:00 UTC, 2d 3h after"),
    ("Source IP", "203.0.113.8"),
    ("System", "aws"),
]


def test_a_trust_path_reads_as_its_chain() -> None:
    assert facts(trust()) == CHAIN
    assert headline([trust()], update=False) == "HIGH: Role left behind by a leaver assumed"
    # The other path: the workload's role, its owner the leaver.
    orphaned = trust(
        identity_id="svc-deploy",
        identity_kind="nhi",
        evidence=json.dumps(
            trust_evidence(
                path="held by a workload whose owner left",
                leaver="E00042",
                created={"by_account": None, "event_time": None, "event_id": None},
            )
        ),
    )
    shown = dict(facts(orphaned))
    assert shown["Leaver"] == "E00042 (owned the workload that holds it)"
    assert shown["Created by"] == "—", "its creation was never seen"
    assert headline([orphaned], update=False) == "HIGH: Role of an orphaned workload assumed"


def test_a_trust_path_in_each_destination() -> None:
    # Slack: a section shows its first 10 fields; the chain, the times and the source IP
    # are among them.
    (section,) = [block for block in slack_message([trust()])["blocks"] if "fields" in block]
    assert [field["text"] for field in section["fields"]] == [
        f"*{label}*\n`{value}`" for label, value in CHAIN[:10]
    ]
    card = teams_message([trust()])["attachments"][0]["content"]
    (facts_,) = [element["facts"] for element in card["body"] if "facts" in element]
    assert facts_[:3] == [
        {"title": "Identity", "value": "E00042 \\(human\\)"},
        {"title": "Severity", "value": "high"},
        {"title": "Role", "value": ROLE},
    ]
    assert [fact["title"] for fact in facts_] == [label for label, _ in CHAIN] + ["alert_id"]
    document = webhook_document([trust()])
    assert document["alerts"][0]["evidence"]["assumed"]["by_account"] == (
        "aws:111122223333:user/bob"
    )
    assert document["alerts"][0]["used_at"] == "2026-01-07T20:00:00.000000Z"
    event = pagerduty_event(trust(), "K")
    assert event["event_action"] == "trigger" and event["dedup_key"] == "al-trust"
    details = event["payload"]["custom_details"]
    assert details["Assumed by"] == "aws:111122223333:user/bob"
    assert details["Leaver"] == "aws:111122223333:user/alice (created the role)"


def test_a_trust_paths_evidence_is_never_markup_nor_a_crash() -> None:
    hostile = trust_evidence(
        role=HOSTILE,
        leaver="<!here>",
        path=HOSTILE,
        assumed={"by_account": "<@U123>", "with_credential": HOSTILE, "source_ip": "`x`"},
        created={"by_account": "*b*", "event_time": HOSTILE},
    )
    alert_ = trust(account_id=None, evidence=json.dumps(hostile))
    shown = dict(facts(alert_))
    assert all("\n" not in value for value in shown.values()), "one line: no field faked below"
    assert shown["Leaver"] == "<!here>", "an unknown path says nothing of the leaver"
    assert shown["Created by"] == "*b*", "a time that is not one is left out"
    slack = json.dumps(slack_message([alert_]))
    for raw in ("<!channel>", "<@U123>", "<!here>", "<https://"):
        assert raw not in slack, raw
    assert "&lt;@U123&gt;" in slack and "`'x'`" in slack
    card = teams_message([alert_])["attachments"][0]["content"]
    values = {
        fact["title"]: fact["value"]
        for element in card["body"]
        for fact in element.get("facts", [])
    }
    assert "\\[x\\]\\(https://evil.example\\)" in values["Role"]
    assert values["Created by"] == "\\*b\\*"
    # Evidence of another shape, or none: dashes, the alert's own fields, no crash.
    for evidence in ("[1, 2]", "not json", '{"assumed": "x", "created": 7}', "[" * 5000):
        shown = dict(facts(trust(evidence=evidence)))
        assert shown["Role"] == ROLE and shown["Assumed by"] == "—"
        assert shown["Created by"] == shown["Leaver"] == shown["Source IP"] == "—"


# -- Delivery: the resolution once, as a follow-up ---------------------------------------


def test_a_resolved_version_is_better_than_the_open_one_and_only_once() -> None:
    opened, closed = alert_version(stale()), alert_version(resolved())
    assert better(closed, opened) and not better(opened, closed)
    assert not better(closed, closed)
    # An earlier first use still decides first (the kinds that improve by it).
    earlier = alert_version(stale(used_at=SINCE, seconds_after=0.0))
    assert better(earlier, closed) and not better(closed, earlier)


def test_a_resolution_after_the_alert_was_sent_is_one_follow_up_and_replays_send_nothing(
    routing: Routing,
) -> None:
    dispatcher = Dispatcher(routing)
    rows = dispatcher.offer(stale(), {}, NOW)
    assert sorted(row.destination for row in rows) == ["siem", "soc-slack"]
    known = sent_rows(dispatcher, NOW + 10)
    assert {row.status for row in known.values()} == {"sent"}
    # The resolved version: recorded nothing before it goes, then one message each.
    assert dispatcher.offer(resolved(), known, NOW + 3600) == []
    messages = dispatcher.due(NOW + 3610)
    assert [(m.destination, m.update) for m in messages] == [("soc-slack", True), ("siem", True)]
    assert all(m.alerts[0]["resolved_at"] == RESOLVED for m in messages)
    after = {}
    for message in messages:
        for row in dispatcher.record(message, Answer("sent", 200, "ok"), NOW + 3610):
            after[row.key] = row
    assert {(row.status, row.updates) for row in after.values()} == {("sent", 1)}
    assert all(row.alert_version.endswith(".resolved") for row in after.values())
    # Replays of drift.alerts, after a restart (a fresh dispatcher): either version
    # again sends nothing.
    known = {**known, **after}
    for replayed in (stale(), resolved(), stale(), resolved()):
        fresh = Dispatcher(routing)
        assert fresh.offer(replayed, known, NOW + 7200) == []
        assert fresh.waiting == 0 and fresh.due(NOW + 8000) == []


def test_an_alert_resolved_while_it_waits_goes_out_once_resolved(routing: Routing) -> None:
    dispatcher = Dispatcher(routing)
    first = dispatcher.offer(stale(), {}, NOW)
    known = {row.key: row for row in first}  # pending, as ClickHouse has them
    assert dispatcher.offer(resolved(), known, NOW + 1) == []
    assert dispatcher.offer(stale(), known, NOW + 2) == [], "the older one, read again"
    messages = dispatcher.due(NOW + 10)
    assert [len(m.alerts) for m in messages] == [1, 1] and not any(m.update for m in messages)
    assert all(m.alerts[0]["resolved_at"] == RESOLVED for m in messages)
    rows = {}
    for message in messages:
        for row in dispatcher.record(message, Answer("sent", 200, "ok"), NOW + 10):
            rows[row.key] = row
    # Sent resolved: no follow-up is owed, and none comes.
    assert Dispatcher(routing).offer(resolved(), rows, NOW + 20) == []
    again = Dispatcher(routing)
    again.offer(resolved(), rows, NOW + 20)
    assert again.waiting == 0


@pytest.mark.parametrize("status", ["skipped", "silenced", "failed"])
def test_no_resolution_follows_an_alert_that_was_not_sent(routing: Routing, status: str) -> None:
    known = {
        ("al-stale", name): Delivery("al-stale", name, status, alert_version=alert_version(stale()))
        for name in ("soc-slack", "siem")
    }
    dispatcher = Dispatcher(routing)
    assert dispatcher.offer(resolved(), known, NOW) == [] and dispatcher.waiting == 0
