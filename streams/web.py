"""The worker's HTTP views: liveness, readiness, statistics, read-only SQL for
`accessdrift query`, the login page, the dashboard and one identity's evidence;
every route behind one guard (streams/web_auth.py).

With the embedded engine only one process may open the database folder; while
a worker holds it, `accessdrift query` sends its SQL here.
"""

import asyncio
import html
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from accessdrift.dashboard import collect_dashboard_async, render_dashboard
from accessdrift.dashboard.page import evidence_path, render_error
from accessdrift.errors import ClickHouseError, IdentityNotFound, QueryRefused
from accessdrift.evidence import collect_evidence, to_html
from accessdrift.settings import Settings
from accessdrift.worker_proof import socket_address, worker_proof
from sinks.clickhouse import QueryResult, error_line
from streams.metrics import metrics_text
from streams.sink_executor import SinkExecutor
from streams.web_auth import (
    SESSION_COOKIE,
    LoginLimiter,
    Sessions,
    allowed_hosts,
    client_address,
    decide,
    forwarded_https,
    safe_next,
    same,
    valid_nonce,
)

logger = logging.getLogger(__name__)

STAGES = {"ingest", "resolver", "identity", "findings", "sink", "lag"}
ALERTS = {"deliveries", "health"}
# The dashboard and evidence pages: everything they show is inline (style, SVG), so
# the policy allows nothing from anywhere, not even from the worker, and no script.
HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# The login page: its form posts to the worker itself, and nothing may frame it (a
# page that frames it could overlay its own fields on the token's).
LOGIN_HEADERS = {
    **HTML_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def register_views(
    app: faust.App,
    settings: Settings,
    sink: SinkExecutor,
    counts: Counter[str],
    ingest_running: Callable[[], bool],
) -> None:
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None
    sessions = Sessions(settings.worker_session_ttl.total_seconds())
    logins = LoginLimiter()
    hosts = allowed_hosts(settings.worker_web_host, settings.worker_allowed_hosts)

    @aiohttp_web.middleware
    async def guard(request: aiohttp_web.Request, handler: Any) -> aiohttp_web.StreamResponse:
        decision = decide(
            path=request.path,
            method=request.method,
            headers=request.headers,
            cookies=request.cookies,
            token=token,
            sessions=sessions,
            hosts=hosts,
        )
        if not decision.allowed:
            if decision.status == 303:
                return aiohttp_web.Response(status=303, headers=decision.headers)
            return aiohttp_web.json_response(
                {"error": decision.reason}, status=decision.status, headers=decision.headers
            )
        response: aiohttp_web.StreamResponse = await handler(request)
        return response

    def on_webserver_init(web: Any) -> None:
        # Before the server starts: every route, Faust's own included, passes the guard.
        web.web_app.middlewares.append(guard)

    app.on_webserver_init = on_webserver_init  # type: ignore[method-assign]

    @app.page("/live/")
    class Live(View):
        """200 while the worker's event loop runs (for a liveness probe)."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json({"live": True})

    def login_page(target: str, message: str = "", status: int = 200, **extra: str) -> Response:
        page = LOGIN_PAGE.format(next=html.escape(target, quote=True), message=message)
        headers = {**LOGIN_HEADERS, **extra}
        return cast(Response, aiohttp_web.Response(text=page, status=status, headers=headers))

    def over_tls(request: aiohttp_web.Request) -> bool:
        return request.secure or (
            settings.worker_trust_forwarded and forwarded_https(request.headers)
        )

    @app.page("/login/")
    class Login(View):
        """For a browser: the token once, then an HttpOnly, SameSite=Strict session cookie."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return login_page(safe_next(request.query.get("next")))

        async def post(self, request: Request, **kwargs: Any) -> Response:
            raw = cast(aiohttp_web.Request, request)  # the aiohttp driver's own request
            client = client_address(raw.remote, raw.headers, settings.worker_trust_forwarded)
            form = await raw.post()
            target = safe_next(str(form.get("next", "")))
            # Too many failures: refused before the token is even compared, so a guess
            # made now learns nothing, right or wrong.
            wait = logins.retry_after(client)
            if wait is not None:
                message = f"<p>Too many wrong tokens: try again in {wait} s.</p>"
                return login_page(target, message, 429, **{"Retry-After": str(wait)})
            presented = str(form.get("token", ""))
            if token is None or not same(presented, token):
                logins.failed(client)
                return login_page(target, "<p>Wrong token.</p>", 401)
            response = aiohttp_web.Response(status=303, headers={"Location": target})
            response.set_cookie(
                SESSION_COOKIE,
                sessions.open(),
                max_age=int(sessions.ttl_seconds),
                httponly=True,
                samesite="Strict",
                secure=over_tls(raw),
                path="/",
            )
            return cast(Response, response)

    @app.page("/logout/")
    class Logout(View):
        """Ends this browser's session on the worker and removes its cookie."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            raw = cast(aiohttp_web.Request, request)
            sessions.close(raw.cookies.get(SESSION_COOKIE, ""))
            response = aiohttp_web.Response(status=303, headers={"Location": "/login/"})
            response.del_cookie(
                SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=over_tls(raw)
            )
            return cast(Response, response)

        async def post(self, request: Request, **kwargs: Any) -> Response:
            return await self.get(request, **kwargs)

    @app.page("/stats/")
    class Stats(View):
        """What the normalizers made of raw records: produced, ignored by rule, dead-lettered."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json(
                {
                    "normalized": {
                        key: value
                        for key, value in sorted(counts.items())
                        if key.count(":") >= 1 and key.split(":", 1)[0] not in STAGES | ALERTS
                    },
                    "alerts": {
                        key: value
                        for key, value in sorted(counts.items())
                        if key.split(":", 1)[0] in ALERTS
                    },
                    "stages": {
                        key: value
                        for key, value in sorted(counts.items())
                        if key.split(":", 1)[0] in STAGES
                    },
                    "sink": sink.health.as_dict(),
                    # Behind the token: the ClickHouse DSN (password hidden) names a path or
                    # a server and user; clients compare it with their own.
                    "deployment": {
                        "prefix": settings.topic_prefix,
                        "app_id": settings.app_id,
                        "clickhouse": settings.clickhouse_display,
                        "database": sink.clickhouse.database,
                    },
                }
            )

    @app.page("/metrics/")
    class Metrics(View):
        """The counters of /stats/ in Prometheus' text format (streams/metrics.py)."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return cast(
                Response,
                aiohttp_web.Response(
                    body=metrics_text(
                        counts,
                        settings.topic_prefix,
                        sink.health.as_dict()["failing_for_seconds"],
                    ),
                    headers={"Content-Type": CONTENT_TYPE_LATEST},
                ),
            )

    @app.page("/ready/")
    class Ready(View):
        """Open to probes: booleans and the deployment's name only (the sink's error, which
        may quote a row, is on /stats/). ``?nonce=`` asks the worker to prove it holds the
        token before a client sends it (``accessdrift/worker_proof.py``)."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            # Which deployment answers: a client of another deployment that finds this
            # worker on its port must not read this one's data.
            running = ingest_running()
            sinking = bool(sink.health.as_dict()["sinking"])
            answer: dict[str, Any] = {
                "ready": running and sinking,
                "consuming": running,
                "sinking": sinking,
                "deployment": settings.topic_prefix,
            }
            nonce = request.query.get("nonce")
            if token is not None and valid_nonce(nonce):
                # The address this connection reached, as this socket sees it: a relay
                # on another address (127.0.0.1 in front of [::1]) reaches it here, and
                # its client, who dialled the relay's, refuses the proof.
                transport = cast(aiohttp_web.Request, request).transport  # the driver's
                sockname = transport.get_extra_info("sockname") if transport else None
                address = socket_address(str(sockname[0])) if sockname else ""
                answer["address"] = address
                answer["proof"] = worker_proof(
                    token, str(nonce), settings.worker_web_port, settings.topic_prefix, address
                )
            return self.json(answer)

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

    def html_page(text: str, status: int = 200) -> Response:
        return cast(
            Response, aiohttp_web.Response(text=text, status=status, headers=dict(HTML_HEADERS))
        )

    @app.page("/dashboard/")
    class Dashboard(View):
        """The built-in dashboard (accessdrift/dashboard/), queried afresh on each load."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            try:
                data = await collect_dashboard_async(sink.query)
            except ClickHouseError as error:
                return html_page(render_error(502, "ClickHouse did not answer", str(error)), 502)
            return html_page(render_dashboard(data, evidence_path))

    async def evidence_page(identity_id: str) -> Response:
        loop = asyncio.get_running_loop()

        def analyst_query(sql: str) -> Any:
            # collect_evidence is sync: it runs on a thread of its own, and each of its
            # statements hops to the analysts' ClickHouse session (read-only, limited).
            return asyncio.run_coroutine_threadsafe(sink.query(sql), loop).result()

        try:
            evidence = await asyncio.to_thread(collect_evidence, analyst_query, identity_id)
        except ClickHouseError as error:
            return html_page(render_error(502, "ClickHouse did not answer", str(error)), 502)
        except IdentityNotFound as error:
            return html_page(render_error(404, "No such identity", str(error)), 404)
        return html_page(to_html(evidence, evidence_path))

    # One identity per path segment (an id with a slash arrives quoted, %2F): with
    # or without the trailing slash.
    @app.page("/evidence/{identity_id}")
    class Evidence(View):
        async def get(self, request: Request, identity_id: str = "", **kwargs: Any) -> Response:
            return await evidence_page(identity_id)

    @app.page("/evidence/{identity_id}/")
    class EvidenceSlash(View):
        async def get(self, request: Request, identity_id: str = "", **kwargs: Any) -> Response:
            return await evidence_page(identity_id)


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>accessdrift: log in</title>
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28em; margin: 4em auto">
<h1>accessdrift</h1>{message}
<form method="post" action="/login/">
<label>Worker token <input type="password" name="token" autocomplete="current-password"
 autofocus required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button></form></body></html>
"""


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
