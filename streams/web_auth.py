"""Who may use the worker's web endpoints: one decision for every route.

With ``ACCESSDRIFT_WORKER_TOKEN`` set, every endpoint but ``/live/`` and
``/ready/`` (and the login page) needs ``Authorization: Bearer <token>``, or, for
a browser, the session cookie that ``/login/`` sets once the token is typed
there: HttpOnly (no script reads it), SameSite=Strict (no other site's page
sends it). The cookie holds an HMAC of the token, never the token. A POST must
say ``Content-Type: application/json`` (a cross-site form or ``text/plain``
request cannot), except the login form itself.

``decide`` is a pure function of the request's parts; the aiohttp middleware in
``streams/web.py`` applies it to every route, Faust's own included.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

SESSION_COOKIE = "accessdrift_session"
OPEN_PATHS = frozenset({"/live/", "/ready/", "/login/"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, useless without it."""
    return hmac.new(token.encode(), b"accessdrift browser session", hashlib.sha256).hexdigest()


def decide(
    *,
    path: str,
    method: str,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    token: str | None,
) -> Decision:
    method = method.upper()
    if method == "POST" and path != "/login/":
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return Decision(False, 415, "POST needs Content-Type: application/json")
    if token is None:
        # Open, on loopback only: a page on a DNS-rebinding domain reaches 127.0.0.1 under
        # its own name, and says so in Host.
        if not loopback_host(headers.get("Host", "")):
            return Decision(False, 421, "this worker answers to localhost only")
        return Decision(True)
    if path in OPEN_PATHS:
        return Decision(True)
    authorization = headers.get("Authorization", "")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() == "bearer" and same(presented.strip(), token):
        return Decision(True)
    cookie = cookies.get(SESSION_COOKIE, "")
    if cookie and same(cookie, session_value(token)):
        return Decision(True)
    if method == "GET" and "text/html" in headers.get("Accept", ""):
        return Decision(False, 303, "log in first", {"Location": f"/login/?next={quote(path)}"})
    return Decision(
        False,
        401,
        "this worker needs its token: Authorization: Bearer <ACCESSDRIFT_WORKER_TOKEN>",
        {"WWW-Authenticate": 'Bearer realm="accessdrift"'},
    )


def same(presented: str, expected: str) -> bool:
    """In constant time, whatever characters were presented."""
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode())


def loopback_host(host: str) -> bool:
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name in LOOPBACK_HOSTS


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this worker, never another site (no
    scheme, no host, no control character or space that a browser would drop)."""
    fallback = "/stats/"
    if not target or any(ord(char) < 33 or ord(char) == 127 for char in target):
        return fallback
    if "\\" in target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def needs_token(host: str) -> bool:
    """A worker reachable from other hosts must not serve without a token."""
    return host not in LOOPBACK_HOSTS
