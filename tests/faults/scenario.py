"""What the fault tests share: an organisation in parts, its replay, and the judge.

Every fault test prints what it injected and what it found (`pytest -s` shows it;
CI's log keeps it), and is judged by `accessdrift evaluate` against the simulator's
ground truth: exact, no lag row or alert missing, none doubled.
"""

import json
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import Isolated, Worker, wait_until


def say(message: str) -> None:
    print(f"[fault] {message}", flush=True)


@dataclass
class Organisation:
    parts: list[Path]
    truth: Path
    events: int

    def expected(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.truth.read_text())
        return loaded


def organisation(
    isolated: Isolated, folder: Path, seed: int, identities: int, parts: int, days: float = 3
) -> Organisation:
    org, truth = isolated.simulate(folder, seed, identities, "--days", str(days))
    lines = org.read_text().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    files = []
    for index in range(parts):
        part = folder / f"part-{index + 1}.jsonl"
        part.write_text("".join(lines[index * size : (index + 1) * size]))
        files.append(part)
    say(f"organisation: seed {seed}, {identities} identities, {len(lines)} lines in {parts} parts")
    return Organisation(files, truth, json.loads(truth.read_text())["events"])


def replay(isolated: Isolated, part: Path, **env: str) -> None:
    sent = isolated.cli("replay", "--format", "canonical", str(part), **env)
    assert sent.returncode == 0, sent.stderr


def judge(
    isolated: Isolated,
    worker: Worker,
    org: Organisation,
    timeout: float = 240,
    deadline: float | None = None,
    **env: str,
) -> dict[str, Any]:
    """Wait until detection has drained and `evaluate` is exact (or the timeout, or the
    ``deadline``, a ``time.monotonic()``), then return evaluate's figures; the caller
    asserts on them. Not settled: the worker's thread stacks go to the test's output."""

    def settled() -> bool:
        if worker.process.poll() is not None:
            raise RuntimeError(  # not an AssertionError: the wait below must not swallow it
                f"the worker exited ({worker.process.returncode}):\n{worker.log()}"
            )
        stages = worker.client.stages()
        return (
            stages.get("identity:messages_done", 0) >= stages.get("identity:messages_sent", 0)
            and isolated.cli("evaluate", str(org.truth), **env).returncode == 0
        )

    if deadline is not None:
        # Conclude here, with the figures and the worker's threads, before pytest's own
        # timeout would stop the test mid-call and show neither.
        timeout = max(10.0, min(timeout, deadline - time.monotonic()))
    try:
        wait_until(settled, timeout=timeout, interval=2)
    except AssertionError:  # the figures say what is wrong; the stacks say where it waits
        say(f"not settled in {timeout:.0f}s; stages: {worker.client.stages()}")
        dump_threads(worker)
    scored = isolated.cli("evaluate", "--json", str(org.truth), **env)
    figures: dict[str, Any] = json.loads(scored.stdout)
    say(
        f"found: perfect={figures.get('perfect')} duplicates={figures.get('duplicates')} "
        + f"lags={figures['lags']['detected']}/{figures['lags']['expected']} "
        + " ".join(
            f"{kind}={row['detected']}/{row['expected']}"
            for kind, row in sorted(figures["alerts"].items())
        )
    )
    return figures


def dump_threads(worker: Worker) -> None:
    """Every thread's stack of a running worker, from its log: SIGUSR1 makes Faust's
    worker (mode) write its threads and its asyncio tasks there (docs/operations.md)."""
    if worker.process.poll() is not None:
        return
    path = worker.worker.log_path
    before = path.stat().st_size
    worker.process.send_signal(signal.SIGUSR1)
    time.sleep(2.0)
    with path.open("rb") as log:
        log.seek(before)
        dumped = log.read().decode(errors="replace")
    threads = dumped.split("\nTASKS", 1)[0]
    say("worker threads (SIGUSR1):\n" + threads[-30000:])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children's threads (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def metric(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples in a /metrics/ page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(check: Any, timeout: float, what: str) -> Any:
    started = time.monotonic()
    found = wait_until(check, timeout=timeout, interval=0.5)
    say(f"{what} after {time.monotonic() - started:.1f}s")
    return found
