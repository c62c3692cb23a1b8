import hashlib
import hmac
import json
from pathlib import Path

from slack_sdk.models.blocks import Block

from accessdrift.alerts.destinations.slack import SLACK_ALERTS_PER_MESSAGE, slack_message
from accessdrift.alerts.destinations.teams import teams_message
from accessdrift.alerts.destinations.webhook import webhook_body
from accessdrift.alerts.render import parts, slack_escape
from accessdrift.alerts.sign import signed_headers, verify
from tests.unit.alerts.samples import alert

HOSTILE = "<!channel> <@U123> <https://evil.example|click> & *bold* [x](https://evil.example)"


def test_a_slack_message_reads_as_a_person_needs_it() -> None:
    message = slack_message([alert()], "https://grafana.example/d/a?alert={alert_id}")
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "CRITICAL: Credential of a departed employee used"
    text = json.dumps(blocks)
    for expected in (
        "e00042 (human)",
        "aws:key/AKIAE00042",
        "198.51.100.7",
        "s3:GetObject",
        "2026-03-01 09:00:00 UTC",
        "4h 30m after",
        "aws-cli/2.15",
        "al-0001",
        "https://grafana.example/d/a?alert=al-0001",
    ):
        assert expected in text, expected
    # The library's own models accept every block (types, lengths).
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def test_log_strings_mention_no_one_and_link_nowhere_in_slack() -> None:
    message = slack_message([alert(action=HOSTILE, identity_id="<!here>", source_ip="<@U999>")])
    text = json.dumps(message)
    assert "<!channel>" not in text and "<!here>" not in text and "<@U" not in text
    assert "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


def test_long_fields_are_cut_with_a_marker_within_slacks_limits() -> None:
    message = slack_message([alert(action="A" * 10_000)])
    fields = [f for block in message["blocks"] for f in block.get("fields", [])]
    action = next(f["text"] for f in fields if f["text"].startswith("*Action*"))
    assert len(action) <= 400 and action.endswith("…[truncated]`"), "a log value: 300 at most"


def test_a_big_group_is_split_within_fifty_blocks_and_every_part_names_its_alerts() -> None:
    many = [alert(alert_id=f"al-{n:04d}") for n in range(40)]
    messages = [slack_message(part) for part in parts(many, SLACK_ALERTS_PER_MESSAGE)]
    assert len(messages) == 3
    assert all(len(m["blocks"]) <= 50 for m in messages)
    named = [a for m in messages for a in json.dumps(m).split("alert_id `")[1:]]
    assert len(named) == 40


def test_a_teams_card_is_an_adaptive_card_with_markup_neutralised() -> None:
    message = teams_message([alert(action=HOSTILE)], "https://x.example/{alert_id}")
    attachment = message["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Action"].startswith("\\<!channel\\> \\<@U123\\> \\<https://evil.example\\|")
    assert "\\*bold\\*" in facts["Action"] and "\\[x\\]\\(https" in facts["Action"]
    assert facts["alert_id"] == "al-0001"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "https://x.example/al-0001"}
    ]


def test_the_webhook_body_is_the_alert_record_as_the_contract_says() -> None:
    body = webhook_body([alert(credential_id=None)])
    document = json.loads(body)
    sent = document["alerts"][0]
    assert sent["credential_id"] is None, "null fields are present as null"
    assert sent["used_at"] == "2026-03-01T13:30:05.123456Z"
    assert sent["deprovisioned_at"] == "2026-03-01T09:00:00.000000Z"
    assert sent["evidence"] == {"use": {"event_id": "ce-1", "user_agent": "aws-cli/2.15"}}


def test_the_signature_verifies_independently_and_refuses_old_or_foreign_requests() -> None:
    body = webhook_body([alert()])
    headers = signed_headers("s3cret", body, now=1_800_000_000)
    stamp = headers["X-Accessdrift-Timestamp"]
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Accessdrift-Signature"] == f"sha256={expected}"
    sent = headers["X-Accessdrift-Signature"]
    assert verify(["old", "s3cret"], stamp, sent, body, now=1_800_000_100), "rotation: two secrets"
    assert not verify(["old"], stamp, sent, body, now=1_800_000_100)
    assert not verify(["s3cret"], stamp, sent, body, now=1_800_000_301), "older than five minutes"
    assert not verify(["s3cret"], stamp, sent, body + b" ", now=1_800_000_100), "body changed"


