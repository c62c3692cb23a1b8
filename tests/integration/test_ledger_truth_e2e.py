"""The simulated organisation's own record of who held what, checked at every directory
change against the `access_at` view and `accessdrift access`, after the organisation went
through the real broker and worker (and `accessdrift evaluate` found every kind exact).
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.helpers import Isolated, Worker, wait_until

MOVER_SLA = "12h"


def held_in_view(worker: Worker, identity_id: str, at: str) -> list[list[str]]:
    moment = at.replace("T", " ").replace("+00:00", "")
    rows = worker.query(
        "SELECT subject_type, account_id, subject FROM access_at(at = "
        f"'{moment}') WHERE identity_id = '{identity_id}'"
    )
    return sorted([row["subject_type"], row["account_id"], row["subject"]] for row in rows)


def held_by_command(isolated: Isolated, identity_id: str, at: str) -> list[list[str]]:
    shown = isolated.cli("access", identity_id, "--at", at, "--format", "json")
    assert shown.returncode in (0, 1), shown.stderr
    if shown.returncode == 1:
        assert "no interval" in shown.stderr, shown.stderr  # nothing ever held
        return []
    rows = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    return sorted([row["subject_type"], row["account_id"], row["subject"]] for row in rows)


def test_every_directory_change_held_what_the_simulation_says(
    isolated: Isolated, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    env = {"ACCESSDRIFT_MOVER_SLA": MOVER_SLA}
    # Three `accessdrift access` at a time below: the worker takes as many analyst
    # queries at once (its default is 2, and a third is refused, not queued).
    worker = Worker(isolated, ACCESSDRIFT_QUERY_CONCURRENCY="3", **env)
    try:
        made = isolated.cli(
            "simulate", "--to-kafka", "--truth", str(truth_path), "--seed", "3",
            "--identities", "80", "--events-per-second", "0.02", **env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        truth: dict[str, Any] = json.loads(truth_path.read_text())
        kinds = {alert["kind"] for alert in truth["alerts"]}
        assert {"granted_after_deprovision", "mover_access_retained"} <= kinds

        def drained() -> bool:
            current = worker.client.stages()
            return current.get("resolver:records", 0) >= truth["events"] and current.get(
                "identity:messages_done", 0
            ) >= current.get("identity:messages_sent", 0)

        wait_until(drained, timeout=180, interval=0.5)
        time.sleep(2)  # the findings' sinks flush every 200 ms
        wait_until(
            lambda: isolated.cli("evaluate", str(truth_path)).returncode == 0,
            timeout=30,
            interval=1,
        )
        figures = json.loads(isolated.cli("evaluate", "--json", str(truth_path)).stdout)
        assert figures["perfect"] is True
        for kind in ("granted_after_deprovision", "mover_access_retained"):
            assert figures["alerts"][kind]["recall"] == 1.0, figures["alerts"][kind]

        entries = truth["ledger"]
        assert len(entries) >= 20 and {entry["change_type"] for entry in entries} >= {
            "leaver",
            "mover",
            "joiner",
        }
        for entry in entries:
            assert held_in_view(worker, entry["identity_id"], entry["at"]) == entry["held"], entry
        with ThreadPoolExecutor(max_workers=3) as pool:
            shown = list(
                pool.map(
                    lambda entry: held_by_command(isolated, entry["identity_id"], entry["at"]),
                    entries,
                )
            )
        for entry, held in zip(entries, shown, strict=True):
            assert held == entry["held"], entry
    finally:
        worker.stop()
