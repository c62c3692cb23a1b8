"""`accessdrift notify` apart from the worker: the worker detects and does not notify,
the notifier alone sends every alert once; beside a worker that holds the embedded
engine it says what to do instead of crashing."""

import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import REPO, Isolated, Worker, wait_until
from tests.integration.test_alerts import slack_alert_ids, slack_and_siem


def test_the_notifier_alone_sends_what_a_quiet_worker_found(
    isolated: Isolated, tmp_path: Path
) -> None:
    org, truth = isolated.simulate(tmp_path, 11, 60, "--events-per-second", "0.02")
    with slack_and_siem(tmp_path) as (slack, siem, env):
        worker = Worker(isolated, ACCESSDRIFT_WORKER_NOTIFIES="false", **env)
        # Beside the worker, on its embedded engine: a clear refusal.
        beside = isolated.cli("notify", **env)
        assert beside.returncode == 78 and "ClickHouse server" in beside.stderr, beside.stderr
        notifier = subprocess.Popen(
            [sys.executable, "-m", "accessdrift.cli", "notify"],
            env=isolated.env(ACCESSDRIFT_DATA_DIR=str(tmp_path / "notifier"), **env),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert isolated.cli("replay", "--format", "canonical", str(org)).returncode == 0
            wait_until(
                lambda: isolated.cli("evaluate", str(truth)).returncode == 0,
                timeout=180,
                interval=1,
            )
            alerts = {row["alert_id"] for row in worker.query("SELECT alert_id FROM alerts FINAL")}
            wait_until(
                lambda: {i for r in slack.received for i in slack_alert_ids(r)[0]} >= alerts,
                timeout=90,
                interval=0.5,
            )
            time.sleep(2)
            sent = [
                i
                for r in slack.received
                for i in slack_alert_ids(r)[0]
                if not slack_alert_ids(r)[1]
            ]
            updates = [
                i for r in slack.received for i in slack_alert_ids(r)[0] if slack_alert_ids(r)[1]
            ]
            assert sorted(sent) == sorted(alerts), "each alert once, from the notifier alone"
            assert len(updates) == len(set(updates)) and set(updates) <= alerts, (
                "one update at most"
            )
            assert "notifier" not in worker.log().lower() or "notify" in worker.log()
        finally:
            notifier.terminate()
            output, _ = notifier.communicate(timeout=30)
            worker.stop()
        assert notifier.returncode == 0, output
        assert slack.url not in output and siem.url not in output
