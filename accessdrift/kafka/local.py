"""A local Apache Kafka (KRaft) for development and CI: one node, or one node of a
loopback cluster (accessdrift/kafka/cluster.py).

The broker jars come from Maven Central (``org.apache.kafka:kafka_2.13`` and its
runtime dependencies, resolved by Maven from ``kafka_dist/pom.xml``) and are
cached under the data folder. Nothing here fakes a broker: ``up`` returns once
a real broker answers a metadata request.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from accessdrift.errors import LocalKafkaError
from accessdrift.kafka.admin import broker_answers, coordinator_ready
from accessdrift.settings import Settings

KAFKA_VERSION = "4.4.0"
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class LocalKafka:
    settings: Settings
    # Broker properties over the defaults (tests add a SASL_SSL listener this way).
    extra: Mapping[str, str] = field(default_factory=dict)
    # In a cluster: this node's id, every controller as (node id, host, port), the
    # node's folder under the kafka folder and the cluster's id. Alone: none of them.
    node_id: int = 1
    voters: tuple[tuple[int, str, int], ...] = ()
    folder: str = ""
    cluster_id: str | None = None
    heap: str = "1g"

    @property
    def base(self) -> Path:
        return (self.settings.data_dir / "kafka").resolve()

    @property
    def home(self) -> Path:
        return self.base / self.folder if self.folder else self.base

    @property
    def libs(self) -> Path:
        return self.base / f"libs-{KAFKA_VERSION}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def host_port(self) -> tuple[str, int]:
        first = self.settings.kafka_bootstrap.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        if not host or not port.isdigit():
            raise LocalKafkaError(f"cannot run a local broker for bootstrap {first!r}")
        return host, int(port)

    # -- status ---------------------------------------------------------------

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def status(self) -> str:
        pid = self.pid()
        answering = broker_answers(self.settings, timeout=2.0)
        if pid and answering:
            return f"running (pid {pid}) at {self.settings.kafka_bootstrap}"
        if pid:
            return f"started (pid {pid}) but not answering at {self.settings.kafka_bootstrap}"
        if answering:
            return f"a broker not started by accessdrift answers at {self.settings.kafka_bootstrap}"
        return "stopped"

    # -- up -------------------------------------------------------------------

    def up(self) -> str:
        if broker_answers(self.settings, timeout=1.0):
            pid = self.pid()
            owner = f"pid {pid}" if pid else "not started by accessdrift"
            self._wait_until_answering()  # a restarted broker may still load its groups
            return f"already running at {self.settings.kafka_bootstrap} ({owner})"
        if self.pid() is not None:
            self.down()
        java = self._require("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        self.fetch_jars()
        self._write_config()
        self._format_storage(java)
        started = time.monotonic()
        self._start(java)
        self._wait_until_answering()
        return (
            f"Kafka {KAFKA_VERSION} running at {self.settings.kafka_bootstrap} "
            f"(pid {self.pid()}, answered after {time.monotonic() - started:.1f}s)"
        )

    def start_node(self) -> None:
        """A node of a cluster: configured, formatted once, started; not waited for (its
        group coordinator needs the other nodes)."""
        java = self._require("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        self.fetch_jars()
        self._write_config()
        self._format_storage(java)
        self._start(java)

    def kill(self) -> int | None:
        """SIGKILL, as a crash: no clean shutdown, no leadership handed over."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while time.monotonic() < deadline and self.pid() is not None:
                self._reap(pid)
                time.sleep(0.1)
            self.pid_file.unlink(missing_ok=True)
        return pid

    def answers(self) -> bool:
        return self.pid() is not None and broker_answers(self.settings, timeout=1.0)

    @staticmethod
    def _require(program: str, what: str) -> str:
        path = shutil.which(program)
        if path is None:
            raise LocalKafkaError(f"`{program}` is not on PATH: the local Kafka needs {what}")
        return path

    def fetch_jars(self) -> None:
        marker = self.libs / ".complete"
        if marker.exists():
            return
        maven = self._require(
            "mvn", "Apache Maven to fetch the broker jars (apt-get install maven)"
        )
        self.libs.mkdir(parents=True, exist_ok=True)
        pom = resources.files("accessdrift").joinpath("kafka_dist/pom.xml")
        with resources.as_file(pom) as pom_path:
            command = [
                maven,
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                "Maven could not fetch the Kafka broker jars:\n"
                + (result.stdout + result.stderr).strip()[-4000:]
            )
        if not list(self.libs.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
            raise LocalKafkaError(f"Maven ran but left no kafka_2.13 jar in {self.libs}")
        marker.touch()

    def _write_config(self) -> None:
        host, port = self.host_port()
        controller_port = port + 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Alone, every topic has one replica; in a cluster of three or more, three, and a
        # write needs two of them (acks=all): one broker may die without losing a record.
        replicas = str(min(3, len(self.voters))) if self.voters else "1"
        in_sync = "2" if self.voters and len(self.voters) >= 3 else "1"
        quorum = (
            {
                "controller.quorum.voters": ",".join(
                    f"{node}@{voter_host}:{voter_port}"
                    for node, voter_host, voter_port in self.voters
                )
            }
            if self.voters
            else {"controller.quorum.bootstrap.servers": f"{host}:{controller_port}"}
        )
        properties = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **quorum,
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.settings.topic_partitions),
            "default.replication.factor": replicas,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": in_sync,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "168",
            **self.extra,
        }
        self.config_file.write_text(
            "".join(f"{key}={value}\n" for key, value in properties.items())
        )

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _format_storage(self, java: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        base = [java, "-cp", self._classpath(), "kafka.tools.StorageTool"]
        if self.voters:  # a static quorum: every node formatted with the cluster's one id
            assert self.cluster_id is not None
            self._run([*base, "format", "-t", self.cluster_id, "-c", str(self.config_file)])
            return
        cluster_id = self._run([*base, "random-uuid"]).strip().splitlines()[-1]
        self._run([*base, "format", "-t", cluster_id, "-c", str(self.config_file), "--standalone"])

    def random_uuid(self) -> str:
        java = self._require("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        command = [java, "-cp", self._classpath(), "kafka.tools.StorageTool", "random-uuid"]
        return self._run(command).strip().splitlines()[-1]

    def _run(self, command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"{' '.join(command[-3:])} failed:\n{(result.stdout + result.stderr).strip()}"
            )
        return result.stdout

    def _start(self, java: str) -> None:
        log4j = resources.files("accessdrift").joinpath("kafka_dist/log4j2.properties")
        log4j_copy = self.home / "log4j2.properties"
        log4j_copy.write_text(log4j.read_text(encoding="utf-8"))
        command = [
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dlog4j2.configurationFile={log4j_copy}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(self.config_file),
        ]
        with open(self.log_dir / "stdout.log", "ab") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise LocalKafkaError(
                    f"the broker exited during start-up; see {self.log_dir / 'stdout.log'}:\n"
                    + self._tail()
                )
            if broker_answers(self.settings, timeout=1.0) and coordinator_ready(self.settings):
                return
            time.sleep(0.3)
        raise LocalKafkaError(
            f"the broker did not answer within {START_TIMEOUT_SECONDS:.0f}s:\n{self._tail()}"
        )

    def _tail(self) -> str:
        lines: list[str] = []
        for name in ("stdout.log", "server.log"):
            path = self.log_dir / name
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-20:]
        return "\n".join(lines)

    # -- down -----------------------------------------------------------------

    def down(self) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.pid() is not None:
            self._reap(pid)
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            self._reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (pid {pid})"

    @staticmethod
    def _reap(pid: int) -> None:
        # A broker started by this same process is its child: collect it so it
        # does not linger as a zombie that still "exists" for os.kill(pid, 0).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
