"""The worker's HTTP views, registered page by page: the probes (liveness,
readiness), the login and logout forms, the counters (statistics, Prometheus), the
read-only SQL of `accessdrift query` (accessdrift/streams/web_query.py), the dashboard and one
identity's evidence; every route behind one guard (accessdrift/streams/web_auth.py).
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
from accessdrift.errors import ClickHouseError, IdentityNotFound
from accessdrift.evidence import collect_evidence, to_html
from accessdrift.evidence.holdings import Slas
from accessdrift.settings import Settings
from accessdrift.streams.metrics import metrics_text
from accessdrift.streams.sink_executor import SinkExecutor
from accessdrift.streams.web_auth import (
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
from accessdrift.streams.web_query import register_query
from accessdrift.worker_proof import socket_address, worker_proof

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
    """Every view of the worker, each page's in its own function below."""
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None
    sessions = Sessions(settings.worker_session_ttl.total_seconds())
    hosts = allowed_hosts(settings.worker_web_host, settings.worker_allowed_hosts)
    guard_every_route(app, token, sessions, hosts)
    register_probes(app, settings, sink, ingest_running, token)
    register_login(app, settings, token, sessions)
    register_counters(app, settings, sink, counts)
    register_query(app, settings, sink)
    register_pages(app, sink, Slas.from_settings(settings))


def guard_every_route(
    app: faust.App, token: str | None, sessions: Sessions, hosts: frozenset[str]
) -> None:
    """``decide`` (accessdrift/streams/web_auth.py) before every handler, Faust's own included."""

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


def register_probes(
    app: faust.App,
    settings: Settings,
    sink: SinkExecutor,
    ingest_running: Callable[[], bool],
    token: str | None,
) -> None:
    """``/live/`` and ``/ready/``: open to probes (accessdrift/streams/web_auth.py OPEN_PATHS)."""

    @app.page("/live/")
    class Live(View):
        """200 while the worker's event loop runs (for a liveness probe)."""

        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.json({"live": True})

    @app.page("/ready/")
    class Ready(View):
        """Open to probes: 200 when ready, 503 when not, with booleans and the
        deployment's name only (the sink's error, which may quote a row, is on /stats/).
        ``?nonce=`` asks the worker to prove it holds the token before a client sends it
        (``accessdrift/worker_proof.py``)."""

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
            # 503 while not ready: a probe (Kubernetes' readinessProbe, a load balancer)
            # reads the status alone; the body says which half is missing.
            return self.json(answer, status=200 if answer["ready"] else 503)


def register_login(
    app: faust.App, settings: Settings, token: str | None, sessions: Sessions
) -> None:
    """``/login/`` and ``/logout/``: a browser's session, opened with the token once."""
    logins = LoginLimiter()

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


def register_counters(
    app: faust.App, settings: Settings, sink: SinkExecutor, counts: Counter[str]
) -> None:
    """``/stats/`` (JSON) and ``/metrics/`` (Prometheus): the worker's counters."""

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
        """The counters of /stats/ in Prometheus' text format (accessdrift/streams/metrics.py)."""

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


def html_page(text: str, status: int = 200) -> Response:
    """A page of the dashboard or the evidence, with HTML_HEADERS."""
    return cast(
        Response, aiohttp_web.Response(text=text, status=status, headers=dict(HTML_HEADERS))
    )


def register_pages(app: faust.App, sink: SinkExecutor, slas: Slas | None = None) -> None:
    """``/dashboard/`` and ``/evidence/{identity_id}``: HTML for a person, queried afresh."""

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
            evidence = await asyncio.to_thread(collect_evidence, analyst_query, identity_id, slas)
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
