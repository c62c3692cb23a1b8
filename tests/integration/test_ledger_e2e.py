"""The access ledger and the entitlement drift detections through the real broker and
worker, into ClickHouse: the same intervals and alerts as the in-memory core, whatever
the interleaving of the topics, and a replay adds nothing.

The scenario is tests/unit/test_ledger.py's: Alice holds policies from before a move,
keeps two past the mover SLA (24 h here), leaves, and is granted IAMFullAccess after.
"""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Isolated, Worker, wait_until
from tests.integration.test_detection_e2e import write_jsonl
from tests.unit.core_builders import ALICE
from tests.unit.test_ledger import run, scenario

TOPIC_OF = {"DirectoryChange": "directory", "CloudAuditEvent": "cloud", "IdentityLink": "links"}
MOVER_SLA = {"ACCESSDRIFT_MOVER_SLA": "24h"}
LEDGER_COLUMNS = (
    "interval_id, identity_id, system, account_id, subject_type, subject, valid_from, "
    "valid_to, opened_by, closed_by, privileged"
)


def interleaved(
    events: list[tuple[str, dict[str, Any]]], seed: int
) -> list[tuple[str, dict[str, Any]]]:
    by_topic: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for event in sorted(events, key=lambda item: item[1]["event_time"]):
        by_topic.setdefault(TOPIC_OF[event[0]], []).append(event)
    generator = random.Random(seed)
    out = []
    while by_topic:
        topic = generator.choice(sorted(by_topic))
        out.append(by_topic[topic].pop(0))
        if not by_topic[topic]:
            del by_topic[topic]
    return out


def ledger_rows(worker: Worker) -> list[dict[str, Any]]:
    return worker.query(
        f"SELECT {LEDGER_COLUMNS} FROM access_ledger FINAL WHERE NOT removed ORDER BY interval_id"
    )


def alert_rows(worker: Worker) -> set[tuple[Any, ...]]:
    rows = worker.query("SELECT alert_id, kind, severity, entitlement FROM alerts FINAL")
    return {tuple(row.values()) for row in rows}


def core_ledger(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = [row for row in run(events).findings.ledger.values() if not row["removed"]]
    out = []
    for row in sorted(rows, key=lambda item: item["interval_id"]):
        shown = {name.strip(): row[name.strip()] for name in LEDGER_COLUMNS.split(",")}
        for name in ("valid_from", "valid_to"):
            if shown[name] is not None:
                shown[name] = shown[name].isoformat()
        out.append(shown)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_ledger_and_entitlement_alerts_land_as_the_core_finds_them(
    seed: int, isolated: Isolated, tmp_path: Path
) -> None:
    events = interleaved(scenario(), seed)
    core = run(events).findings
    expected_alerts = {
        (alert["alert_id"], alert["kind"], alert["severity"], alert["entitlement"])
        for alert in core.alerts.values()
    }
    assert {kind for _, kind, _, _ in expected_alerts} == {
        "granted_after_deprovision",
        "mover_access_retained",
    }
    expected_ledger = core_ledger(events)
    path = write_jsonl(events, tmp_path / "ledger.jsonl")
    worker = Worker(isolated, **MOVER_SLA)
    try:
        assert isolated.cli("replay", "--format", "canonical", str(path)).returncode == 0
        try:
            wait_until(lambda: alert_rows(worker) == expected_alerts, timeout=90)
            wait_until(lambda: ledger_rows(worker) == expected_ledger, timeout=30)
        except AssertionError:
            assert alert_rows(worker) == expected_alerts
            assert ledger_rows(worker) == expected_ledger
            raise

        # What an analyst asks, through the command line and the running worker.
        at = "2026-03-02 09:30:00"
        held = isolated.cli(
            "query", "--format", "json",
            f"SELECT subject_type, subject FROM access_at(at = '{at}') "
            f"WHERE identity_id = '{ALICE}' ORDER BY subject_type, subject",
        )  # fmt: skip
        assert held.returncode == 0, held.stderr
        assert [json.loads(line) for line in held.stdout.splitlines()] == [
            {"subject_type": "account", "subject": "aws:111122223333:user/alice"},
            {"subject_type": "credential", "subject": "aws:AKIAALICE000000001"},
            {"subject_type": "entitlement", "subject": "aws:policy/AdministratorAccess"},
            {"subject_type": "entitlement", "subject": "aws:policy/ReadOnlyAccess"},
        ]
        access = isolated.cli("access", ALICE, "--at", "2026-03-04T03:00:00Z", "--format", "json")
        assert access.returncode == 0, access.stderr
        assert "aws:policy/IAMFullAccess" in access.stdout
        assert "aws:AKIAALICE000000001" not in access.stdout, "revoked before then"

        # A second replay of the same records changes nothing.
        before = ledger_rows(worker)
        assert isolated.cli("replay", "--format", "canonical", str(path)).returncode == 0
        records = len(events) * 2

        def drained() -> bool:
            stages = worker.client.stages()
            return stages.get("resolver:records", 0) >= records and stages.get(
                "identity:messages_done", 0
            ) >= stages.get("identity:messages_sent", 0)

        wait_until(drained, timeout=90)
        assert ledger_rows(worker) == before
        assert alert_rows(worker) == expected_alerts
    finally:
        worker.stop()
