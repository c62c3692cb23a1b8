"""Who may use the worker's web endpoints: one decision for every route.

With ``ACCESSDRIFT_WORKER_TOKEN`` set, every endpoint but ``/live/``, ``/ready/``,
``/login/`` and ``/logout/`` needs ``Authorization: Bearer <token>``, or, for a
browser, the session cookie that ``/login/`` sets once the token is typed there:
a random value per login, kept by the worker with its expiry (``Sessions``),
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
ended by ``/logout/``. Failed logins are rate limited (``LoginLimiter``). The Host
header must name this worker (an IP address, localhost, the bound name or
``ACCESSDRIFT_WORKER_ALLOWED_HOSTS``): a DNS-rebinding page says its own name there.
A POST must say ``Content-Type: application/json`` (a cross-site form or
``text/plain`` request cannot), except the login and logout forms.

Before a client sends the token anywhere, the server on the port proves it holds it:
``/ready/?nonce=N`` answers ``worker_proof(token, N, port, deployment, address)``, where
``address`` is the local address the connection reached, which the client recomputes
and, on loopback, compares with the address it dialled (accessdrift/commands/worker_client.py).

``decide`` is a pure function of the request's parts; the aiohttp middleware in
``accessdrift/streams/web.py`` applies it to every route, Faust's own included.
"""

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from cachetools import TTLCache
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

SESSION_COOKIE = "accessdrift_session"
OPEN_PATHS = frozenset({"/live/", "/ready/", "/login/", "/logout/"})
FORM_PATHS = frozenset({"/login/", "/logout/"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
EVERY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
# The client's challenge: long enough never to repeat, short and plain enough to log.
NONCE = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def valid_nonce(nonce: str | None) -> bool:
    return nonce is not None and NONCE.fullmatch(nonce) is not None


class Sessions:
    """The browsers logged in: a random value per login, valid until it expires (absolute,
    from the login) or is logged out. Kept by its SHA-256, so that looking one up compares
    no secret; at most ``capacity`` at once (the least recently used goes first)."""

    def __init__(
        self, ttl_seconds: float, capacity: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._live: TTLCache[bytes, bool] = TTLCache(capacity, ttl_seconds, timer=clock)

    def open(self) -> str:
        value = secrets.token_urlsafe(32)
        self._live[_digest(value)] = True
        return value

    def valid(self, value: str) -> bool:
        return bool(value) and self._live.get(_digest(value), False)

    def close(self, value: str) -> None:
        self._live.pop(_digest(value), None)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


PER_CLIENT = RateLimitItemPerMinute(5)
OVERALL = RateLimitItemPerMinute(20)


class LoginLimiter:
    """Failed logins, per client address and overall, in a moving window of a minute:
    beyond either limit every login is refused (429) without looking at the token, the
    right one included, so guessing gets no answer at all. Only failures count; the
    overall limit bounds what is kept, however many addresses try."""

    def __init__(self, limits: Iterable[tuple[str, RateLimitItem]] = ()) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = list(limits) or [("client", PER_CLIENT), ("overall", OVERALL)]

    def retry_after(self, client: str) -> int | None:
        """Seconds until a login from ``client`` is looked at again; None: now."""
        for scope, item in self._limits:
            keys = self._keys(scope, client)
            if not self._limiter.test(item, *keys):
                reset = self._limiter.get_window_stats(item, *keys).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def failed(self, client: str) -> None:
        for scope, item in self._limits:
            self._limiter.hit(item, *self._keys(scope, client))

    @staticmethod
    def _keys(scope: str, client: str) -> tuple[str, ...]:
        return ("login", scope, client) if scope == "client" else ("login", scope)


def decide(
    *,
    path: str,
    method: str,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    token: str | None,
    sessions: Sessions | None = None,
    hosts: frozenset[str] = frozenset(),
) -> Decision:
    method = method.upper()
    if method == "POST" and path not in FORM_PATHS:
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return Decision(False, 415, "POST needs Content-Type: application/json")
    if token is None:
        # Open, on loopback only: a page on a DNS-rebinding domain reaches 127.0.0.1 under
        # its own name, and says so in Host.
        if not loopback_host(headers.get("Host", "")):
            return Decision(False, 421, "this worker answers to localhost only")
        return Decision(True)
    if not allowed_host(headers.get("Host", ""), hosts):
        return Decision(
            False,
            421,
            "this worker does not answer to that name: an IP address, localhost, its bound "
            "name or ACCESSDRIFT_WORKER_ALLOWED_HOSTS",
        )
    if path in OPEN_PATHS:
        return Decision(True)
    authorization = headers.get("Authorization", "")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() == "bearer" and same(presented.strip(), token):
        return Decision(True)
    cookie = cookies.get(SESSION_COOKIE, "")
    if cookie and sessions is not None and sessions.valid(cookie):
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


def host_name(host: str) -> str:
    """The name in a Host header, without its port or an IPv6 literal's brackets."""
    name = host.strip().lower()
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    if name.count(":") == 1:
        return name.split(":", 1)[0]
    return name


def loopback_host(host: str) -> bool:
    return host_name(host) in LOOPBACK_HOSTS


def allowed_host(host: str, names: frozenset[str]) -> bool:
    """A name a DNS-rebinding page cannot stand behind: an IP address (rebinding needs a
    name of the attacker's), localhost, or one of ``names`` (the bound name and those of
    ACCESSDRIFT_WORKER_ALLOWED_HOSTS, for a proxy or a DNS name of this host)."""
    name = host_name(host)
    if not name:
        return False
    if name in LOOPBACK_HOSTS or name in names:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_hosts(bound: str, configured: str) -> frozenset[str]:
    """The names of ``allowed_host``: the bound host (unless bound to every address) and
    the comma-separated ``configured`` ones."""
    names = {part.strip().lower() for part in configured.split(",") if part.strip()}
    if bound.strip().lower() not in EVERY_ADDRESS:
        names.add(host_name(bound))
    return frozenset(names)


def forwarded_https(headers: Mapping[str, str]) -> bool:
    """The proxy in front says the browser came over TLS (X-Forwarded-Proto: https)."""
    proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https"


def client_address(peer: str | None, headers: Mapping[str, str], trust_forwarded: bool) -> str:
    """Who is logging in, for the rate limit: the peer, or behind a trusted proxy the
    address it added last to X-Forwarded-For (what the browser says before it is its own)."""
    if trust_forwarded:
        forwarded = [part.strip() for part in headers.get("X-Forwarded-For", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return peer or "unknown"


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
