"""Deployments with different prefixes share one broker and never each other's state.

The prefix alone names a deployment (topics, Faust's internal and changelog
topics, consumer groups, local state, database), as a user sets it.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from accessdrift.kafka.admin import delete_topics
from accessdrift.settings import Settings
from tests.helpers import Isolated, Worker, read_topic, wait_until


@pytest.fixture
def organisation(isolated: Isolated, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    org, truth = isolated.simulate(tmp_path, 11, 60, "--events-per-second", "0.02")
    return org, json.loads(truth.read_text()) | {"path": str(truth)}


@pytest.fixture
def other(kafka: Settings, isolated: Isolated) -> Iterator[Isolated]:
    """A second deployment on the same data folder and port."""
    second = Isolated(data_dir=isolated.data_dir, web_port=isolated.web_port)
    yield second
    delete_topics(kafka, [second.prefix])


def replay_and_check(
    deployment: Isolated, worker: Worker, organisation: tuple[Path, dict[str, object]]
) -> None:
    """Replay the organisation into ``deployment``; its findings are exact, on its topics."""
    org, truth = organisation
    sent = deployment.cli("replay", "--format", "canonical", str(org))
    assert sent.returncode == 0, sent.stderr

    def drained() -> bool:
        stages = worker.client.stages()
        return stages.get("resolver:records", 0) >= int(str(truth["events"])) and stages.get(
            "identity:messages_done", 0
        ) >= stages.get("identity:messages_sent", 0)

    wait_until(drained, timeout=180, interval=0.5)
    scored = wait_until(
        lambda: (run := deployment.cli("evaluate", str(truth["path"]))).returncode == 0 and run,
        timeout=60,
        interval=1,
    )
    assert "perfect" in scored.stdout or scored.returncode == 0
    # Emitted by this deployment, not found "already raised" in another one's state.
    bootstrap = "127.0.0.1:9092"
    alerts = read_topic(bootstrap, f"{deployment.prefix}drift.alerts", len(truth["alerts"]))  # type: ignore[arg-type]
    lags = read_topic(bootstrap, f"{deployment.prefix}drift.lag", len(truth["lags"]))  # type: ignore[arg-type]
    assert len(alerts) >= len(truth["alerts"])  # type: ignore[arg-type]
    assert len(lags) >= len(truth["lags"])  # type: ignore[arg-type]


def test_two_prefixes_one_after_the_other_on_one_data_folder_then_a_reset(
    kafka: Settings,
    isolated: Isolated,
    other: Isolated,
    organisation: tuple[Path, dict[str, object]],
    tmp_path: Path,
) -> None:
    first = Worker(isolated)
    try:
        replay_and_check(isolated, first, organisation)
    finally:
        first.stop()

    second = Worker(other)
    try:
        replay_and_check(other, second, organisation)
    finally:
        second.stop()

    # The first deployment's topics deleted (as a reset broker would): its local
    # state on disk no longer matches, is rebuilt, and the replay is exact again.
    delete_topics(kafka, [isolated.prefix])
    again = Worker(isolated)
    # Meanwhile a third deployment runs at the same time, its own folder and port.
    third_deployment = Isolated(data_dir=tmp_path / "third")
    third = Worker(third_deployment)
    try:
        replay_and_check(isolated, again, organisation)
        replay_and_check(third_deployment, third, organisation)
        assert again.log().count("is stale") == 1, again.log()
        assert "is stale" not in third.log()
    finally:
        again.stop()
        third.stop()
        delete_topics(kafka, [third_deployment.prefix])


def test_a_query_never_reads_another_deployments_worker(
    isolated: Isolated, other: Isolated
) -> None:
    """The worker on the port serves another prefix: query opens its own database."""
    running = Worker(isolated)
    try:
        mine = isolated.cli("query", "--format", "json", "SELECT currentDatabase() AS db")
        assert mine.returncode == 0, mine.stderr
        assert json.loads(mine.stdout)["db"] == Settings(topic_prefix=isolated.prefix).database
        ready = running.client.readiness()
        assert ready["deployment"] == isolated.prefix
        # The other deployment has its own data folder here, free to open.
        elsewhere = other.cli(
            "query",
            "--format",
            "json",
            "SELECT currentDatabase() AS db",
            ACCESSDRIFT_DATA_DIR=str(other.data_dir.parent / "elsewhere"),
        )
        assert elsewhere.returncode == 0, elsewhere.stderr
        assert json.loads(elsewhere.stdout)["db"] == Settings(topic_prefix=other.prefix).database
    finally:
        running.stop()


def test_a_fresh_data_folder_for_a_deployment_the_broker_knows_is_filled_again(
    isolated: Isolated, organisation: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """A user removes the data folder (or clones afresh) and runs the same deployment on
    the same broker: its consumer groups have read everything, its database is empty.
    The worker reads the topics again into the new database, without feeding detection
    twice, and the same replay again is exact."""
    first = Worker(isolated)
    try:
        replay_and_check(isolated, first, organisation)
    finally:
        first.stop()

    fresh = Isolated(data_dir=tmp_path / "fresh", prefix=isolated.prefix)
    again = Worker(fresh)
    try:
        replay_and_check(fresh, again, organisation)
        assert again.log().count("holds less than deployment") == 1, again.log()
        doubled = fresh.cli(
            "query",
            "--format",
            "json",
            "SELECT count() - uniqExact(alert_id) AS doubled FROM alerts FINAL",
        )
        assert doubled.returncode == 0, doubled.stderr
        assert json.loads(doubled.stdout)["doubled"] == 0
    finally:
        again.stop()
