"""The running worker's HTTP views, for the CLI, the demo, the benchmarks and the tests."""

import hmac
import http.client
import io
import ipaddress
import json
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accessdrift.errors import WorkerImpostor
from accessdrift.worker_proof import socket_address, worker_proof


class WorkerClient:
    """With a token, every request goes on a connection whose server first proved it holds
    that token (``/ready/?nonce=...``, accessdrift/streams/web_auth.py): a local user who binds the
    worker's port while the worker is down gets a challenge, never the token; one who binds
    another loopback address of the port and relays to the worker gets a proof for the
    worker's address, not the one dialled, and no token either. Without a token there is
    no secret to keep, and nothing to prove."""

    def __init__(self, base_url: str, timeout: float = 60.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token or None
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path))

    def readiness(self) -> dict[str, Any]:
        """``/ready/``'s answer whether ready (200) or not (503, the same fields): a worker
        in a sink outage still answers queries and names its deployment."""
        try:
            answer = self.get("/ready/")
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise
            answer = json.loads(error.read())
        if not isinstance(answer, dict):
            raise ValueError("/ready/ did not answer a JSON object")
        return answer

    def post_query(self, sql: str, limit: int | None = None) -> dict[str, Any]:
        """``{"columns": [...], "types": [...], "rows": [[...]], "truncated": bool}``;
        HTTP errors are raised as they come (``urllib.error.HTTPError``)."""
        body: dict[str, Any] = {"sql": sql}
        if limit is not None:
            body["limit"] = limit
        payload: dict[str, Any] = json.loads(
            self._request("POST", "/query/", json.dumps(body).encode(), "application/json")
        )
        return payload

    def query(self, sql: str) -> list[dict[str, Any]]:
        payload = self.post_query(sql)
        return [dict(zip(payload["columns"], row, strict=True)) for row in payload["rows"]]

    def deployment(self) -> tuple[str, str, str] | None:
        """(prefix, ClickHouse, database) of the worker answering here, None if none does.
        ``/ready/`` names the prefix; the ClickHouse DSN and database are on ``/stats/``,
        behind the token. An HTTP error there (a worker that wants a token this client
        lacks) is raised; an impostor is ``WorkerImpostor``."""
        try:
            ready = self.readiness()
        except (OSError, ValueError, http.client.HTTPException):
            return None  # no worker answers (an HTTPError is an OSError too)
        # Not "ready" may mean an outage of the sink: queries still go to this worker,
        # which holds the engine; only another deployment's worker is refused.
        if not isinstance(ready, dict) or "deployment" not in ready:
            return None
        try:
            stats = self.get("/stats/")
        except urllib.error.HTTPError:
            raise
        except (OSError, ValueError, http.client.HTTPException):
            return None
        serves = stats.get("deployment") if isinstance(stats, dict) else None
        if not isinstance(serves, dict):
            return None
        return (
            str(ready.get("deployment", "")),
            str(serves.get("clickhouse", "")),
            str(serves.get("database", "")),
        )

    def consuming(self) -> bool:
        try:
            return bool(self.readiness().get("consuming"))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return False

    def stages(self) -> dict[str, int]:
        return dict(self.get("/stats/")["stages"])

    def normalized(self) -> dict[str, int]:
        return dict(self.get("/stats/")["normalized"])

    def _request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> bytes:
        """One request on a connection of its own: with a token, on the connection the
        server proved itself on, so that no other server can take the port in between."""
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._host, self._port, timeout=self.timeout)
        headers: dict[str, str] = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            if self.token is not None:
                self._prove(connection, self.token)
                # Never a new connection (http.client opens one by itself once the server
                # closed this one): a new one could reach another server.
                connection.auto_open = 0
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                connection.request(method, path, body=body, headers=headers)
            except http.client.NotConnected as error:
                raise ConnectionResetError("the worker closed the connection") from error
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            raise urllib.error.HTTPError(
                f"{self.base_url}{path}", response.status, response.reason,
                _message(response.getheaders()), io.BytesIO(data),
            )  # fmt: skip
        return data

    def _prove(self, connection: http.client.HTTPConnection, token: str) -> None:
        """Ask the server on ``connection`` to prove it holds ``token``, sending no secret."""
        nonce = secrets.token_hex(32)
        impostor = WorkerImpostor(
            f"the server on {self._host}:{self._port} is not this deployment's worker: it "
            "could not prove it holds ACCESSDRIFT_WORKER_TOKEN; nothing was sent"
        )
        try:
            connection.request("GET", f"/ready/?nonce={nonce}")
            dialled = _dialled(connection)
            response = connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, ValueError) as error:
            if isinstance(error, ConnectionError):
                raise  # no answer at all (a closed connection): no worker, no impostor
            raise impostor from error  # an answer, but not HTTP
        try:
            # 503 is a worker that is not ready (a sink outage): it still proves itself.
            answer = json.loads(data) if response.status in (200, 503) else None
        except ValueError:
            answer = None
        proof = answer.get("proof") if isinstance(answer, dict) else None
        deployment = answer.get("deployment") if isinstance(answer, dict) else None
        address = answer.get("address") if isinstance(answer, dict) else None
        if not isinstance(proof, str) or not isinstance(deployment, str):
            raise impostor
        if not isinstance(address, str):
            raise impostor
        if _loopback(dialled) and _loopback(address) and address != dialled:
            # On loopback a relay is the threat: another local user on 127.0.0.1 in front
            # of a worker on [::1] (or 127.0.0.2) reaches it through that other address,
            # which the worker's proof names. Elsewhere the worker cannot know the address
            # its client dialled (a proxy, NAT, Docker's port forwarding to a container's
            # address), so the proof names the port alone there; a worker on loopback
            # holds the address its client dials (worker_url dials [::1] for "::"), so
            # no local user can stand in front of it there.
            raise impostor
        expected = worker_proof(token, nonce, self._port, deployment, address)
        if not hmac.compare_digest(proof.encode("utf-8", "replace"), expected.encode()):
            raise impostor


def _dialled(connection: http.client.HTTPConnection) -> str:
    """The address this connection reached (the one name resolution gave and the socket
    connected to, ``localhost`` resolved): what the proof must name on loopback."""
    sock = connection.sock
    if sock is None:
        raise ConnectionResetError("the worker closed the connection")
    return socket_address(str(sock.getpeername()[0]))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _message(headers: list[tuple[str, str]]) -> Message:
    message = Message()
    for name, value in headers:
        message[name] = value
    return message


class WorkerProcess:
    """`accessdrift worker` in a subprocess (demo, benchmarks, tests): started, ready, stopped."""

    def __init__(
        self, env: dict[str, str], port: int, log_path: Path, timeout: float = 60.0
    ) -> None:
        self.log_path = log_path
        self.prefix = env.get("ACCESSDRIFT_TOPIC_PREFIX", "")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.client = WorkerClient(
            f"http://127.0.0.1:{port}", timeout=timeout, token=env.get("ACCESSDRIFT_WORKER_TOKEN")
        )
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "accessdrift.cli", "worker", "--loglevel", "warning"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            answering = self.client.deployment()
            if answering is not None and not self.client.consuming():
                answering = None  # it answers, but its ingest does not read yet
            if answering is not None:
                if answering[0] == self.prefix:
                    return
                raise RuntimeError(
                    f"another deployment ({answering[0]!r}) answers on this worker's port"
                )
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, characters: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
