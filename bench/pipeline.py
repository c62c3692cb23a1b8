"""Helpers of the benchmarks: a worker in a subprocess, its stage counters, its memory."""

import os
import time
import uuid
from pathlib import Path
from typing import Any

from accessdrift.commands.worker_client import WorkerProcess

REPO = Path(__file__).resolve().parent.parent


class BenchWorker:
    def __init__(self, data_dir: Path, prefix: str, port: int, **env: str) -> None:
        self.port = port
        self.data_dir = data_dir
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSDRIFT_")}
        environment.update(
            ACCESSDRIFT_DATA_DIR=str(data_dir),
            ACCESSDRIFT_TOPIC_PREFIX=prefix,
            ACCESSDRIFT_WORKER_ID=f"bench-{uuid.uuid4().hex[:8]}",
            ACCESSDRIFT_WORKER_WEB_PORT=str(port),
            **env,
        )
        self.worker = WorkerProcess(environment, port, data_dir / "worker.log", timeout=30)
        self.process = self.worker.process
        self.client = self.worker.client
        self.worker.wait_ready()

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.client.query(sql)

    def stages(self) -> dict[str, int]:
        return self.client.stages()

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.worker.stop()


def directory_size_mb(path: Path) -> float:
    total = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    return total / 1024 / 1024


def wait_until_drained(worker: BenchWorker, inputs: int, timeout: float) -> float:
    """Seconds until every input passed the resolver and every identity message was handled."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        stages = worker.stages()
        if stages.get("resolver:records", 0) >= inputs and stages.get(
            "identity:messages_done", 0
        ) >= stages.get("identity:messages_sent", 0):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"not drained in {timeout}s: {worker.stages()}")


INPUT_SINKS = (
    "sink:cloud_audit",
    "sink:secret_usage",
    "sink:directory_changes",
    "sink:identity_links",
)


def wait_for_first_input(worker: BenchWorker, timeout: float = 120.0) -> float:
    """The monotonic time the worker's first input batch was written: it has started consuming."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages = worker.stages()
        if any(stages.get(name, 0) > 0 for name in INPUT_SINKS) or stages.get(
            "resolver:records", 0
        ):
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"the worker consumed nothing in {timeout}s: {worker.stages()}")
