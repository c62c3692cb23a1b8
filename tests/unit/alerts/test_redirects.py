"""No destination follows a redirect (issue 23, item 6): the URL checks are on the URL
the operator gave, so an allowed ``http://127.0.0.1:P/hook`` answering 302 to another
host must not carry the alert, nor a bot token, there, and the other host's answer must
not come back as the delivery's text."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from accessdrift.alerts.deliver import post_alerts, post_notice
from accessdrift.alerts.destinations import destination_of
from tests.receivers import Receiver, receiving
from tests.unit.alerts.samples import alert


@contextmanager
def elsewhere() -> Iterator[list[str]]:
    """The redirect's target: records every request, whatever its method (urllib follows
    a 302 on a POST with a GET)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            payload = b'{"ok": true, "said": "TARGET-BODY"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        seen.append(f"http://127.0.0.1:{server.server_address[1]}/stolen")
        yield seen
    finally:
        server.shutdown()
        server.server_close()


NOTICE = {"condition": "input_silent", "subject": "cloud.audit", "state": "problem",
          "summary": "silent", "at": "t"}  # fmt: skip
DESTINATIONS = {
    "slack webhook": {"type": "slack", "url_env": "OUT"},
    "slack api": {"type": "slack", "url_env": "OUT", "token_env": "BOT", "channel": "C1"},
    "teams": {"type": "teams", "url_env": "OUT"},
    "webhook": {"type": "webhook", "url_env": "OUT", "secret_env": "KEY"},
    "pagerduty": {"type": "pagerduty", "url_env": "OUT", "secret_env": "KEY"},
}


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", list(DESTINATIONS))
def test_no_destination_follows_a_redirect(kind: str, code: int) -> None:
    with elsewhere() as seen:
        target = seen.pop()
        origin = Receiver(answer=lambda _: (code, "moved", {"Location": target}))
        with receiving(origin):
            environ = {"OUT": origin.url, "BOT": "xoxb-the-bot-token", "KEY": "k" * 32}
            destination = destination_of(DESTINATIONS[kind])
            answers = [
                post_alerts(destination, environ, [alert()]),
                post_notice(destination, environ, NOTICE, "prod"),
            ]
    assert seen == []  # nothing, not even a GET without a body, reached the other host
    assert len(origin.received) == 2  # sent once each: a redirect is not retried
    for answer in answers:
        assert (answer.outcome, answer.http_status) == ("failed", code)
        assert answer.text == f"redirect refused: {code}"
