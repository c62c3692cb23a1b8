"""One raw message makes at most ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE records, reads at most
that many vendor records, and dead-letters the rest with how many and why (issue 23,
item 7): a 390 KB message of 100,000 bad records cost 5 s and 179 MB, a SCIM group PATCH
of 60,000 members made 60,000 events. Work is bounded by counting, never by a clock."""

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import faust
import pytest

from accessdrift.normalizers import cloudtrail, entra, gcp, scim
from accessdrift.normalizers.base import MAX_RECORDS_PER_MESSAGE
from accessdrift.normalizers.registry import (
    FEED_HEADER,
    NormalizerConfig,
    normalize_message,
    rejections,
)
from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from accessdrift.streams.normalize import register_normalizers
from tests.unit.samples import http_requests

DOWNSTREAM = NormalizerConfig(scim_feeds={"acme": scim.ScimFeed("downstream", "acme")})
FEED = {FEED_HEADER: b"acme"}


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Counter[str]:
    """Counts the calls of module.name from now on."""
    calls: Counter[str] = Counter()
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def group_patch(members: int) -> dict[str, Any]:
    """Okta's own SCIM group membership PATCH, with as many members as asked."""
    request = next(
        r
        for r in http_requests("okta-developer-docs/reference__scim__scim-20__index.md")
        if r["method"] == "PATCH" and "/Groups/" in r["path"] and "members" in json.dumps(r)
    )
    (operation,) = request["body"]["Operations"]
    operation["value"] = [{"value": f"u{index}", "display": "x"} for index in range(members)]
    request["id"] = "patch-1"
    return dict(request)


def test_a_message_of_100000_bad_records_reads_no_more_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = b'{"Records": [' + b",".join([b"{}"] * 100_000) + b"]}"
    assert len(message) < 400_000
    calls = counting(monkeypatch, cloudtrail, "normalize")
    outcomes = normalize_message("cloudtrail", message)
    assert calls["normalize"] == MAX_RECORDS_PER_MESSAGE
    assert len(outcomes) == MAX_RECORDS_PER_MESSAGE + 1, "one outcome for all that was not read"
    unread = outcomes[-1]
    assert unread.dropped == 100_000 - MAX_RECORDS_PER_MESSAGE and unread.index == 10_000
    own_bytes = [outcome for outcome in outcomes if outcome.raw is not None]
    assert own_bytes == [unread], "no record's own bytes built for a letter that lists reasons"
    letters = rejections(outcomes, message)
    assert len(letters) == 2
    over = next(letter for letter in letters if "cap" in letter.error)
    assert "90,000 of 100,000 records" in over.error
    assert "ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE" in over.error
    assert over.error_type == "too_large"
    assert len(json.loads(over.value)) == 90_000, "the records not read, to replay once fixed"
    listed = next(letter for letter in letters if letter is not over)
    assert listed.value == message and "10000 of 10000 records rejected" in listed.error


def test_good_records_past_the_cap_are_dead_lettered_not_dropped() -> None:
    record = {
        "eventName": "GetObject",
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
    }
    records = [{**record, "eventID": f"e{index}"} for index in range(150)]
    message = json.dumps({"Records": records}).encode()
    outcomes = normalize_message("cloudtrail", message, config=NormalizerConfig(max_records=100))
    made: list[Any] = [r for outcome in outcomes for r in outcome.records]
    assert [r.event_id for r in made] == [f"e{index}" for index in range(100)]
    (letter,) = rejections(outcomes, message)
    assert json.loads(letter.value) == records[100:]
    assert letter.error.startswith("record 100: 50 of 150 records not read")
    # The letter replayed (replay-deadletters sends its value back to the raw topic)
    # makes exactly the records that were missing.
    again = normalize_message("cloudtrail", letter.value, config=NormalizerConfig(max_records=100))
    remade: list[Any] = [r for outcome in again for r in outcome.records]
    assert [r.event_id for r in remade] == [f"e{i}" for i in range(100, 150)]


def test_a_scim_group_patch_of_60000_members_makes_no_more_events_than_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = json.dumps(group_patch(60_000)).encode()
    built = counting(monkeypatch, scim, "CloudAuditEvent")
    (outcome,) = normalize_message("scim", message, FEED, DOWNSTREAM)
    first: Any = outcome.records[0]
    assert built["CloudAuditEvent"] == MAX_RECORDS_PER_MESSAGE, "the rest counted, not built"
    assert len(outcome.records) == MAX_RECORDS_PER_MESSAGE
    assert first.target_account_id == "acme:u0" and first.kind == "permission_granted"
    assert outcome.dropped == 50_000
    (letter,) = rejections([outcome], message)
    assert letter.value == message
    assert "60,000 records" in letter.error and "50,000" in letter.error
    assert "ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE" in letter.error


def gcp_policy(deltas: int, insert_id: str = "p1") -> dict[str, Any]:
    return {
        "insertId": insert_id,
        "timestamp": "2026-03-02T10:00:00Z",
        "protoPayload": {
            "methodName": "SetIamPolicy",
            "authenticationInfo": {"principalEmail": "admin@corp.example"},
            "serviceData": {
                "policyDelta": {
                    "bindingDeltas": [
                        {
                            "action": "ADD",
                            "role": "roles/owner",
                            "member": f"user:u{i}@corp.example",
                        }
                        for i in range(deltas)
                    ]
                }
            },
        },
    }


