"""The worker's ``/query/``: read-only SQL for ``accessdrift query``.

With the embedded engine only one process may open the database folder; while a
worker holds it, ``accessdrift query`` sends its SQL here, where it runs on the
analysts' ClickHouse session (read-only, limited), a bounded number at a time.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View

from accessdrift.errors import ClickHouseError, QueryRefused
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import QueryResult, error_line
from accessdrift.streams.sink_executor import SinkExecutor

logger = logging.getLogger(__name__)


def register_query(app: faust.App, settings: Settings, sink: SinkExecutor) -> None:
    """``/query/``: a POST of ``{"sql": ..., "limit": ...}``, answered by ``answer_query``."""
    queries = QueryGate(settings.query_concurrency)

    @app.page("/query/")
    class Query(View):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            try:
                payload = await request.json()
            except (ValueError, UnicodeDecodeError):
                return self.json({"error": 'not JSON: send {"sql": "SELECT ..."}'}, status=400)
            status, body, headers = await answer_query(payload, queries, sink.query)
            return self.json(body, status=status, headers=headers)


class QueryGate:
    """At most ``size`` analyst queries from /query/ at a time, running on the analysts'
    ClickHouse thread or waiting for it; one more is refused at once rather than queued
    without end. A slot is held until its query ends, not until its request does: the
    query goes on when a client hangs up, and hanging up must not buy another."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0

    def start(
        self, query: Callable[[], Awaitable[QueryResult]]
    ) -> "asyncio.Future[QueryResult] | None":
        if self.busy >= self.size:
            return None
        self.busy += 1
        running = asyncio.ensure_future(query())
        running.add_done_callback(self._ended)
        return running

    def _ended(self, running: "asyncio.Future[QueryResult]") -> None:
        self.busy -= 1
        if not running.cancelled():
            # Its client may be gone: the outcome is taken here so that asyncio does
            # not log it (with a traceback) as never retrieved.
            running.exception()


async def answer_query(
    payload: Any,
    gate: QueryGate,
    query: Callable[[str, int | None], Awaitable[QueryResult]],
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """/query/'s status, JSON body and headers for a request's JSON payload."""
    sql = payload.get("sql") if isinstance(payload, dict) else None
    if not isinstance(sql, str):
        return 400, {"error": 'send {"sql": "SELECT ..."}'}, {}
    limit = payload.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return 400, {"error": "limit: a whole number of rows, 1 or more"}, {}
    running = gate.start(lambda: query(sql, limit))
    if running is None:
        busy = (
            f"{gate.size} analyst queries are already running or waiting "
            "(ACCESSDRIFT_QUERY_CONCURRENCY): try again when one has ended"
        )
        return 429, {"error": busy, "busy": True}, {"Retry-After": "1"}
    try:
        result = await asyncio.shield(running)
    except QueryRefused as error:
        return 403, {"error": str(error), "refused": True}, {}
    except ClickHouseError as error:
        return 400, {"error": str(error)}, {}
    except Exception as error:
        # Not a refusal nor ClickHouse's error: a failure of the worker or a library on
        # this SQL. One line, no traceback: a client can send the same SQL every second.
        logger.error("analyst query failed: %s", error_line(error))
        failed = f"the query failed in the worker ({type(error).__name__}): see its log"
        return 500, {"error": failed}, {}
    body = {
        "columns": result.columns,
        "types": result.types,
        "truncated": result.truncated,
        "rows": [[_jsonable(value) for value in row] for row in result.rows],
    }
    return 200, body, {}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value
