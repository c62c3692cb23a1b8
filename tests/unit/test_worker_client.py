"""`accessdrift query` and every WorkerClient: the server on the worker's port proves it
holds the token before the token goes out; an impostor (a dummy server that binds the port
while the worker is down, or one that relays to the real worker) never sees it."""

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from accessdrift.commands.query import run_query
from accessdrift.commands.worker_client import WorkerClient
from accessdrift.errors import ClickHouseError, WorkerImpostor
from accessdrift.settings import Settings
from tests.unit.web_harness import TOKEN, http_response, impostor, relay, serving

REPO = Path(__file__).resolve().parents[2]
PLAUSIBLE = {"ready": True, "consuming": True, "sinking": True, "deployment": ""}


def refused_without_the_token(port: int, call: str) -> None:
    client = WorkerClient(f"http://127.0.0.1:{port}", timeout=10, token=TOKEN)
    with pytest.raises(WorkerImpostor) as refused:
        if call == "deployment":
            client.deployment()
        elif call == "query":
            client.post_query("SELECT 1")
        else:
            client.get("/stats/")
    assert str(refused.value) == (
        f"the server on 127.0.0.1:{port} is not this deployment's worker: it could not "
        "prove it holds ACCESSDRIFT_WORKER_TOKEN; nothing was sent"
    )


@pytest.mark.parametrize(
    "answer",
    [
        http_response(200, PLAUSIBLE),  # says it is the worker, proves nothing
        http_response(200, {**PLAUSIBLE, "proof": "0" * 64}),  # a made-up proof
        http_response(200, {**PLAUSIBLE, "proof": None}),
        http_response(401, {"error": "send the token"}, **{"WWW-Authenticate": "Bearer"}),
        http_response(200, b"<html>hello</html>", **{"Content-Type": "text/html"}),
        b"SSH-2.0-OpenSSH_9.6\r\n",  # not HTTP at all
    ],
)
@pytest.mark.parametrize("call", ["deployment", "query", "get"])
def test_an_impostor_on_the_port_gets_nothing(answer: bytes, call: str) -> None:
    with impostor(lambda _: answer) as fake:
        refused_without_the_token(fake.port, call)
    assert fake.raw, "the client never asked"
    assert TOKEN.encode() not in fake.everything()
    assert b"Authorization" not in fake.everything()


async def test_an_impostor_relaying_to_the_real_worker_gets_nothing() -> None:
    """The impostor forwards the client's challenge to the worker (on another port) and
    hands back its answer: the proof names the port the worker serves on, not this one."""
    async with serving() as worker:
        relayed: list[bytes] = []

        def relay(request: bytes) -> bytes:
            target = request.split(b" ", 2)[1].decode()
            try:
                with urllib.request.urlopen(f"{worker.url}{target}", timeout=10) as answered:
                    relayed.append(answered.read())
                    return http_response(answered.status, relayed[-1])
            except urllib.error.HTTPError as error:
                return http_response(error.code, error.read())

        with impostor(relay) as fake:
            for call in ("deployment", "query"):
                await asyncio.to_thread(refused_without_the_token, fake.port, call)
        assert relayed and all(b'"proof"' in answer for answer in relayed), "the worker answered"
        assert TOKEN.encode() not in fake.everything()
        assert worker.sink.queries == []


async def test_an_impostor_relaying_from_another_loopback_address_gets_nothing() -> None:
    """The worker binds ``::`` (IPv6 only, as asyncio binds it), so 127.0.0.1 on its port
    stays free: a local user binds it and pipes every byte to [::1] on the same port. The
    proof the worker gives names the address it was reached on, [::1], not the one the
    client dialled."""
    async with serving(host="::", worker_web_host="::") as worker:
        with relay(("127.0.0.1", worker.port), ("::1", worker.port)) as fake:
            for call in ("deployment", "query", "get"):
                await asyncio.to_thread(refused_without_the_token, worker.port, call)
        assert b"GET /ready/?nonce=" in fake.everything(), "the relay passed the challenge on"
        assert TOKEN.encode() not in fake.everything()
        assert b"Authorization" not in fake.everything()
        assert worker.sink.queries == []


async def test_two_ipv4_loopback_addresses_are_two_addresses_too() -> None:
    """The same relay between 127.0.0.2, where the worker is bound, and 127.0.0.1."""
    async with serving(host="127.0.0.2", worker_web_host="127.0.0.2") as worker:
        with relay(("127.0.0.1", worker.port), ("127.0.0.2", worker.port)) as fake:
            await asyncio.to_thread(refused_without_the_token, worker.port, "query")
        assert b"GET /ready/?nonce=" in fake.everything()
        assert TOKEN.encode() not in fake.everything()
        client = WorkerClient(worker.url, timeout=10, token=TOKEN)  # dialled where it is
        assert (await asyncio.to_thread(client.post_query, "SELECT 1"))["rows"] == [[1]]


