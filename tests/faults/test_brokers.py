"""Broker failures: a three-node KRaft cluster (`accessdrift kafka up --brokers 3`),
one node killed with SIGKILL mid-stream and brought back, then the active
controller's node; and a single broker killed and restarted. Topics have three
replicas and need two in sync; every producer writes with acks=all and
idempotence. Judged against the truth: nothing lost, nothing doubled."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from accessdrift.kafka.cluster import LocalCluster
from accessdrift.kafka.local import KAFKA_VERSION, LocalKafka
from accessdrift.settings import Settings
from tests.faults.scenario import judge, organisation, replay, say
from tests.helpers import REPO, Isolated, Worker, free_port_pair, free_port_run


def _share_jars(data_dir: Path) -> None:
    """The jars `make test` fetched already: no second Maven run per test."""
    libs = f"libs-{KAFKA_VERSION}"
    (data_dir / "kafka").mkdir(parents=True, exist_ok=True)
    source = (REPO / ".accessdrift" / "kafka" / libs).resolve()
    if source.exists() and not (data_dir / "kafka" / libs).exists():
        os.symlink(source, data_dir / "kafka" / libs)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    data_dir = tmp_path / "cluster"
    _share_jars(data_dir)
    port = free_port_run(6)
    running = LocalCluster(
        Settings(data_dir=data_dir, kafka_bootstrap=f"127.0.0.1:{port}"), brokers=3
    )
    say(running.up())
    yield running
    running.down()


def test_a_node_then_the_controllers_node_killed_mid_stream_lose_nothing(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    # The judge concludes before pytest's own timeout (300 s, the cluster's start
    # included), so that a run that does not settle shows its figures and the worker's
    # thread stacks (it stalled once in CI, with neither).
    deadline = time.monotonic() + 250
    isolated = Isolated(data_dir=tmp_path / "data")
    env = {
        "ACCESSDRIFT_KAFKA_BOOTSTRAP": cluster.bootstrap,
        "ACCESSDRIFT_TOPIC_REPLICATION_FACTOR": "3",
    }
    org = organisation(isolated, tmp_path, seed=707, identities=150, parts=3)
    worker = Worker(isolated, **env)
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        topic = f"{isolated.prefix}cloud.audit"
        described = admin.list_topics(topic, timeout=10).topics[topic]
        assert all(len(partition.replicas) == 3 for partition in described.partitions.values())
        (config,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
        assert config.result(timeout=10)["min.insync.replicas"].value == "2"

        replay(isolated, org.parts[0], **env)
        controller = cluster.controller_leader()
        victim = next(node for node in (1, 2, 3) if node != controller)
        time.sleep(1.0)
        say(f"injected: SIGKILL node {victim} (pid {cluster.kill(victim)}), not the controller")
        replay(isolated, org.parts[1], **env)  # two of three in sync: writes go on
        time.sleep(2.0)
        cluster.start(victim)
        say(f"node {victim} back")

        controller = cluster.controller_leader()
        assert controller is not None
        say(f"injected: SIGKILL node {controller}, the active controller's")
        cluster.kill(controller)
        replay(isolated, org.parts[2], **env)
        time.sleep(2.0)
        cluster.start(controller)
        say(f"node {controller} back; new controller {cluster.controller_leader()}")

        figures = judge(isolated, worker, org, deadline=deadline, **env)
        assert figures["perfect"] is True, figures
        assert figures["duplicates"] == 0
    finally:
        worker.stop()


def test_a_single_broker_killed_and_restarted_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    _share_jars(data_dir)
    broker = LocalKafka(
        Settings(data_dir=data_dir, kafka_bootstrap=f"127.0.0.1:{free_port_pair()}")
    )
    say(broker.up())
    env = {"ACCESSDRIFT_KAFKA_BOOTSTRAP": broker.settings.kafka_bootstrap}
    isolated = Isolated(data_dir=tmp_path / "data")
    org = organisation(isolated, tmp_path, seed=708, identities=120, parts=2)
    worker = Worker(isolated, **env)
    try:
        replay(isolated, org.parts[0], **env)
        time.sleep(1.5)
        pid = broker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        say(f"injected: SIGKILL the only broker (pid {pid}) mid-stream")
        time.sleep(3.0)
        say(broker.up())
        replay(isolated, org.parts[1], **env)
        figures = judge(isolated, worker, org, **env)
        assert figures["perfect"] is True, figures
        assert figures["duplicates"] == 0
    finally:
        worker.stop()
        broker.down()
