"""Helpers shared by the tests: a worker in a subprocess, polling, Kafka reads."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import Consumer, TopicPartition

from accessdrift.commands.worker_client import WorkerProcess

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose next one is free too (a local broker's controller listens there)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def free_port_run(count: int) -> int:
    """A free port whose next ``count - 1`` are free too (a local cluster's nodes)."""
    while True:
        port = free_port()
        if port + count > 65535:
            continue
        free = True
        for offset in range(1, count):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + offset))
                except OSError:
                    free = False
                    break
        if free:
            return port


def wait_until(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.25) -> T:
    """Poll until ``check`` returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        time.sleep(interval)
        last = check()
    return last


@dataclass
class Isolated:
    """One test's own deployment (prefix), data folder and web port on the shared broker.

    The prefix alone names the deployment's topics, groups and state, as for a user."""

    data_dir: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}.")
    web_port: int = field(default_factory=free_port)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("ACCESSDRIFT_")
        }
        env.update(
            ACCESSDRIFT_DATA_DIR=str(self.data_dir),
            ACCESSDRIFT_TOPIC_PREFIX=self.prefix,
            ACCESSDRIFT_WORKER_WEB_PORT=str(self.web_port),
        )
        env.update(extra)
        return env

    def cli(
        self, *args: str, stdin: bytes | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "accessdrift.cli", *args],
            env=self.env(**extra),
            cwd=REPO,
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def simulate(
        self, folder: Path, seed: int, identities: int, *options: str
    ) -> tuple[Path, Path]:
        """`accessdrift simulate` into ``folder``: (the canonical lines, the ground truth)."""
        org, truth = folder / "org.jsonl", folder / "truth.json"
        made = self.cli(
            "simulate", "--seed", str(seed), "--identities", str(identities), *options,
            "-o", str(org), "--truth", str(truth),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        return org, truth


class Worker:
    """`accessdrift worker` in a subprocess, queried over its HTTP view."""

    def __init__(self, isolated: Isolated, **extra_env: str) -> None:
        self.isolated = isolated
        self.worker = WorkerProcess(
            isolated.env(**extra_env),
            isolated.web_port,
            isolated.data_dir / f"worker-{uuid.uuid4().hex[:6]}.log",
        )
        self.process = self.worker.process
        self.client = self.worker.client
        try:
            self.worker.wait_ready()
        except RuntimeError as error:
            raise AssertionError(str(error)) from error

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.client.query(sql)

    def stats(self) -> dict[str, int]:
        return self.client.normalized()

    def count(self, sql: str) -> int:
        return int(self.query(sql)[0]["n"])

    def log(self) -> str:
        return self.worker.log_tail()

    def stop(self) -> None:
        self.worker.stop()


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
    """Read a topic from the start until ``expected`` messages (or the timeout)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions
    consumer.assign([TopicPartition(topic, partition, 0) for partition in partitions])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            messages.append(message)
        # Anything beyond what was expected is a failure too: look a little longer.
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    return messages
