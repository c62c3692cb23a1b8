"""Every detection through the real broker and worker, into ClickHouse, exactly once.

The scenario is the core tests' (a few dozen events covering every detection, with
a late leaver, a late link, a session key and an orphaned NHI). It is replayed with
the topics interleaved in three different orders; each run must land the same
rows, and the same rows the in-memory core finds.
"""

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Isolated, Worker, wait_until
from tests.unit.core_builders import ALICE, ALICE_AWS, ALICE_KEY
from tests.unit.test_detection import run_unordered, scenario

TOPIC_OF = {
    "DirectoryChange": "directory",
    "CloudAuditEvent": "cloud",
    "SecretUsageEvent": "secret",
    "IdentityLink": "links",
}
EXPECTED_ALERTS = {
    ("used_after_deprovision", "critical", "E1", ALICE_KEY, 7200.0),
    ("used_after_deprovision", "critical", "E1", "aws:ASIAALICESESSION01", 10800.0),
    ("attempted_after_deprovision", "medium", "E1", ALICE_KEY, 14400.0),
    ("deprovision_overdue", "high", "E1", ALICE_KEY, None),
    ("used_after_deprovision", "critical", "E2", "okta:token/7", 7200.0),
    ("deprovision_overdue", "high", "E2", None, None),
    ("deprovision_overdue", "high", "E2", "okta:token/7", None),
    ("used_after_revocation", "high", "N7", "gcp:key/9", 10800.0),
    ("orphaned_nhi", "medium", "N7", None, None),
}
EXPECTED_LAGS = {
    ("E1", "joiner", ALICE_AWS, None, "closed", 120.0),
    ("E1", "mover", ALICE_AWS, None, "closed", 30.0),
    ("E1", "leaver", ALICE_AWS, None, "closed", 3600.0),
    ("E1", "leaver", ALICE_AWS, ALICE_KEY, "overdue", None),
    ("E2", "leaver", "okta:00u2", None, "overdue", None),
    ("E2", "leaver", "okta:00u2", "okta:token/7", "overdue", None),
}


def interleaved(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Each topic in event-time order, the topics interleaved at random."""
    by_topic: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for event in sorted(scenario(), key=lambda item: item[1]["event_time"]):
        by_topic.setdefault(TOPIC_OF[event[0]], []).append(event)
    generator = random.Random(seed)
    out = []
    while by_topic:
        topic = generator.choice(sorted(by_topic))
        out.append(by_topic[topic].pop(0))
        if not by_topic[topic]:
            del by_topic[topic]
    return out


def write_jsonl(events: list[tuple[str, dict[str, Any]]], path: Path) -> Path:
    with path.open("w") as output:
        for name, record in events:
            line = {"record": name, **record}
            output.write(json.dumps(line, default=lambda value: value.isoformat()) + "\n")
    return path


def landed(worker: Worker) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    alerts = worker.query(
        "SELECT kind, severity, identity_id, credential_id, seconds_after FROM alerts FINAL"
    )
    lags = worker.query(
        "SELECT identity_id, change_type, account_id, credential_id, status, lag_seconds "
        "FROM provisioning_lag FINAL"
    )
    return (
        {tuple(row.values()) for row in alerts},
        {tuple(row.values()) for row in lags},
    )


def wait_for_expected(worker: Worker, timeout: float) -> None:
    try:
        wait_until(lambda: landed(worker) == (EXPECTED_ALERTS, EXPECTED_LAGS), timeout=timeout)
    except AssertionError:
        assert landed(worker) == (EXPECTED_ALERTS, EXPECTED_LAGS)  # shows what differs
        raise


def full_rows(worker: Worker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    alerts = worker.query("SELECT * EXCEPT detected_at FROM alerts FINAL ORDER BY alert_id")
    lags = worker.query("SELECT * EXCEPT detected_at FROM provisioning_lag FINAL ORDER BY lag_id")
    return alerts, lags


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_detection_lands_exactly_once_whatever_the_interleaving(
    seed: int, isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    events = interleaved(seed)
    core = run_unordered(events).findings
    path = write_jsonl(events, tmp_path / f"scenario-{seed}.jsonl")
    result = isolated.cli("replay", "--format", "canonical", str(path))
    assert result.returncode == 0, result.stderr

    wait_for_expected(worker, timeout=90)

    # Exactly once: no duplicate ids even without FINAL merging them away.
    assert worker.count("SELECT count(DISTINCT alert_id) AS n FROM alerts") == len(EXPECTED_ALERTS)
    alerts, lags = full_rows(worker)
    assert {row["alert_id"] for row in alerts} == set(core.alerts), "same ids as the core"
    assert {row["lag_id"] for row in lags} == set(core.lags)
    session = next(row for row in alerts if row["credential_id"] == "aws:ASIAALICESESSION01")
    assert session["identity_id"] == ALICE
    assert session["account_id"] == "aws:111122223333:assumed-role/Deploy/alice"
    assert session["deprovisioned_at"] == "2026-03-02T09:00:00+00:00"
    evidence = json.loads(session["evidence"])
    assert evidence["use"]["credential_id"] == "aws:ASIAALICESESSION01"
    assert evidence["directory_change"]["change_type"] == "leaver"
    quantiles = worker.query(
        "SELECT change_type, count, p50 FROM lag_quantiles_hourly WHERE system = 'aws' "
        "ORDER BY change_type"
    )
    assert quantiles == [
        {"change_type": "joiner", "count": 1, "p50": 120.0},
        {"change_type": "leaver", "count": 1, "p50": 3600.0},
        {"change_type": "mover", "count": 1, "p50": 30.0},
    ]


def test_a_replay_after_a_restart_adds_no_second_alert_or_lag_row(
    isolated: Isolated, tmp_path: Path
) -> None:
    path = write_jsonl(interleaved(4), tmp_path / "scenario.jsonl")
    first = Worker(isolated)
    try:
        assert isolated.cli("replay", str(path)).returncode == 0
        wait_for_expected(first, timeout=90)
        before = full_rows(first)
    finally:
        first.stop()
    second = Worker(isolated)  # same data folder, state and consumer group
    try:
        assert isolated.cli("replay", str(path)).returncode == 0
        # The replayed records went through detection again. (Row counts cannot tell:
        # a batch identical to one already inserted is dropped by its dedup token.)
        records = sum(1 for line in path.read_text().splitlines() if line.strip())

        def drained() -> bool:
            stages = second.client.stages()
            return stages.get("resolver:records", 0) >= records and stages.get(
                "identity:messages_done", 0
            ) >= stages.get("identity:messages_sent", 0)

        wait_until(drained, timeout=90)
        time.sleep(1)  # the findings' sinks flush every 200 ms
        assert landed(second) == (EXPECTED_ALERTS, EXPECTED_LAGS)
        assert full_rows(second) == before
    finally:
        second.stop()
