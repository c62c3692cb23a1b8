"""The running worker's HTTP views, for the CLI, the demo, the benchmarks and the tests."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


class WorkerClient:
    def __init__(self, base_url: str, timeout: float = 60.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.base_url}{path}", headers=self.headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.load(response)

    def post_query(self, sql: str, limit: int | None = None) -> dict[str, Any]:
        """``{"columns": [...], "types": [...], "rows": [[...]], "truncated": bool}``;
        HTTP errors are raised as they come."""
        body: dict[str, Any] = {"sql": sql}
        if limit is not None:
            body["limit"] = limit
        request = urllib.request.Request(
            f"{self.base_url}/query/",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **self.headers},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload: dict[str, Any] = json.load(response)
        return payload

    def query(self, sql: str) -> list[dict[str, Any]]:
        payload = self.post_query(sql)
        return [dict(zip(payload["columns"], row, strict=True)) for row in payload["rows"]]

    def deployment(self) -> tuple[str, str, str] | None:
        """(prefix, ClickHouse, database) of the worker answering here, None if none does."""
        try:
            ready = self.get("/ready/")
        except (OSError, ValueError):
            return None
        # Not "ready" may mean an outage of the sink: queries still go to this worker,
        # which holds the engine; only another deployment's worker is refused.
        if not isinstance(ready, dict) or "deployment" not in ready:
            return None
        return (
            str(ready.get("deployment", "")),
            str(ready.get("clickhouse", "")),
            str(ready.get("database", "")),
        )

    def consuming(self) -> bool:
        try:
            return bool(self.get("/ready/").get("consuming"))
        except (OSError, ValueError, AttributeError):
            return False

    def stages(self) -> dict[str, int]:
        return dict(self.get("/stats/")["stages"])

    def normalized(self) -> dict[str, int]:
        return dict(self.get("/stats/")["normalized"])


class WorkerProcess:
    """`accessdrift worker` in a subprocess (demo, benchmarks, tests): started, ready, stopped."""

    def __init__(
        self, env: dict[str, str], port: int, log_path: Path, timeout: float = 60.0
    ) -> None:
        self.log_path = log_path
        self.prefix = env.get("ACCESSDRIFT_TOPIC_PREFIX", "")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.client = WorkerClient(
            f"http://127.0.0.1:{port}", timeout=timeout, token=env.get("ACCESSDRIFT_WORKER_TOKEN")
        )
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "accessdrift.cli", "worker", "--loglevel", "warning"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            answering = self.client.deployment()
            if answering is not None and not self.client.consuming():
                answering = None  # it answers, but its ingest does not read yet
            if answering is not None:
                if answering[0] == self.prefix:
                    return
                raise RuntimeError(
                    f"another deployment ({answering[0]!r}) answers on this worker's port"
                )
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, characters: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
