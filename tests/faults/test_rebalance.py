"""Rebalances: a second worker of the same deployment (its own data folder and port:
one process per embedded database) started mid-stream, then one of the two killed:
partitions move, tables recover from their changelogs, and drift.lag and
drift.alerts, the topics both workers write, are exact against the ground truth.
And a worker's local state folder deleted while it is stopped: rebuilt from the
changelogs, results exact."""

import shutil
import signal
import time
from pathlib import Path

from tests.faults.scenario import judge, organisation, replay, say
from tests.helpers import Isolated, Worker, wait_until
from tests.topics_judge import drained, judge_topics


def test_a_second_worker_joins_then_one_is_killed_and_the_topics_are_exact(
    isolated: Isolated, tmp_path: Path
) -> None:
    org = organisation(isolated, tmp_path, seed=808, identities=200, parts=3)
    second = Isolated(data_dir=tmp_path / "second", prefix=isolated.prefix)
    first_worker = Worker(isolated)
    second_worker: Worker | None = None
    try:
        replay(isolated, org.parts[0])
        time.sleep(1.0)
        second_worker = Worker(second)
        say("injected: a second worker joined mid-stream (rebalance)")
        replay(isolated, org.parts[1])
        time.sleep(2.0)
        first_worker.process.send_signal(signal.SIGKILL)
        first_worker.process.wait()
        first_worker.stop()
        say("injected: SIGKILL the first worker: its partitions move to the second")
        replay(isolated, org.parts[2])

        def exact() -> bool:
            assert second_worker is not None
            return drained(second_worker) and judge_topics(isolated, org)["perfect"]

        wait_until(exact, timeout=300, interval=5)
        figures = judge_topics(isolated, org)
        assert figures["perfect"] is True, figures
    finally:
        first_worker.stop()
        if second_worker is not None:
            second_worker.stop()


def test_local_state_deleted_while_stopped_is_rebuilt_from_the_changelogs(
    isolated: Isolated, tmp_path: Path
) -> None:
    org = organisation(isolated, tmp_path, seed=809, identities=150, parts=2)
    worker = Worker(isolated)
    try:
        replay(isolated, org.parts[0])
        wait_until(lambda: drained(worker), timeout=120, interval=1)
        worker.stop()
        state = isolated.data_dir / "worker"
        removed = sorted(path.name for path in state.iterdir())
        shutil.rmtree(state)
        say(f"injected: local state deleted while stopped ({removed})")
        worker = Worker(isolated)
        replay(isolated, org.parts[1])
        figures = judge(isolated, worker, org)
        assert figures["perfect"] is True, figures
        assert figures["duplicates"] == 0
    finally:
        worker.stop()