async def test_accessdrift_query_reaches_a_worker_bound_to_every_ipv6_address() -> None:
    """``::`` is reached on [::1] (127.0.0.1 is not the worker's: it may be anyone's)."""
    async with serving(host="::", worker_web_host="::") as worker:
        with relay(("127.0.0.1", worker.port), ("::1", worker.port)) as fake:
            result = await asyncio.to_thread(run_query, worker.settings, "SELECT 1 AS n")
        assert result.rows == [(1,)] and worker.sink.queries == ["SELECT 1 AS n"]
        assert fake.everything() == b""


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("::", "http://[::1]:7000"),
        ("0:0::0", "http://[::1]:7000"),
        ("[::]", "http://[::1]:7000"),
        ("::1", "http://[::1]:7000"),
        ("fd00::5", "http://[fd00::5]:7000"),
        ("0.0.0.0", "http://127.0.0.1:7000"),
        ("", "http://127.0.0.1:7000"),
        ("127.0.0.1", "http://127.0.0.1:7000"),
        ("localhost", "http://localhost:7000"),
        ("worker.internal", "http://worker.internal:7000"),
    ],
)
def test_the_worker_url_reaches_the_bound_address(host: str, url: str) -> None:
    assert Settings(worker_web_host=host, worker_web_port=7000).worker_url == url


async def test_the_real_worker_proves_itself_and_then_gets_the_token() -> None:
    async with serving(topic_prefix="team-a.") as worker:
        client = WorkerClient(worker.url, timeout=10, token=TOKEN)
        prefix, clickhouse, database = await asyncio.to_thread(client.deployment)  # type: ignore[misc]
        assert (prefix, clickhouse, database) == (
            "team-a.",
            worker.settings.clickhouse_display,
            worker.sink.clickhouse.database,
        )
        assert await asyncio.to_thread(client.consuming)
        answer = await asyncio.to_thread(client.post_query, "SELECT 1 AS n")
        assert answer["rows"] == [[1]] and worker.sink.queries == ["SELECT 1 AS n"]
        # `accessdrift query` itself, as the command line runs it.
        settings = worker.settings.model_copy(update={"topic_prefix": "team-a."})
        result = await asyncio.to_thread(run_query, settings, "SELECT 1 AS n")
        assert result.rows == [(1,)]


async def test_without_a_token_on_either_side_nothing_changes() -> None:
    async with serving(worker_token=None) as worker:
        client = WorkerClient(worker.url, timeout=10)
        assert await asyncio.to_thread(client.deployment) == (
            "",
            worker.settings.clickhouse_display,
            worker.sink.clickhouse.database,
        )
        answer = await asyncio.to_thread(client.post_query, "SELECT 1 AS n")
        assert answer["rows"] == [[1]]


async def test_a_worker_without_a_token_cannot_prove_it_holds_one() -> None:
    """The client has a token, the server on the port has none: an impostor could say
    that too, so the token stays home."""
    async with serving(worker_token=None) as worker:
        await asyncio.to_thread(refused_without_the_token, worker.port, "query")
        assert worker.sink.queries == []


async def test_a_client_without_the_token_is_told_the_worker_needs_it() -> None:
    async with serving() as worker:
        settings = worker.settings.model_copy(update={"worker_token": None})
        with pytest.raises(ClickHouseError, match="needs its token"):
            await asyncio.to_thread(run_query, settings, "SELECT 1 AS n")


def test_the_command_says_so_in_one_line_and_sends_nothing(tmp_path: Path) -> None:
    with impostor(lambda _: http_response(200, PLAUSIBLE)) as fake:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("ACCESSDRIFT_")
        }
        env.update(
            ACCESSDRIFT_DATA_DIR=str(tmp_path),
            ACCESSDRIFT_WORKER_WEB_PORT=str(fake.port),
            ACCESSDRIFT_WORKER_TOKEN=TOKEN,
        )
        ran = subprocess.run(
            [sys.executable, "-m", "accessdrift.cli", "query", "SELECT 1 AS n"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert ran.returncode == 77, ran  # refused (docs/cli.md)
    assert ran.stderr == (
        f"accessdrift: the server on 127.0.0.1:{fake.port} is not this deployment's worker: "
        "it could not prove it holds ACCESSDRIFT_WORKER_TOKEN; nothing was sent\n"
    )
    assert ran.stdout == ""
    assert TOKEN.encode() not in fake.everything()


async def test_a_worker_behind_port_forwarding_is_still_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Docker publishes the worker on 127.0.0.1 and forwards to its container, where the
    worker is reached on the container's address: not loopback, so no local relay, and
    the client checks the proof without comparing addresses (as behind a proxy)."""
    import accessdrift.streams.web

    monkeypatch.setattr(accessdrift.streams.web, "socket_address", lambda _: "172.17.0.2")
    async with serving() as worker:
        client = WorkerClient(worker.url, timeout=10, token=TOKEN)
        assert (await asyncio.to_thread(client.post_query, "SELECT 1"))["rows"] == [[1]]
