"""The local broker's set-up, without starting it (the integration tests start it for real)."""

from pathlib import Path

import pytest

from accessdrift.errors import LocalKafkaError
from accessdrift.kafka.local import LocalKafka
from accessdrift.settings import Settings


def test_config_is_a_single_kraft_node_with_replication_factor_one(tmp_path: Path) -> None:
    local = LocalKafka(Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092"))
    local._write_config()
    lines = dict(line.split("=", 1) for line in local.config_file.read_text().splitlines() if line)
    assert lines["process.roles"] == "broker,controller"
    assert lines["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert lines[key] == "1"


def test_missing_java_is_said_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = LocalKafka(Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    monkeypatch.setattr("accessdrift.kafka.local.shutil.which", lambda program: None)
    with pytest.raises(LocalKafkaError, match=r"`java` is not on PATH.*Java 17"):
        local.up()


def test_missing_maven_is_said_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = LocalKafka(Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    monkeypatch.setattr(
        "accessdrift.kafka.local.shutil.which",
        lambda program: "/usr/bin/java" if program == "java" else None,
    )
    with pytest.raises(LocalKafkaError, match=r"`mvn` is not on PATH.*Maven"):
        local.up()


def test_a_bootstrap_it_cannot_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="cannot run a local broker"):
        LocalKafka(Settings(data_dir=tmp_path, kafka_bootstrap="kafka")).host_port()


def test_status_and_down_when_nothing_runs(tmp_path: Path) -> None:
    local = LocalKafka(Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    assert local.status() == "stopped"
    assert local.down() == "not running"


def test_a_cluster_is_n_nodes_on_loopback_with_three_replicas_and_two_in_sync(
    tmp_path: Path,
) -> None:
    from accessdrift.kafka.cluster import LocalCluster

    cluster = LocalCluster(Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:19092"), 3)
    assert cluster.bootstrap == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    configs = []
    for node in cluster.nodes("cluster-id"):
        node._write_config()
        configs.append(
            dict(line.split("=", 1) for line in node.config_file.read_text().splitlines() if line)
        )
    assert [config["node.id"] for config in configs] == ["1", "2", "3"]
    assert configs[2]["listeners"] == "PLAINTEXT://127.0.0.1:19096,CONTROLLER://127.0.0.1:19097"
    for config in configs:
        assert config["controller.quorum.voters"] == (
            "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
        )
        assert config["default.replication.factor"] == config["offsets.topic.replication.factor"]
        assert (config["default.replication.factor"], config["min.insync.replicas"]) == ("3", "2")
    assert len({config["log.dirs"] for config in configs}) == 3, "a folder per node"
