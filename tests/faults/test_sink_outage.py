"""ClickHouse inserts failing for 60 s (the sink's fault seam, accessdrift/sinks/faults.py): the
worker backs off, its memory stays bounded (back-pressure: the inputs wait in
Kafka), /ready/, /stats/ and /metrics/ show the outage while it lasts, and once
inserts succeed again nothing is missing and nothing doubled."""

import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.faults.scenario import judge, metric, organisation, replay, rss_mb, say, wait_for
from tests.helpers import Isolated, Worker

OUTAGE_SECONDS = 60.0


def test_sixty_seconds_of_failing_inserts_lose_nothing(isolated: Isolated, tmp_path: Path) -> None:
    org = organisation(isolated, tmp_path, seed=606, identities=150, parts=2)
    switch = tmp_path / "faults"
    worker = Worker(isolated, ACCESSDRIFT_FAULT_FILE=str(switch))
    port = isolated.web_port
    try:
        replay(isolated, org.parts[0])
        wait_for(lambda: worker.client.stages().get("sink:cloud_audit", 0) > 0, 120, "first rows")
        before = rss_mb(worker.process.pid)

        switch.write_text("clickhouse-insert\n")
        say(f"injected: inserts fail for {OUTAGE_SECONDS:.0f}s (rss before {before:.0f} MB)")
        started = time.monotonic()
        replay(isolated, org.parts[1])  # arrives during the outage: it must wait in Kafka

        def failing() -> dict[str, Any] | None:
            state: dict[str, Any] = worker.client.readiness()
            return None if state["sinking"] else state

        ready = wait_for(failing, 60, "/ready/ says the sink is failing")
        assert ready["ready"] is False and ready["consuming"] is True
        # /ready/ is open: the error (which may quote a row) is behind the token, on /stats/.
        assert "sink" not in ready
        assert "fault injected" in worker.client.get("/stats/")["sink"]["last_error"]
        peak = before
        while time.monotonic() - started < OUTAGE_SECONDS:
            peak = max(peak, rss_mb(worker.process.pid))
            time.sleep(1)
        during = worker.client.get("/stats/")["sink"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=10) as page:
            metrics = page.read().decode()
        assert during["sinking"] is False and during["retries"] >= 3
        assert metric(metrics, "accessdrift_sink_failing_seconds") > 10
        assert metric(metrics, "accessdrift_sink_insert_retries_total") >= 3
        lag = metric(metrics, "accessdrift_consumer_lag")
        say(f"during: {during['retries']} retries, consumer lag {lag:.0f}, peak rss {peak:.0f} MB")

        switch.unlink()
        say("injected: inserts succeed again")
        wait_for(lambda: worker.client.readiness()["sinking"], 120, "/ready/ sinks again")
        figures = judge(isolated, worker, org)
        assert figures["perfect"] is True, figures
        assert figures["duplicates"] == 0
        # Back-pressure, not buffering: the outage's records waited in Kafka. The bound is
        # generous (a garbage collector's swing), far below holding the backlog in memory.
        assert peak - before < 150, f"rss grew {peak - before:.0f} MB during the outage"
        assert worker.client.get("/stats/")["sink"]["outages"] == 1
    finally:
        switch.unlink(missing_ok=True)
        worker.stop()
