"""/query/'s answer (accessdrift/streams/web_query.py ``answer_query``): a bounded number of analyst
queries at a time, and an unexpected failure as one short line in the log (issue 23, item 7)."""

import asyncio
import logging

import pytest

from accessdrift.errors import ClickHouseError, QueryRefused
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import QueryLimits, QueryResult, error_line
from accessdrift.streams.web_query import QueryGate, answer_query

ONE = QueryResult(["n"], [(1,)], ["UInt8"])


async def settle() -> None:
    """Let every task that can run do so (a few turns of the loop, counted)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Held:
    """A stand-in for ``sink.query`` whose queries run until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.finished = 0

    async def query(self, sql: str, limit: int | None = None) -> QueryResult:
        self.started += 1
        await self.release.wait()
        self.finished += 1
        return ONE


async def test_more_queries_than_the_gate_holds_are_refused_at_once() -> None:
    held = Held()
    gate = QueryGate(2)
    running = [
        asyncio.ensure_future(answer_query({"sql": "SELECT 1"}, gate, held.query)) for _ in range(2)
    ]
    await settle()
    status, body, headers = await answer_query({"sql": "SELECT 1"}, gate, held.query)
    assert status == 429 and body["busy"] is True and headers["Retry-After"]
    assert "ACCESSDRIFT_QUERY_CONCURRENCY" in body["error"]
    assert held.started == 2, "the refused query never reached ClickHouse"
    held.release.set()
    assert [(await answer)[0] for answer in running] == [200, 200]
    assert gate.busy == 0
    assert (await answer_query({"sql": "SELECT 1"}, gate, held.query))[0] == 200


async def test_a_client_that_hangs_up_keeps_its_slot_until_its_query_ends() -> None:
    """The query goes on in ClickHouse's thread when the request is cancelled: freeing
    the slot then would let a client queue any number of queries by hanging up."""
    held = Held()
    gate = QueryGate(1)
    request = asyncio.ensure_future(answer_query({"sql": "SELECT 1"}, gate, held.query))
    await settle()
    assert held.started == 1
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert gate.busy == 1
    assert (await answer_query({"sql": "SELECT 1"}, gate, held.query))[0] == 429
    held.release.set()
    await settle()
    assert held.finished == 1 and gate.busy == 0


async def test_refusals_and_clickhouse_errors_keep_their_statuses() -> None:
    async def refused(sql: str, limit: int | None = None) -> QueryResult:
        raise QueryRefused("read-only")

    async def failed(sql: str, limit: int | None = None) -> QueryResult:
        raise ClickHouseError("Code: 60. UNKNOWN_TABLE")

    gate = QueryGate(1)
    assert (await answer_query({"sql": "DROP TABLE x"}, gate, refused))[:2] == (
        403,
        {"error": "read-only", "refused": True},
    )
    assert (await answer_query({"sql": "SELECT 1 FROM x"}, gate, failed))[0] == 400
    assert (await answer_query({"sql": 1}, gate, failed))[0] == 400
    assert (await answer_query({"sql": "SELECT 1", "limit": 0}, gate, failed))[0] == 400
    assert gate.busy == 0


async def test_an_unexpected_failure_is_one_bounded_line_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's RecursionError went to the log as a 2,000-line traceback per request."""
    message = "maximum recursion depth exceeded\n" + "  File 'parser.py', line 19\n" * 2000

    async def crashes(sql: str, limit: int | None = None) -> QueryResult:
        raise RecursionError(message)

    gate = QueryGate(1)
    with caplog.at_level(logging.DEBUG):
        status, body, _ = await answer_query({"sql": "SELECT 1"}, gate, crashes)
    assert status == 500 and "RecursionError" in body["error"]
    assert "File" not in body["error"], "no internals to the client"
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    line = record.getMessage()
    assert record.exc_info is None and "\n" not in line and len(line) < 400
    assert "RecursionError: maximum recursion depth exceeded\\n" in line
    assert gate.busy == 0


def test_error_line_escapes_and_bounds() -> None:
    line = error_line(ValueError("a\nb\x1b[2J" + "x" * 1000), limit=50)
    assert line.startswith("ValueError: a\\nb\\x1b[2J") and len(line) == 50
    assert line.endswith("...")
    assert error_line(KeyError("short")) == "KeyError: 'short'"


def test_the_query_settings_reach_the_limits() -> None:
    settings = Settings(
        query_max_result_bytes=5_000_000,
        query_max_threads=3,
        query_max_rows_read=1_000,
        query_concurrency=4,
    )
    limits = settings.query_limits
    assert (limits.result_bytes, limits.threads, limits.rows_read) == (5_000_000, 3, 1_000)
    engine = limits.settings()
    assert engine["max_result_bytes"] == 5_000_000 and engine["max_threads"] == 3
    assert engine["max_rows_to_read"] == 1_000
    defaults = Settings().query_limits
    assert defaults == QueryLimits()
