"""Alerts reach people: a simulated organisation through the worker, with a routing
file sending to a Slack-shaped receiver and a signed webhook receiver (real HTTP
servers on 127.0.0.1); the worker killed and started again in the middle."""

import hashlib
import hmac
import json
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers import Isolated, Worker, wait_until
from tests.receivers import Received, Receiver, receiving

SECRET = "test-signing-secret-0123456789"
USES = ("used_after_deprovision", "used_after_revocation", "attempted_after_deprovision")


def routes_file(folder: Path) -> Path:
    path = folder / "routes.yaml"
    path.write_text(
        "destinations:\n"
        "  soc-slack: {type: slack, url_env: TEST_SLACK_URL,"
        " link: 'http://127.0.0.1:6066/evidence/{identity_id}'}\n"
        "  siem: {type: webhook, url_env: TEST_SIEM_URL, secret_env: TEST_SIEM_SECRET}\n"
        "routes:\n"
        "  - match: {min_severity: info}\n"
        "    to: [soc-slack]\n"
        "    group_wait: 1s\n"
        "    group_interval: 2s\n"
        f"  - match: {{kind: [{', '.join(USES)}]}}\n"
        "    to: [siem, soc-slack]\n"
        "    group_wait: 1s\n"
        "    group_interval: 2s\n"
        "max_age: 3650d  # the simulated organisation is history\n"
    )
    return path


@contextmanager
def slack_and_siem(
    folder: Path, slack: Receiver | None = None
) -> Iterator[tuple[Receiver, Receiver, dict[str, str]]]:
    """A Slack-shaped receiver (answering ok unless given one), a SIEM webhook receiver
    (202), and the environment of a worker routing to them (``routes_file``)."""
    slack = slack or Receiver()
    siem = Receiver(answer=lambda _: (202, "", {}))
    with receiving(slack), receiving(siem):
        yield (
            slack,
            siem,
            {
                "ACCESSDRIFT_ALERT_ROUTES": str(routes_file(folder)),
                "TEST_SLACK_URL": slack.url,
                "TEST_SIEM_URL": siem.url,
                "TEST_SIEM_SECRET": SECRET,
            },
        )


def slack_alert_ids(request: Received) -> tuple[list[str], bool]:
    message = request.json()
    text = json.dumps(message["blocks"])
    update = message["blocks"][0]["text"]["text"].startswith("Update:")
    return re.findall(r"alert_id `([^`]+)`", text), update


