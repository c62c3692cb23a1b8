"""The resolver partitioned by subject on a real broker: 4 resolver partitions over 2
workers (each its own data folder and port: one process per embedded database), a
simulated organisation replayed across a rebalance, and drift.lag and drift.alerts,
the topics both workers write, exact against the ground truth. Chains from a key to
its account to its identity cross partitions and workers: the answers between
resolver partitions travel on the resolve topic, between the two processes."""

import time
from pathlib import Path

from tests.faults.scenario import organisation, replay, say
from tests.helpers import Isolated, Worker, wait_until
from tests.topics_judge import drained, judge_topics

PARTITIONED = {"ACCESSDRIFT_RESOLVER_PARTITIONS": "4", "ACCESSDRIFT_TOPIC_PARTITIONS": "4"}


def test_four_resolver_partitions_over_two_workers_find_exactly_the_truth(
    isolated: Isolated, tmp_path: Path
) -> None:
    org = organisation(isolated, tmp_path, seed=818, identities=200, parts=3)
    second = Isolated(data_dir=tmp_path / "second", prefix=isolated.prefix)
    first_worker = Worker(isolated, **PARTITIONED)
    second_worker: Worker | None = None
    try:
        replay(isolated, org.parts[0], **PARTITIONED)
        time.sleep(1.0)
        second_worker = Worker(second, **PARTITIONED)
        say("a second worker joined mid-stream: the resolver partitions are shared")
        replay(isolated, org.parts[1], **PARTITIONED)
        replay(isolated, org.parts[2], **PARTITIONED)
        workers = (first_worker, second_worker)

        def exact() -> bool:
            return drained(*workers) and judge_topics(isolated, org)["perfect"]

        wait_until(exact, timeout=300, interval=5)
        figures = judge_topics(isolated, org)
        assert figures["perfect"] is True, figures
        stages = [worker.client.stages() for worker in workers]
        say(
            "resolver records per worker "
            f"{[stage.get('resolver:records', 0) for stage in stages]}, answers between "
            f"partitions handled {[stage.get('resolver:hops', 0) for stage in stages]}"
        )
        # Both workers resolved, and chains crossed partitions on the broker.
        assert all(stage.get("resolver:records", 0) > 0 for stage in stages), stages
        assert sum(stage.get("resolver:hops", 0) for stage in stages) > 0, stages
        assert all(stage.get("resolver:waiting", 0) == 0 for stage in stages), stages
    finally:
        first_worker.stop()
        if second_worker is not None:
            second_worker.stop()
