"""Role assumptions routed to the role's holder and to its creator's identity, on one
resolver partition and on several (the creator's account on another partition: a
forward hop), in any arrival order (core/routing.py, core/detectors/trust.py)."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.routing import assumed_role
from accessdrift.core.timeutil import MICROS, to_micros

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
ALICE, BOB = "aws:111122223333:user/alice", "aws:111122223333:user/bob"
ROLE, WORKLOAD_ROLE = "aws:111122223333:role/deployer", "aws:111122223333:role/svc-n7"


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def cloud(event_id: str, hours: float, **fields: Any) -> tuple[str, dict[str, Any]]:
    record = {
        "event_id": event_id,
        "event_time": at(hours),
        "system": "aws",
        "credential_id": None,
        "target_account_id": None,
        "target_credential_id": None,
        "outcome": "success",
        "source_ip": None,
        "user_agent": None,
        "entitlement": None,
        "privileged": None,
        **fields,
    }
    return "CloudAuditEvent", record


def directory(
    event_id: str, hours: float, identity: str, **fields: Any
) -> tuple[str, dict[str, Any]]:
    record = {
        "event_id": event_id,
        "event_time": at(hours),
        "source": "hr",
        "identity_id": identity,
        "identity_kind": "human",
        "change_type": "joiner",
        "owner_id": None,
        "accounts": [],
        "attributes": {},
        "email": None,
        **fields,
    }
    return "DirectoryChange", record


def assume(event_id: str, hours: float, role: str, session: str) -> tuple[str, dict[str, Any]]:
    return cloud(
        event_id,
        hours,
        account_id=BOB,
        credential_id="aws:AKIABOB0000000000001",
        action="AssumeRole",
        kind="credential_created",
        target_account_id=role,
        target_credential_id=session,
    )


RECORDS = [
    directory("j1", 0, "E1", accounts=[ALICE]),
    directory("j2", 0, "E2", accounts=[BOB]),
    directory("n1", 0, "N7", identity_kind="nhi", owner_id="E1", accounts=[WORKLOAD_ROLE]),
    cloud(
        "c1",
        2,
        account_id=ALICE,
        action="CreateRole",
        kind="account_created",
        target_account_id=ROLE,
    ),
    directory("d1", 25, "E1", change_type="leaver", accounts=[ALICE]),
    cloud(
        "x1",
        25.5,
        account_id="aws:111122223333:admin",
        action="DeleteUser",
        kind="account_deleted",
        target_account_id=ALICE,
    ),
    assume("a0", 40, ROLE, "aws:ASIABOBSESSION000000"),  # within the SLA: nothing
    assume("a1", 52, ROLE, "aws:ASIABOBSESSION000001"),
    assume("a2", 53, WORKLOAD_ROLE, "aws:ASIABOBSESSION000002"),
]


def trust_paths(records: list[tuple[str, dict[str, Any]]], layout: dict[str, Any]) -> list[Any]:
    engine = Engine(DetectionConfig(), allowed_lateness_us=10 * MICROS, **layout)
    wall = to_micros(at(60))
    for name, record in records:
        engine.feed(name, dict(record), wall)
    if engine.partitions:
        engine.drain(wall)
    engine.tick(wall + 10**12)
    return sorted(
        (alert["identity_id"], alert["account_id"], alert["used_at"], alert["deprovisioned_at"])
        for alert in engine.findings.alerts.values()
        if alert["kind"] == "trust_path_of_leaver"
    )


EXPECTED = [
    ("E1", ROLE, at(52), at(25)),
    ("N7", WORKLOAD_ROLE, at(53), at(25)),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("partitioned", [False, True])
def test_the_creator_and_the_holder_hear_of_each_assumption(seed: int, partitioned: bool) -> None:
    records = list(RECORDS)
    if seed:
        random.Random(seed).shuffle(records)
    layout: dict[str, Any] = (
        {"partitions": 4, "resolver_partitions": 4, "schedule_seed": seed} if partitioned else {}
    )
    # In order: exactly the two paths. Shuffled (the directory late): the same two, at
    # least; late data may add what its own checks find, never lose these.
    found = trust_paths(records, layout)
    assert found == EXPECTED


def test_a_session_that_names_its_role_stays_its_assumers() -> None:
    engine = Engine(DetectionConfig(), allowed_lateness_us=10 * MICROS)
    for name, record in [*RECORDS[:2], assume("a1", 52, ROLE, "aws:ASIABOBSESSION000001")]:
        engine.feed(name, dict(record), to_micros(at(60)))
    owner = engine.resolver.resolve("aws:ASIABOBSESSION000001")
    assert owner is not None and owner.identity_id == "E2"


def test_which_actions_assume_a_role() -> None:
    def named(action: str, target: str | None, session: str | None = "s") -> str | None:
        return assumed_role(
            {
                "kind": "credential_created",
                "action": action,
                "target_account_id": target,
                "target_credential_id": session,
            }
        )

    assert named("AssumeRole", ROLE) == ROLE
    assert (
        named(
            "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken",
            "gcp:sa@p.iam.gserviceaccount.com",
        )
        == "gcp:sa@p.iam.gserviceaccount.com"
    )
    assert named("update auth/approle/login", "vault:entity/e1") == "vault:entity/e1"
    assert named("CreateAccessKey", ALICE) is None  # a key, not a session of a role
    assert named("AssumeRole", None) is None
    assert named("AssumeRole", ROLE, None) is None
