"""A worker killed with SIGKILL mid-stream, and started again, finds exactly what a
worker never killed finds (`accessdrift evaluate` against the simulator's truth)."""

import contextlib
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import Isolated, Worker, wait_until


@dataclass(frozen=True)
class Kill:
    after_part: int  # SIGKILL this long after the given part was replayed
    after_seconds: float


def run_crash_scenario(
    isolated: Isolated,
    tmp_path: Path,
    *,
    seed: int,
    identities: int,
    days: float,
    parts: int,
    kills: list[Kill],
) -> dict[str, Any]:
    """Simulate, replay in ``parts`` while killing the worker as ``kills`` say, evaluate."""
    org, truth = isolated.simulate(tmp_path, seed, identities, "--days", str(days))
    lines = org.read_text().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    files = []
    for index in range(parts):
        part = tmp_path / f"part-{index + 1}.jsonl"
        part.write_text("".join(lines[index * size : (index + 1) * size]))
        files.append(part)
    print(f"crash scenario: seed {seed}, {len(lines)} events in {parts} parts, kills {kills}")

    worker = Worker(isolated)
    try:
        for index, part in enumerate(files, start=1):
            sent = isolated.cli("replay", "--format", "canonical", str(part))
            assert sent.returncode == 0, sent.stderr
            for kill in (kill for kill in kills if kill.after_part == index):
                time.sleep(kill.after_seconds)
                print(f"crash scenario: SIGKILL {kill.after_seconds}s after part {index}")
                worker.process.send_signal(signal.SIGKILL)
                worker.process.wait()
                worker.stop()
                worker = Worker(isolated)
        expected = json.loads(truth.read_text())

        def settled() -> bool:
            stages = worker.client.stages()
            return (
                stages.get("identity:messages_done", 0) >= stages.get("identity:messages_sent", 0)
                and isolated.cli("evaluate", str(truth)).returncode == 0
            )

        with contextlib.suppress(AssertionError):  # the figures below say what is wrong
            wait_until(settled, timeout=240, interval=2)
        scored = isolated.cli("evaluate", "--json", str(truth))
        figures: dict[str, Any] = json.loads(scored.stdout)
        print(isolated.cli("evaluate", str(truth)).stdout)
        assert expected["events"] > 0
        return figures
    finally:
        worker.stop()


def test_two_kills_mid_stream_then_exact(isolated: Isolated, tmp_path: Path) -> None:
    figures = run_crash_scenario(
        isolated,
        tmp_path,
        seed=4242,
        identities=300,
        days=3,
        parts=3,
        kills=[Kill(after_part=1, after_seconds=1.4), Kill(after_part=2, after_seconds=2.4)],
    )
    assert figures["perfect"] is True, json.dumps(figures, indent=1)[:4000]
