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


PARTITIONED = {"ACCESSDRIFT_RESOLVER_PARTITIONS": "4", "ACCESSDRIFT_TOPIC_PARTITIONS": "4"}


def test_a_worker_killed_while_facts_wait_between_resolver_partitions_loses_nothing(
    isolated: Isolated, tmp_path: Path
) -> None:
    """4 resolver partitions over 2 workers; one is killed mid-stream, at the first
    moment the /stats/ of either shows facts waiting for an answer from another
    partition (they live in the subjects' changelog): the other takes its partitions
    over and the topics come out exact."""
    import threading

    org = organisation(isolated, tmp_path, seed=828, identities=200, parts=3)
    second = Isolated(data_dir=tmp_path / "second", prefix=isolated.prefix)
    first_worker = Worker(isolated, **PARTITIONED)
    second_worker = Worker(second, **PARTITIONED)
    try:
        replay(isolated, org.parts[0], **PARTITIONED)
        sending = threading.Thread(target=replay, args=(isolated, org.parts[1]), kwargs=PARTITIONED)
        sending.start()
        waiting_seen = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not waiting_seen:
            waiting_seen = sum(
                worker.client.stages().get("resolver:waiting", 0)
                for worker in (first_worker, second_worker)
            )
            time.sleep(0.02)
        first_worker.process.send_signal(signal.SIGKILL)
        first_worker.process.wait()
        first_worker.stop()
        sending.join()
        say(
            "injected: SIGKILL one of two workers of 4 resolver partitions, "
            + (
                f"{waiting_seen} facts waiting for an answer"
                if waiting_seen
                else "no wait seen within 60 s (killed mid-stream all the same)"
            )
        )
        replay(isolated, org.parts[2], **PARTITIONED)

        def exact() -> bool:
            return drained(second_worker) and judge_topics(isolated, org)["perfect"]

        wait_until(exact, timeout=300, interval=5)
        figures = judge_topics(isolated, org)
        assert figures["perfect"] is True, figures
        assert second_worker.client.stages().get("resolver:hops", 0) > 0
    finally:
        first_worker.stop()
        second_worker.stop()
