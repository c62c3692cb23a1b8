"""`make demo`: the whole pipeline on embedded defaults, bounded in time.

Starts a worker (its own data folder under .accessdrift/demo), replays the
bundled canonical sample through the local Kafka, waits until it has landed in
ClickHouse, prints what landed, and stops the worker.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "canonical-sample.jsonl"
DEMO_DATA = REPO / ".accessdrift" / "demo"
WEB_PORT = 6067
TIME_LIMIT_SECONDS = 180


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ACCESSDRIFT_DATA_DIR=str(DEMO_DATA),
        ACCESSDRIFT_TOPIC_PREFIX=f"demo{int(time.time())}.",
        ACCESSDRIFT_WORKER_ID=f"accessdrift-demo-{int(time.time())}",
        ACCESSDRIFT_WORKER_WEB_PORT=str(WEB_PORT),
    )
    return env


def _query(sql: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{WEB_PORT}/query/",
        data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.load(response)
    return [dict(zip(payload["columns"], row, strict=True)) for row in payload["rows"]]


def _wait(check: Any, deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"demo: gave up waiting for {what}")


def main() -> None:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    env = _env()
    DEMO_DATA.mkdir(parents=True, exist_ok=True)
    log_path = DEMO_DATA / "worker.log"
    print(f"demo: starting the worker (log: {log_path})")
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "accessdrift.cli", "worker", "--loglevel", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: _query("SELECT 1 AS ok"), deadline, "the worker to be ready")
        print(f"demo: replaying {SAMPLE.relative_to(REPO)}")
        subprocess.run(
            [sys.executable, "-m", "accessdrift.cli", "replay", str(SAMPLE)], env=env, check=True
        )
        expected = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())
        tables = ["directory_changes", "cloud_audit", "secret_usage", "identity_links"]
        count_sql = " + ".join(f"(SELECT count() FROM {table} FINAL)" for table in tables)

        def landed() -> bool:
            return int(_query(f"SELECT {count_sql} AS n")[0]["n"]) >= expected

        _wait(landed, deadline, "the events to land in ClickHouse")
        print("\ndemo: what landed in ClickHouse")
        for table in tables:
            n = _query(f"SELECT count() AS n FROM {table} FINAL")[0]["n"]
            print(f"  {table:<20} {n} rows")
        for row in _query(
            "SELECT event_time, kind, action, account_id FROM cloud_audit FINAL ORDER BY event_time"
        ):
            print(
                f"  {row['event_time']}  {row['kind']:<20} {row['action']:<16} {row['account_id']}"
            )
        print(
            '\nnext: .venv/bin/accessdrift query "SELECT * FROM cloud_audit FINAL" '
            f"(with ACCESSDRIFT_DATA_DIR={DEMO_DATA.relative_to(REPO)})"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
        print("demo: worker stopped")


if __name__ == "__main__":
    main()
