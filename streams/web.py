"""The worker's HTTP views: liveness, readiness, statistics, read-only SQL for
`accessdrift query`, the login page, the dashboard and one identity's evidence;
every route behind one guard (streams/web_auth.py).

With the embedded engine only one process may open the database folder; while
a worker holds it, `accessdrift query` sends its SQL here.
"""

import asyncio
import html
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import faust
from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from accessdrift.dashboard import collect_dashboard_async, render_dashboard
from accessdrift.dashboard.page import evidence_path, render_error
from accessdrift.errors import ClickHouseError, IdentityNotFound, QueryRefused
from accessdrift.evidence import collect_evidence, to_html
from streams.metrics import metrics_text
from streams.settings import Settings
from streams.sink_executor import SinkExecutor
from streams.web_auth import SESSION_COOKIE, decide, safe_next, same, session_value

STAGES = {"ingest", "resolver", "identity", "findings", "sink", "lag"}
ALERTS = {"deliveries", "health"}
# The dashboard and evidence pages: everything they show is inline (style, SVG), so
# the policy allows nothing from anywhere, not even from the worker, and no script.
HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def register_views(
    app: faust.App,
    settings: Settings,
    sink: SinkExecutor,
    counts: Counter[str],
    ingest_running: Callable[[], bool],
) -> None:
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None

    @aiohttp_web.middleware
    async def guard(request: aiohttp_web.Request, handler: Any) -> aiohttp_web.StreamResponse:
        decision = decide(
            path=request.path,
            method=request.method,
            headers=request.headers,
            cookies=request.cookies,
            token=token,
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

    @app.page("/login/")
    class Login(View):
        """For a browser: the token once, then an HttpOnly, SameSite=Strict cookie."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            target = html.escape(safe_next(request.query.get("next")), quote=True)
            return cast(
                Response,
                aiohttp_web.Response(
                    text=LOGIN_PAGE.format(next=target, message=""), content_type="text/html"
                ),
            )

        async def post(self, request: Request, **kwargs: Any) -> Response:
            raw = cast(aiohttp_web.Request, request)  # the aiohttp driver's own request
            form = await raw.post()
            presented = str(form.get("token", ""))
            target = safe_next(str(form.get("next", "")))
            if token is None or not same(presented, token):
                page = LOGIN_PAGE.format(
                    next=html.escape(target, quote=True), message="<p>Wrong token.</p>"
                )
                return cast(
                    Response, aiohttp_web.Response(text=page, content_type="text/html", status=401)
                )
            response = aiohttp_web.Response(status=303, headers={"Location": target})
            response.set_cookie(
                SESSION_COOKIE,
                session_value(token),
                httponly=True,
                samesite="Strict",
                secure=raw.scheme == "https",
                path="/",
            )
            return cast(Response, response)

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
        async def get(self, request: Request, **kwargs: Any) -> Response:
            # Which deployment answers: a client of another deployment that finds this
            # worker on its port must not read this one's data.
            running = ingest_running()
            sink_state = sink.health.as_dict()
            return self.json(
                {
                    "ready": running and sink_state["sinking"],
                    "consuming": running,
                    "sinking": sink_state["sinking"],
                    "sink": sink_state,
                    "deployment": settings.topic_prefix,
                    "app_id": settings.app_id,
                    "clickhouse": settings.clickhouse_display,
                    "database": sink.clickhouse.database,
                }
            )

    @app.page("/query/")
    class Query(View):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            try:
                payload = await request.json()
            except (ValueError, UnicodeDecodeError):
                return self.json({"error": 'not JSON: send {"sql": "SELECT ..."}'}, status=400)
            sql = payload.get("sql") if isinstance(payload, dict) else None
            if not isinstance(sql, str):
                return self.json({"error": 'send {"sql": "SELECT ..."}'}, status=400)
            limit = payload.get("limit")
            if limit is not None and (
                not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
            ):
                return self.json({"error": "limit: a whole number of rows, 1 or more"}, status=400)
            try:
                result = await sink.query(sql, limit)
            except QueryRefused as error:
                return self.json({"error": str(error), "refused": True}, status=403)
            except ClickHouseError as error:
                return self.json({"error": str(error)}, status=400)
            return self.json(
                {
                    "columns": result.columns,
                    "types": result.types,
                    "truncated": result.truncated,
                    "rows": [[_jsonable(value) for value in row] for row in result.rows],
                }
            )

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
