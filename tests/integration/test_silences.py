"""Silences as an analyst sets them: `accessdrift alerts silence` before a stream, the
alerts it matches recorded `silenced` and never sent, the rest sent; listed, expired,
and kept in ClickHouse for an auditor."""

import json
import re
from pathlib import Path

from tests.helpers import Isolated, Worker, wait_until
from tests.integration.test_alerts import slack_alert_ids, slack_and_siem


def test_a_silence_holds_back_what_it_matches_and_is_recorded(
    isolated: Isolated, tmp_path: Path
) -> None:
    org, truth = isolated.simulate(tmp_path, 11, 60, "--events-per-second", "0.02")
    expected = json.loads(truth.read_text())["alerts"]
    muted = sorted({a["identity_id"] for a in expected})[0]
    with slack_and_siem(tmp_path) as (slack, _siem, env):
        made = isolated.cli(
            "alerts", "silence", "--match", f"identity_id={muted}", "--for", "7d",
            "--reason", "offboarding under review <!channel>", "--by", "alice", **env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        silence_id = re.search(r"silence (\w+) until", made.stdout).group(1)  # type: ignore[union-attr]
        listed = isolated.cli("alerts", "silences", **env)
        assert silence_id in listed.stdout and f"identity_id={muted}" in listed.stdout

        worker = Worker(isolated, **env)
        try:
            assert isolated.cli("replay", "--format", "canonical", str(org)).returncode == 0
            wait_until(
                lambda: isolated.cli("evaluate", str(truth)).returncode == 0,
                timeout=180,
                interval=1,
            )
            alerts = worker.query("SELECT alert_id, identity_id FROM alerts FINAL")
            quiet = {a["alert_id"] for a in alerts if a["identity_id"] == muted}
            loud = {a["alert_id"] for a in alerts} - quiet
            assert quiet and loud

            def delivered() -> bool:
                sent = {i for r in slack.received for i in slack_alert_ids(r)[0]}
                return sent >= loud

            wait_until(delivered, timeout=60, interval=0.5)
            sent = {i for r in slack.received for i in slack_alert_ids(r)[0]}
            assert not sent & quiet, "a silenced alert reached Slack"
            rows = worker.query(
                "SELECT alert_id, destination, status, answer FROM alert_deliveries FINAL"
            )
            silenced = {
                (r["alert_id"], r["status"], r["answer"]) for r in rows if r["alert_id"] in quiet
            }
            assert {status for _, status, _ in silenced} == {"silenced"}
            assert all(silence_id in answer for _, _, answer in silenced)
            kept = worker.query("SELECT silence_id, created_by, reason FROM alert_silences FINAL")
            assert kept == [
                {"silence_id": silence_id, "created_by": "alice",
                 "reason": "offboarding under review <!channel>"}
            ]  # fmt: skip
        finally:
            worker.stop()

        ended = isolated.cli("alerts", "expire", silence_id, **env)
        assert ended.returncode == 0 and "expired" in ended.stdout
        assert "no active silences" in isolated.cli("alerts", "silences", **env).stdout
        everything = isolated.cli("alerts", "silences", "--all", **env).stdout
        assert silence_id in everything and "expired" in everything
