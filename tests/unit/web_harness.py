"""The worker's web views (accessdrift/streams/web.py) served by aiohttp on 127.0.0.1, without Kafka or
ClickHouse: a sink stand-in answers queries and holds the sink's health; and an impostor,
a plain HTTP server that records every byte it is sent."""

import json
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import faust
from aiohttp import web

from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import QueryResult
from accessdrift.streams.sink_health import SinkHealth
from accessdrift.streams.web import register_views

TOKEN = "the-worker-token-of-this-test"


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class ClickHouseStandIn:
    database: str = "accessdrift"


@dataclass
class SinkStandIn:
    health: SinkHealth = field(default_factory=SinkHealth)
    clickhouse: ClickHouseStandIn = field(default_factory=ClickHouseStandIn)
    queries: list[str] = field(default_factory=list)

    async def query(self, sql: str, limit: int | None = None) -> QueryResult:
        self.queries.append(sql)
        return QueryResult(["n"], [(1,)], ["UInt8"])


@dataclass
class Served:
    port: int
    settings: Settings
    sink: SinkStandIn
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@asynccontextmanager
async def serving(
    sink: SinkStandIn | None = None, host: str = "127.0.0.1", **overrides: Any
) -> AsyncIterator[Served]:
    """The worker's views on a free port of ``host`` (``::`` binds IPv6 only, as Faust's
    aiohttp driver does); ``overrides`` are Settings fields (the token is TOKEN unless
    one is given, ``worker_token=None`` for none); ``ingest_running`` stands for the
    worker's ingest (running unless given)."""
    port = free_port("::1" if host == "::" else host)
    ingest_running = overrides.pop("ingest_running", lambda: True)
    fields: dict[str, Any] = {"worker_token": TOKEN, "worker_web_port": port, **overrides}
    settings = Settings(**fields)
    sink = sink or SinkStandIn()
    app = faust.App(f"web-test-{port}", store="memory://", web_port=port)
    register_views(app, settings, sink, Counter(), ingest_running)  # type: ignore[arg-type]
    app.web.init_server()
    web_app = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's
    # As Faust's aiohttp driver serves it (a TCPSite: asyncio binds ``::`` IPv6 only).
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield Served(port, settings, sink, "::1" if host == "::" else host)
    finally:
        await runner.cleanup()


@dataclass
class Impostor:
    """Listens where the worker would and answers every request with ``answer(raw)``
    (a whole HTTP response); ``raw`` keeps every byte any client sent it."""

    answer: Callable[[bytes], bytes]
    raw: list[bytes] = field(default_factory=list)
    port: int = 0

    def everything(self) -> bytes:
        return b"".join(self.raw)


def http_response(status: int, body: Any, **headers: str) -> bytes:
    payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@contextmanager
def impostor(answer: Callable[[bytes], bytes]) -> Iterator[Impostor]:
    found = Impostor(answer)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            # One request per connection, read up to the end of its headers and body.
            self.request.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < length:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                body += chunk
            found.raw.append(head + b"\r\n\r\n" + body)
            self.request.sendall(found.answer(received))

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    found.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Relay:
    """What a relay was sent by its clients, every byte, in order."""

    sent: list[bytes] = field(default_factory=list)

    def everything(self) -> bytes:
        return b"".join(self.sent)


@contextmanager
def relay(listen: tuple[str, int], target: tuple[str, int]) -> Iterator[Relay]:
    """A local impostor that binds ``listen`` and pipes every connection's bytes both ways
    to ``target`` (the real worker, reached through another address), recording what the
    client sends: the token, if the client ever sends it here."""
    found = Relay()
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    server = socket.socket(family)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(listen)
    server.listen(8)

    def pipe(source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    found.sent.append(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed: the test is over
            upstream = socket.create_connection(target, timeout=10)
            threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(timeout=10)
