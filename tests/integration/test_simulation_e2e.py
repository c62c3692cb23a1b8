"""A simulated organisation through the real broker and worker, scored by `accessdrift evaluate`."""

import json
import time
from pathlib import Path

from tests.helpers import Isolated, Worker, wait_until


def test_simulate_to_kafka_then_evaluate_is_exact(
    isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.json"
    result = isolated.cli(
        "simulate",
        "--to-kafka",
        "--truth",
        str(truth),
        "--seed",
        "3",
        "--identities",
        "80",
        "--events-per-second",
        "0.02",
    )
    assert result.returncode == 0, result.stderr
    expected = json.loads(truth.read_text())
    inputs = expected["events"]

    def drained() -> bool:
        current = worker.client.stages()
        return current.get("resolver:records", 0) >= inputs and current.get(
            "identity:messages_done", 0
        ) >= current.get("identity:messages_sent", 0)

    wait_until(drained, timeout=180, interval=0.5)
    time.sleep(2)  # the findings' sinks flush every 200 ms

    def exact() -> bool:
        return isolated.cli("evaluate", str(truth)).returncode == 0

    wait_until(exact, timeout=30, interval=1)
    scored = isolated.cli("evaluate", "--json", str(truth))
    figures = json.loads(scored.stdout)
    assert figures["perfect"] is True
    assert figures["duplicates"] == 0
    assert set(figures["alerts"]) >= {
        "used_after_deprovision",
        "deprovision_overdue",
        "used_after_revocation",
    }
    assert all(
        row["precision"] == 1.0 and row["recall"] == 1.0 for row in figures["alerts"].values()
    )
    malformed = worker.stats()
    assert malformed == {}, "the simulation sends canonical records, not raw ones"

    # What the views need came through the broker too (drift.pairs, drift.ownership):
    # every leaver's pair, overdue ones still open in the view, every account owned.
    def subject(row: dict[str, object]) -> tuple[object, ...]:
        return (row["identity_id"], row["account_id"], row["credential_id"])

    leavers = [lag for lag in expected["lags"] if lag["change_type"] == "leaver"]
    pairs = worker.query("SELECT * FROM deprovision_pairs FINAL WHERE change_type = 'leaver'")
    assert {subject(pair): pair["status"] for pair in pairs} == {
        subject(lag): lag["status"] for lag in leavers
    }
    overdue = worker.query("SELECT * FROM open_overdue_deprovisions")
    assert {subject(row) for row in overdue} == {
        subject(lag) for lag in leavers if lag["status"] == "overdue"
    }
    owners = {
        row["subject"]: row["identity_id"]
        for row in worker.query("SELECT subject, identity_id FROM ownership FINAL")
    }
    assert all(owners[lag["account_id"]] == lag["identity_id"] for lag in expected["lags"])


def test_simulated_vendor_logs_through_raw_topics_are_exact(
    isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    """The same organisation as CloudTrail, GCP audit, Okta, Entra and Vault lines and
    HR CSV rows on raw.<format>: normalized by the worker, then scored."""
    truth = tmp_path / "truth.json"
    result = isolated.cli(
        "simulate",
        "--format",
        "raw",
        "--to-kafka",
        "--truth",
        str(truth),
        "--seed",
        "4",
        "--identities",
        "80",
        "--events-per-second",
        "0.02",
    )
    assert result.returncode == 0, result.stderr
    assert "raw.cloudtrail" in result.stderr and "raw.hr-csv" in result.stderr
    expected = json.loads(truth.read_text())

    def drained() -> bool:
        current = worker.client.stages()
        return current.get("resolver:records", 0) >= expected["events"] and current.get(
            "identity:messages_done", 0
        ) >= current.get("identity:messages_sent", 0)

    wait_until(drained, timeout=180, interval=0.5)
    time.sleep(2)
    wait_until(lambda: isolated.cli("evaluate", str(truth)).returncode == 0, timeout=30, interval=1)
    figures = json.loads(isolated.cli("evaluate", "--json", str(truth)).stdout)
    assert figures["perfect"] is True and figures["duplicates"] == 0
    normalized = worker.stats()
    dead = sum(count for key, count in normalized.items() if key.endswith(":dead-lettered"))
    assert dead == expected["malformed"]
    for format_name in ("cloudtrail", "gcp-audit", "okta", "entra-audit", "vault", "hr-csv"):
        assert any(key.startswith(f"{format_name}:") for key in normalized), format_name
