"""The worker's web views (streams/web.py) served by aiohttp on 127.0.0.1, without Kafka or
ClickHouse: a sink stand-in answers queries and holds the sink's health; and an impostor,
a plain HTTP server that records every byte it is sent."""

import json
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import faust
from aiohttp.test_utils import TestServer

from sinks.clickhouse import QueryResult
from streams.settings import Settings
from streams.sink_health import SinkHealth
from streams.web import register_views

TOKEN = "the-worker-token-of-this-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(sink: SinkStandIn | None = None, **overrides: Any) -> AsyncIterator[Served]:
    """The worker's views on a free port; ``overrides`` are Settings fields (the token is
    TOKEN unless one is given, ``worker_token=None`` for none)."""
    port = free_port()
    fields: dict[str, Any] = {"worker_token": TOKEN, "worker_web_port": port, **overrides}
    settings = Settings(**fields)
    sink = sink or SinkStandIn()
    app = faust.App(f"web-test-{port}", store="memory://", web_port=port)
    register_views(app, settings, sink, Counter(), lambda: True)  # type: ignore[arg-type]
    app.web.init_server()
    web_app = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's
    server = TestServer(web_app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Served(port, settings, sink)
    finally:
        await server.close()


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