def gcp_workspace(events: int) -> dict[str, Any]:
    return {
        "insertId": "w1",
        "timestamp": "2026-03-02T10:00:00Z",
        "protoPayload": {
            "methodName": "google.admin.AdminService.addGroupMember",
            "authenticationInfo": {"principalEmail": "admin@corp.example"},
            "metadata": {
                "event": [
                    {
                        "eventName": "ADD_GROUP_MEMBER",
                        "parameter": [{"name": "USER_EMAIL", "value": f"u{i}@corp.example"}],
                    }
                    for i in range(events)
                ]
            },
        },
    }


def entra_keys(keys: int) -> dict[str, Any]:
    new = ",".join(
        f"[KeyIdentifier={index:08x}-0000-4000-8000-000000000000]" for index in range(keys)
    )
    return {
        "id": "a1",
        "activityDisplayName": "Add service principal credentials",
        "activityDateTime": "2026-03-02T10:00:00Z",
        "initiatedBy": {"user": {"id": "admin"}},
        "targetResources": [
            {
                "id": "sp-1",
                "type": "ServicePrincipal",
                "modifiedProperties": [
                    {"displayName": "KeyDescription", "oldValue": "[]", "newValue": f"[{new}]"}
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    "format_name, module, document",
    [
        ("gcp-audit", gcp, gcp_policy(300)),
        ("gcp-audit", gcp, gcp_workspace(300)),
        ("entra-audit", entra, entra_keys(300)),
    ],
    ids=["gcp-policy-deltas", "gcp-workspace-events", "entra-credential-keys"],
)
def test_every_record_that_fans_out_stops_at_the_cap(
    monkeypatch: pytest.MonkeyPatch, format_name: str, module: Any, document: Any
) -> None:
    built = counting(monkeypatch, module, "CloudAuditEvent")
    message = json.dumps(document).encode()
    (outcome,) = normalize_message(format_name, message, config=NormalizerConfig(max_records=100))
    assert built["CloudAuditEvent"] == 100
    assert len(outcome.records) == 100 and outcome.dropped == 200
    (letter,) = rejections([outcome], message)
    assert "300 records" in letter.error and "200" in letter.error


def test_the_cap_is_shared_by_every_record_of_the_message() -> None:
    entries = [gcp_policy(60, f"p{index}") for index in range(3)]
    message = json.dumps(entries).encode()
    outcomes = normalize_message("gcp-audit", message, config=NormalizerConfig(max_records=100))
    assert [len(outcome.records) for outcome in outcomes] == [60, 40, 0]
    assert [outcome.dropped for outcome in outcomes] == [0, 20, 1]
    letters = rejections(outcomes, message)
    assert [json.loads(letter.value) for letter in letters] == [entries[1], [entries[2]]]
    assert letters[0].error.startswith("record 1: ")


def test_the_cap_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_records_per_message == MAX_RECORDS_PER_MESSAGE
    monkeypatch.setenv("ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE", "250")
    assert Settings().max_records_per_message == 250
    settings_doc = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    assert (
        f"| `ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE` | `{MAX_RECORDS_PER_MESSAGE}` |" in settings_doc
    )


@pytest.fixture
def sent() -> Iterator[list[tuple[str, bytes]]]:
    captured: list[tuple[str, bytes]] = []

    async def capture(self: faust.Topic, *args: Any, **kwargs: Any) -> None:
        captured.append((self.get_topic_name(), kwargs["value"]))

    with mock.patch("faust.topics.Topic.send", capture):
        yield captured


async def test_the_normalize_agent_counts_what_it_dropped(
    tmp_path: Path, sent: list[tuple[str, bytes]]
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        topic_prefix="test.",
        max_records_per_message=100,
        scim_feeds={"acme": {"side": "downstream", "system": "acme"}},
    )
    # Faust's test context: the real agent, no broker (sends are captured above).
    app = faust.App("fan-out-test", store="memory://", datadir=str(tmp_path))
    counts: Counter[str] = Counter()
    register_normalizers(app, settings, counts)
    app.finalize()
    message = json.dumps(group_patch(300)).encode()
    async with app.agents["normalize_scim"].test_context() as agent:
        await agent.put(value=message, headers={FEED_HEADER: b"acme"})
        # The agent may still be at its dead letter (redacted on a thread) when put
        # returns: let it finish the message before the context stops it.
        for _ in range(2000):
            if sum(1 for topic, _ in sent if topic == "test.cloud.audit") == 100:
                break
            await asyncio.sleep(0.005)
    audits = [value for topic, value in sent if topic == "test.cloud.audit"]
    letters = [value for topic, value in sent if topic == "test.drift.deadletter"]
    assert len(audits) == 100
    assert counts["scim:CloudAuditEvent"] == 100
    assert counts["scim:dropped-over-cap"] == 200, "nothing dropped without a count"
    assert counts["scim:dead-lettered"] == 1
    (letter,) = [codec_for("DeadLetter").decode_dict(value) for value in letters]
    assert "200" in letter["error"] and letter["error_type"] == "too_large"
