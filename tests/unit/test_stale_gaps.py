"""A staleness seen on the use path (the use that ends an unused stretch longer than the
age) is judged once the watermark passes its deadline: a use inside the stretch that
arrives late, before then, splits it (core/detectors/stale.py)."""

from typing import Any

from accessdrift.canonical import parse_object
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS, to_micros

DAY = 86_400 * MICROS
ALICE, KEY = "aws:111122223333:user/alice", "aws:AKIAALICE000000001"


def use(event_id: str, when: str) -> dict[str, Any]:
    return {
        "record": "CloudAuditEvent",
        "event_id": event_id,
        "event_time": when,
        "system": "aws",
        "account_id": ALICE,
        "credential_id": KEY,
        "action": "GetObject",
        "kind": "usage",
        "outcome": "success",
    }


SETUP = [
    {
        "record": "IdentityLink",
        "event_time": "2026-03-01T08:00:00Z",
        "source": "inventory",
        "identity_id": "E1",
        "identity_kind": "human",
        "account_id": ALICE,
    },
    {
        "record": "CloudAuditEvent",
        "event_id": "k1",
        "event_time": "2026-03-01T09:00:00Z",
        "system": "aws",
        "account_id": "aws:111122223333:user/admin",
        "action": "CreateAccessKey",
        "kind": "credential_created",
        "target_account_id": ALICE,
        "target_credential_id": KEY,
        "outcome": "success",
    },
]


def stale_keys(late: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    # A lateness of a month: the late use is within it, as a slow partition's would be.
    engine = Engine(DetectionConfig(stale_after_us=10 * DAY), allowed_lateness_us=30 * DAY)
    for payload in [*SETUP, *late]:
        record = parse_object(payload).record
        fields = record.model_dump()
        engine.feed(type(record).__name__, fields, to_micros(fields["event_time"]))
    engine.tick(to_micros(parse_object(late[0]).record.event_time) + 31 * DAY)
    return sorted(
        (
            alert["kind"],
            alert["deprovisioned_at"].isoformat(),
            alert["resolved_at"].isoformat(),
        )
        for alert in engine.findings.alerts.values()
        # The stretches the uses ended (how far the tick moves the watermark past the
        # last use depends on the order fed: a later staleness is not what these test).
        if alert["kind"] == "stale_credential" and alert["resolved_at"] is not None
    )


def test_a_late_use_inside_the_gap_leaves_no_staleness() -> None:
    assert stale_keys([use("u2", "2026-03-12T09:00:00Z"), use("u1", "2026-03-06T09:00:00Z")]) == []


def test_a_gap_split_by_a_late_use_is_stale_on_the_part_longer_than_the_age() -> None:
    assert stale_keys([use("u2", "2026-03-20T09:00:00Z"), use("u1", "2026-03-04T09:00:00Z")]) == [
        ("stale_credential", "2026-03-04T09:00:00+00:00", "2026-03-20T09:00:00+00:00")
    ]


def test_without_a_late_use_the_gap_is_stale_from_the_creation() -> None:
    assert stale_keys([use("u2", "2026-03-12T09:00:00Z")]) == [
        ("stale_credential", "2026-03-01T09:00:00+00:00", "2026-03-12T09:00:00+00:00")
    ]