def signed(request: Received) -> bool:
    stamp = request.headers["X-Accessdrift-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256)
    return bool(
        hmac.compare_digest(
            request.headers["X-Accessdrift-Signature"], f"sha256={expected.hexdigest()}"
        )
        and abs(time.time() - int(stamp)) < 300
    )


def test_every_routed_alert_reaches_each_destination_once_across_a_kill(
    isolated: Isolated, tmp_path: Path
) -> None:
    org, truth = isolated.simulate(tmp_path, 11, 60, "--events-per-second", "0.02")
    expected_events = json.loads(truth.read_text())["events"]
    lines = org.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    parts = [tmp_path / "part-1.jsonl", tmp_path / "part-2.jsonl"]
    parts[0].write_text("".join(lines[:half]))
    parts[1].write_text("".join(lines[half:]))

    # The Slack stand-in fails its first two requests (a 503, then a 429 with
    # Retry-After): the notifier must retry, and still send each alert once.
    answers = iter([(503, "unavailable", {}), (429, "rate_limited", {"Retry-After": "1"})])
    failing_first = Receiver(answer=lambda _: next(answers, (200, "ok", {})))
    with slack_and_siem(tmp_path, failing_first) as (slack, siem, env):
        worker = Worker(isolated, **env)
        try:
            assert isolated.cli("replay", "--format", "canonical", str(parts[0])).returncode == 0
            wait_until(lambda: len(slack.received) >= 3, timeout=120, interval=0.2)
            print(f"alerts: SIGKILL after {len(slack.received)} Slack requests")
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            worker.stop()
            worker = Worker(isolated, **env)
            assert isolated.cli("replay", "--format", "canonical", str(parts[1])).returncode == 0

            def settled() -> bool:
                stages = worker.client.stages()
                return (
                    stages.get("resolver:records", 0) >= 1
                    and stages.get("identity:messages_done", 0)
                    >= stages.get("identity:messages_sent", 0)
                    and isolated.cli("evaluate", str(truth)).returncode == 0
                )

            wait_until(settled, timeout=240, interval=1)
            alerts = worker.query("SELECT alert_id, kind FROM alerts FINAL")
            routed = {row["alert_id"] for row in alerts if row["kind"] in USES}
            everything = {row["alert_id"] for row in alerts}

            def all_arrived() -> bool:
                slack_ids = {i for r in slack.received[2:] for i in slack_alert_ids(r)[0]}
                siem_ids = {a["alert_id"] for r in siem.received for a in r.json()["alerts"]}
                return slack_ids >= everything and siem_ids >= routed

            wait_until(all_arrived, timeout=120, interval=0.5)
            time.sleep(3)  # anything more that would come (a double) comes now

            slack_sent = [
                alert_id
                for request in slack.received[2:]
                for alert_id in slack_alert_ids(request)[0]
                if not slack_alert_ids(request)[1]
            ]
            siem_sent = [
                a["alert_id"]
                for r in siem.received
                if not r.json().get("update")
                for a in r.json()["alerts"]
            ]
            doubled_slack = len(slack_sent) - len(set(slack_sent))
            doubled_siem = len(siem_sent) - len(set(siem_sent))
            print(
                f"alerts: {len(everything)} alerts ({len(routed)} to the SIEM) from "
                f"{expected_events} events; Slack got {len(slack.received)} requests "
                f"({len(slack_sent)} alerts, {doubled_slack} doubled), SIEM "
                f"{len(siem.received)} ({len(siem_sent)} alerts, {doubled_siem} doubled)"
            )
            assert set(slack_sent) == everything
            assert set(siem_sent) == routed
            # One kill: at most the message in flight at that instant, per destination.
            assert doubled_slack <= 16 and doubled_siem <= 100
            assert all(signed(r) for r in siem.received), "every request signed"
            assert all(
                r.headers["Content-Type"].startswith("application/json") for r in siem.received
            )

            deliveries = worker.query(
                "SELECT alert_id, destination, status, attempts FROM alert_deliveries FINAL"
            )
            by_key: dict[tuple[str, str], dict[str, Any]] = {
                (row["alert_id"], row["destination"]): row for row in deliveries
            }
            assert {k for k in by_key if k[1] == "siem"} == {(a, "siem") for a in routed}
            assert {k for k in by_key if k[1] == "soc-slack"} == {
                (a, "soc-slack") for a in everything
            }
            assert {row["status"] for row in deliveries} == {"sent"}
            assert (
                max(row["attempts"] for row in deliveries if row["destination"] == "soc-slack") >= 2
            )
            # As Prometheus scrapes it (what this worker sent since its restart).
            with urllib.request.urlopen(f"http://127.0.0.1:{isolated.web_port}/metrics/") as page:
                metrics = page.read().decode()
            sent_metric = re.search(
                r'accessdrift_alert_deliveries_total\{deployment="[^"]*",status="sent"\} (\S+)',
                metrics,
            )
            assert sent_metric and float(sent_metric.group(1)) > 0, metrics
        finally:
            worker.stop()


def test_health_notices_reach_the_health_destinations(isolated: Isolated, tmp_path: Path) -> None:
    """Inputs silent past the threshold, then a burst of records that are not records:
    notices to the `health` route, firing then resolved, and none about alerts."""
    from confluent_kafka import Producer

    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "destinations:\n"
        "  ops: {type: slack, url_env: TEST_SLACK_URL}\n"
        "  siem: {type: webhook, url_env: TEST_SIEM_URL, secret_env: TEST_SIEM_SECRET}\n"
        "health: {to: [ops, siem]}\n"
    )
    slack = Receiver()
    siem = Receiver()
    with receiving(slack), receiving(siem):
        worker = Worker(
            isolated,
            ACCESSDRIFT_ALERT_ROUTES=str(routes),
            ACCESSDRIFT_HEALTH_SILENT_AFTER="3s",
            ACCESSDRIFT_HEALTH_DEADLETTERS_PER_MINUTE="5",
            TEST_SLACK_URL=slack.url,
            TEST_SIEM_URL=siem.url,
            TEST_SIEM_SECRET=SECRET,
        )
        try:

            def headlines() -> list[str]:
                return [r.json()["blocks"][0]["text"]["text"] for r in slack.received]

            def notices() -> list[dict[str, Any]]:
                return [n for r in siem.received for n in r.json()["notices"]]

            wait_until(
                lambda: (
                    {n["subject"] for n in notices() if n["condition"] == "input_silent"}
                    >= {"directory.changes", "cloud.audit", "secret.usage"}
                ),
                timeout=60,
                interval=0.5,
            )
            producer = Producer({"bootstrap.servers": "127.0.0.1:9092"})
            for n in range(20):
                producer.produce(f"{isolated.prefix}cloud.audit", value=f"<!channel> {n}".encode())
            assert producer.flush(30) == 0
            wait_until(
                lambda: any(n["condition"] == "deadletter_spike" for n in notices()),
                timeout=60,
                interval=0.5,
            )
            print(
                f"health: {len(notices())} notices: {[(n['condition'], n['subject'], n['state']) for n in notices()]}"
            )
            assert all(signed(r) for r in siem.received)
            assert any("PROBLEM: input silent" in h for h in headlines()), headlines()
            assert any("PROBLEM: deadletter spike" in h for h in headlines()), headlines()
            assert all("alerts" not in r.json() for r in siem.received)
            firing = [(n["condition"], n["subject"]) for n in notices() if n["state"] == "firing"]
            assert len(firing) == len(set(firing)), "each condition fires once per episode"
        finally:
            worker.stop()
