"""Every route the worker serves, walked without and with its token."""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.helpers import Isolated, Worker

TOKEN = "a-long-random-token-for-this-test"
OPEN = ["/live/", "/ready/", "/login/"]
GUARDED = ["/", "/stats/", "/query/", "/table/", "/table/identities/", "/router/", "/graph/",
           "/metrics", "/dashboard/", "/evidence/E1", "/no-such-page/", "/ready", "/live/../stats/"]  # fmt: skip


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def call(
    port: int, path: str, data: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_no_route_but_the_probes_is_open_without_the_token(isolated: Isolated) -> None:
    worker = Worker(isolated, ACCESSDRIFT_WORKER_TOKEN=TOKEN)
    port = isolated.web_port
    try:
        for path in OPEN:
            # A worker that consumes and sinks is ready: /ready/'s 200, not its 503.
            assert call(port, path)[0] == 200, path
        for path in GUARDED:
            status, _, _ = call(port, path)
            assert status == 401, f"{path} answered {status} without the token"
            status, _, _ = call(port, path, Authorization="Bearer not-it")
            assert status == 401, path
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert call(port, "/stats/", **bearer)[0] == 200
        for faust_view in ("/table/identities/", "/router/", "/graph/"):
            assert call(port, faust_view, **bearer)[0] == 404, "Faust's views are off"

        # /query/: JSON only (a cross-site text/plain POST cannot), bad JSON is a 400.
        sql = json.dumps({"sql": "SELECT 1 AS n"}).encode()
        assert call(port, "/query/", sql, **bearer, **{"Content-Type": "text/plain"})[0] == 415
        assert (
            call(port, "/query/", b"{", **bearer, **{"Content-Type": "application/json"})[0] == 400
        )
        status, _, body = call(
            port, "/query/", sql, **bearer, **{"Content-Type": "application/json"}
        )
        assert status == 200 and json.loads(body)["rows"] == [[1]]

        # A browser: to the login page, the token once, then a cookie that is not it.
        status, headers, _ = call(port, "/stats/", Accept="text/html")
        assert status == 303 and headers["Location"] == "/login/?next=/stats/"
        form = urllib.parse.urlencode({"token": TOKEN, "next": "/stats/"}).encode()
        status, headers, _ = call(
            port, "/login/", form, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 303 and headers["Location"] == "/stats/"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert call(port, "/stats/", Cookie=cookie.split(";")[0])[0] == 200
        wrong = urllib.parse.urlencode({"token": "guess", "next": "//evil.example"}).encode()
        status, headers, _ = call(
            port, "/login/", wrong, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 401 and "Set-Cookie" not in headers

        # The command line reaches its worker with the token, and without it cannot.
        through = isolated.cli(
            "query", "--format", "json", "SELECT 1 AS n", ACCESSDRIFT_WORKER_TOKEN=TOKEN
        )
        assert through.returncode == 0 and json.loads(through.stdout) == {"n": 1}, through.stderr
    finally:
        worker.stop()


def test_a_worker_reachable_from_other_hosts_refuses_to_start_without_a_token(
    isolated: Isolated,
) -> None:
    started = isolated.cli("worker", ACCESSDRIFT_WORKER_WEB_HOST="0.0.0.0")
    assert started.returncode == 78  # configuration (docs/cli.md)
    assert "ACCESSDRIFT_WORKER_TOKEN" in started.stderr and "Traceback" not in started.stderr
