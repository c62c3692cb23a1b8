"""A local Apache Kafka cluster of N KRaft nodes on loopback, for the fault tests.

Each node is broker and controller (a static quorum of all N), with its own folder
under ``<data dir>/kafka/node-<id>`` and ports ``P + 2 (id - 1)`` (broker) and one
above it (controller), P being the bootstrap's port: 9092, 9094, 9096 by default.
Topics get three replicas and need two in sync for a write (``acks=all``), so one
node may die without a record lost. The same Maven jars as the single node.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from accessdrift.errors import LocalKafkaError
from accessdrift.kafka.admin import broker_answers, coordinator_ready
from accessdrift.kafka.local import KAFKA_VERSION, START_TIMEOUT_SECONDS, LocalKafka
from accessdrift.settings import Settings

NODE_HEAP = "512m"  # three JVMs on a two-core CI machine


@dataclass(frozen=True)
class LocalCluster:
    settings: Settings
    brokers: int = 3

    @property
    def base(self) -> Path:
        return (self.settings.data_dir / "kafka").resolve()

    @property
    def layout_file(self) -> Path:
        return self.base / "cluster.json"

    def _first(self) -> tuple[str, int]:
        return LocalKafka(self.settings).host_port()

    @property
    def bootstrap(self) -> str:
        host, port = self._first()
        return ",".join(f"{host}:{port + 2 * index}" for index in range(self.brokers))

    def client_settings(self) -> Settings:
        """The settings with every node as bootstrap: clients survive any one node."""
        return self.settings.model_copy(update={"kafka_bootstrap": self.bootstrap})

    def nodes(self, cluster_id: str | None = None) -> list[LocalKafka]:
        host, port = self._first()
        voters = tuple((index + 1, host, port + 2 * index + 1) for index in range(self.brokers))
        return [
            LocalKafka(
                self.settings.model_copy(update={"kafka_bootstrap": f"{host}:{port + 2 * index}"}),
                node_id=index + 1,
                voters=voters,
                folder=f"node-{index + 1}",
                cluster_id=cluster_id,
                heap=NODE_HEAP,
            )
            for index in range(self.brokers)
        ]

    def node(self, node_id: int) -> LocalKafka:
        return self.nodes(self._cluster_id())[node_id - 1]

    def _cluster_id(self) -> str | None:
        try:
            layout = json.loads(self.layout_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if layout.get("brokers") != self.brokers:
            return None
        return str(layout["cluster_id"])

    # -- up / down --------------------------------------------------------------

    def up(self) -> str:
        if self.brokers < 1:
            raise LocalKafkaError("--brokers: at least 1")
        single = LocalKafka(self.settings)
        if single.pid() is not None:
            raise LocalKafkaError(
                "the single-node broker runs on these ports: `accessdrift kafka down` first"
            )
        cluster_id = self._cluster_id()
        started = time.monotonic()
        if cluster_id is None:
            # A new layout: the nodes' folders of another size or id cannot join it.
            for node in self.nodes():
                node.down()
            single.fetch_jars()
            cluster_id = single.random_uuid()
            self.base.mkdir(parents=True, exist_ok=True)
            for node in self.nodes(cluster_id):
                shutil.rmtree(node.home, ignore_errors=True)
            self.layout_file.write_text(
                json.dumps({"brokers": self.brokers, "cluster_id": cluster_id})
            )
        for node in self.nodes(cluster_id):
            if node.pid() is None:
                node.start_node()
        self.wait_until_answering()
        return (
            f"Kafka {KAFKA_VERSION} cluster of {self.brokers} nodes running at {self.bootstrap} "
            f"(answered after {time.monotonic() - started:.1f}s); clients: "
            f"ACCESSDRIFT_KAFKA_BOOTSTRAP={self.bootstrap}"
        )

    def start(self, node_id: int) -> None:
        """Bring one node back (after ``kill``), and wait until the cluster answers."""
        node = self.node(node_id)
        if node.pid() is None:
            node.start_node()
        self.wait_until_answering()

    def kill(self, node_id: int) -> int | None:
        return self.node(node_id).kill()

    def wait_until_answering(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        nodes = self.nodes(self._cluster_id())
        while time.monotonic() < deadline:
            dead = [node.node_id for node in nodes if node.pid() is None]
            if dead:
                raise LocalKafkaError(
                    f"node(s) {dead} exited; see {nodes[dead[0] - 1].log_dir / 'stdout.log'}"
                )
            if all(node.answers() for node in nodes) and coordinator_ready(self.client_settings()):
                return
            time.sleep(0.5)
        raise LocalKafkaError(f"the cluster did not answer within {timeout:.0f}s")

    def controller_leader(self) -> int | None:
        """The node id of the active KRaft controller, as the live nodes' quorum state
        records it (the latest epoch wins): the node whose death forces an election."""
        best: tuple[int, int] | None = None
        for node in self.nodes(self._cluster_id()):
            if node.pid() is None:
                continue
            try:
                state = json.loads(
                    (node.data_dir / "__cluster_metadata-0" / "quorum-state").read_text()
                )
            except (FileNotFoundError, ValueError):
                continue
            leader, epoch = int(state.get("leaderId", -1)), int(state.get("leaderEpoch", -1))
            if leader > 0 and (best is None or epoch > best[1]):
                best = (leader, epoch)
        return best[0] if best else None

    def down(self) -> str:
        stopped = [node.down() for node in self.nodes(self._cluster_id())]
        return "; ".join(f"node {index + 1}: {said}" for index, said in enumerate(stopped))

    def status(self) -> str:
        lines = []
        for node in self.nodes(self._cluster_id()):
            pid = node.pid()
            answering = pid is not None and broker_answers(node.settings, timeout=2.0)
            state = "running" if answering else ("not answering" if pid else "stopped")
            lines.append(f"node {node.node_id} at {node.settings.kafka_bootstrap}: {state}")
        return "\n".join(lines)

    @staticmethod
    def present(settings: Settings) -> int:
        """How many nodes the last cluster here had (0: none was started)."""
        try:
            layout = json.loads((settings.data_dir / "kafka" / "cluster.json").read_text())
        except (FileNotFoundError, ValueError):
            return 0
        return int(layout.get("brokers", 0))