def test_teams_cards_and_notices_follow_the_published_adaptive_card_schema() -> None:
    import jsonschema

    from accessdrift.alerts.destinations.teams import teams_notice

    schema = json.loads(
        (
            Path(__file__).parents[2] / "fixtures" / "alerts" / "adaptive-card-1.4.schema.json"
        ).read_text()
    )
    validator = jsonschema.Draft6Validator(schema)
    cards = [
        teams_message(
            [alert(action=HOSTILE), alert(alert_id="al-2")], "https://x.example/{alert_id}"
        ),
        teams_message([alert()], None, update=True),
        teams_notice(
            {"condition": "input_silent", "state": "firing", "summary": "s", "at": "t"}, "p."
        ),
    ]
    for message in cards:
        card = message["attachments"][0]["content"]
        errors = [error.message for error in validator.iter_errors(card)]
        assert errors == [], errors
    broken = {**cards[0]["attachments"][0]["content"], "body": [{"type": "FactSet", "facts": 3}]}
    assert list(validator.iter_errors(broken)), "the schema check can fail"


def test_a_pagerduty_event_is_one_alert_keyed_by_its_id() -> None:
    from accessdrift.alerts.destinations.pagerduty import pagerduty_event, pagerduty_notice

    event = pagerduty_event(alert(action=HOSTILE), "R0UTINGKEY", "https://x.example/{alert_id}")
    assert event["routing_key"] == "R0UTINGKEY" and event["event_action"] == "trigger"
    assert event["dedup_key"] == "al-0001", "PagerDuty folds a repeat into its incident"
    payload = event["payload"]
    assert payload["severity"] == "critical" and payload["class"] == "used_after_deprovision"
    assert payload["summary"].startswith("Credential of a departed employee used: e00042")
    assert payload["custom_details"]["Action"] == HOSTILE, "plain text there, as PagerDuty shows it"
    assert event["links"] == [{"href": "https://x.example/al-0001", "text": "Open in accessdrift"}]
    notice = {"condition": "input_silent", "subject": "cloud.audit", "state": "resolved",
              "summary": "over", "at": "t"}  # fmt: skip
    resolved = pagerduty_notice(notice, "K", "p.")
    assert resolved["event_action"] == "resolve"
    assert resolved["dedup_key"] == "accessdrift-health:p.:input_silent:cloud.audit"


def test_a_log_field_cannot_fake_fields_or_a_verdict_below_it() -> None:
    spoof = (
        "aws-cli/2.15\n\n*Status*\nFalse positive, approved by SOC\n*Runbook*\nhttps://evil.example"
    )
    message = slack_message([alert(evidence=json.dumps({"use": {"user_agent": spoof}}))])
    fields = [f["text"] for block in message["blocks"] for f in block.get("fields", [])]
    agent = next(f for f in fields if f.startswith("*User agent*"))
    assert agent == (
        "*User agent*\n`aws-cli/2.15 *Status* False positive, approved by SOC *Runbook* "
        "https://evil.example`"
    ), "one line, in a code span: no bold, no link"
    card = teams_message([alert(action="- item\n1. two `x`")])["attachments"][0]["content"]
    action = next(f["value"] for f in card["body"][2]["facts"] if f["title"] == "Action")
    assert action == "\\- item 1. two \\`x\\`"


def test_an_entitlement_finding_names_the_entitlement_and_what_its_times_are() -> None:
    from accessdrift.alerts.render import facts

    granted = {
        "kind": "granted_after_deprovision",
        "identity_id": "E1",
        "identity_kind": "human",
        "severity": "critical",
        "account_id": "aws:1:user/a",
        "entitlement": "aws:policy/AdministratorAccess<script>",
        "deprovisioned_at": "2026-03-02T09:00:00+00:00",
        "used_at": "2026-03-02T10:00:00+00:00",
        "seconds_after": 3600.0,
    }
    shown = dict(facts(granted))
    assert shown["Entitlement"] == "aws:policy/AdministratorAccess<script>"  # escaped per service
    assert shown["Granted"].endswith("1h 0m after") and "Used" not in shown
    moved = dict(facts({**granted, "kind": "mover_access_retained", "used_at": None}))
    assert "Moved" in moved and "Deprovisioned" not in moved and "Granted" not in moved
    plain = dict(facts({**granted, "kind": "used_after_deprovision", "entitlement": None}))
    assert "Entitlement" not in plain and "Used" in plain
