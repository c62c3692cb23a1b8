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
from typing import Any

from accessdrift.evaluate import evaluate
from schemas.codec import codec_for
from tests.faults.scenario import Organisation, judge, organisation, replay, say
from tests.helpers import Isolated, Worker, read_topic, wait_until


def _latest(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """What a sink keeps: the latest version (by detected_at) of each id."""
    kept: dict[str, dict[str, Any]] = {}
    for record in records:
        known = kept.get(record[key])
        if known is None or record["detected_at"] >= known["detected_at"]:
            kept[record[key]] = record
    return list(kept.values())


def judge_topics(isolated: Isolated, org: Organisation) -> dict[str, Any]:
    """drift.lag and drift.alerts read from the broker, folded by id, scored."""

    def read(name: str, record: str) -> list[dict[str, Any]]:
        messages = read_topic("127.0.0.1:9092", f"{isolated.prefix}{name}", 10**6, timeout=10)
        return [codec_for(record).decode_dict(message.value()) for message in messages]

    lags, alerts = read("drift.lag", "ProvisioningLag"), read("drift.alerts", "Alert")
    figures = evaluate(
        org.expected(), _latest(alerts, "alert_id"), _latest(lags, "lag_id"), 0
    ).as_dict()
    say(
        f"found in the topics: {len(lags)} lag records, {len(alerts)} alert records; "
        f"perfect={figures['perfect']} lags={figures['lags']['detected']}/"
        f"{figures['lags']['expected']} missing={figures['missing'][:3]} "
        f"unexpected={figures['unexpected'][:3]}"
    )
    return figures


def drained(*workers: Worker) -> bool:
    sent = done = 0
    for worker in workers:
        stages = worker.client.stages()
        sent += stages.get("identity:messages_sent", 0)
        done += stages.get("identity:messages_done", 0)
    return done >= sent


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
