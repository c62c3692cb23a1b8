"""The one guard in front of every worker route: positive and negative cases side by side."""

import pytest

from accessdrift.streams.web_auth import (
    SESSION_COOKIE,
    LoginLimiter,
    Sessions,
    allowed_host,
    allowed_hosts,
    client_address,
    decide,
    needs_token,
    safe_next,
    valid_nonce,
)
from accessdrift.worker_proof import socket_address, worker_proof

TOKEN = "s3cret-token-of-the-worker"


def ask(path: str, method: str = "GET", token: str | None = TOKEN, **parts: object) -> object:
    headers = {"Host": "127.0.0.1:6066", **dict(parts.get("headers", {}))}  # type: ignore[call-overload]
    cookies = dict(parts.get("cookies", {}))  # type: ignore[call-overload]
    sessions = parts.get("sessions")
    hosts = frozenset(parts.get("hosts", ()))  # type: ignore[call-overload]
    return decide(path=path, method=method, headers=headers, cookies=cookies, token=token,
                  sessions=sessions, hosts=hosts)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("path", ["/live/", "/ready/", "/login/", "/logout/"])
def test_probes_and_the_login_page_are_open(path: str) -> None:
    assert ask(path).allowed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["/", "/stats/", "/query/", "/table/identities/", "/ready", "/live/../query/", "/x"]
)
def test_everything_else_needs_the_token(path: str) -> None:
    refused = ask(path)
    assert not refused.allowed and refused.status == 401  # type: ignore[attr-defined]
    assert ask(path, headers={"Authorization": f"Bearer {TOKEN}"}).allowed  # type: ignore[attr-defined]
    assert not ask(path, headers={"Authorization": "Bearer wrong"}).allowed  # type: ignore[attr-defined]
    assert not ask(path, headers={"Authorization": TOKEN}).allowed  # type: ignore[attr-defined]


def test_a_browser_goes_to_the_login_page_and_comes_back_with_a_cookie() -> None:
    redirected = ask("/stats/", headers={"Accept": "text/html"})
    assert redirected.status == 303  # type: ignore[attr-defined]
    assert redirected.headers["Location"] == "/login/?next=/stats/"  # type: ignore[attr-defined]
    sessions = Sessions(3600)
    value = sessions.open()
    assert ask("/stats/", cookies={SESSION_COOKIE: value}, sessions=sessions).allowed  # type: ignore[attr-defined]
    assert TOKEN not in value and value != sessions.open(), "random per login"
    assert not ask("/stats/", cookies={SESSION_COOKIE: value}).allowed, "no store: no session"  # type: ignore[attr-defined]
    assert not ask("/stats/", cookies={SESSION_COOKIE: value}, sessions=Sessions(3600)).allowed  # type: ignore[attr-defined]
    sessions.close(value)
    assert not ask("/stats/", cookies={SESSION_COOKIE: value}, sessions=sessions).allowed  # type: ignore[attr-defined]


def test_a_session_ends_when_it_expires_and_the_store_is_bounded() -> None:
    now = [0.0]
    sessions = Sessions(ttl_seconds=600, capacity=3, clock=lambda: now[0])
    first = sessions.open()
    now[0] = 599.0
    assert sessions.valid(first)
    now[0] = 600.5
    assert not sessions.valid(first), "expired: absolute from the login, however used"
    opened = [sessions.open() for _ in range(4)]
    assert [sessions.valid(value) for value in opened] == [False, True, True, True]
    assert not sessions.valid("") and not sessions.valid("é")


def test_failed_logins_are_limited_per_client_and_overall() -> None:
    limiter = LoginLimiter()
    for _ in range(5):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
    wait = limiter.retry_after("10.0.0.1")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.retry_after("10.0.0.2") is None, "another client is not held back"
    # Many addresses (a botnet, IPv6): the overall limit holds them all back.
    for client in range(15):
        limiter.failed(f"10.1.0.{client}")
    assert limiter.retry_after("10.2.0.1") is not None


def test_the_client_of_the_limit_is_the_proxys_last_address_when_trusted() -> None:
    headers = {"X-Forwarded-For": "1.2.3.4, 10.0.0.7"}
    assert client_address("10.0.0.1", headers, trust_forwarded=True) == "10.0.0.7"
    assert client_address("10.0.0.1", headers, trust_forwarded=False) == "10.0.0.1"
    assert client_address("10.0.0.1", {}, trust_forwarded=True) == "10.0.0.1"


def test_the_proof_names_nonce_port_deployment_address_and_needs_the_token() -> None:
    nonce = "n" * 64
    proof = worker_proof(TOKEN, nonce, 6066, "team-a.", "::1")
    assert len(proof) == 64 and TOKEN not in proof
    others = {
        worker_proof("another-token-of-16+", nonce, 6066, "team-a.", "::1"),
        worker_proof(TOKEN, "m" * 64, 6066, "team-a.", "::1"),
        worker_proof(TOKEN, nonce, 6067, "team-a.", "::1"),
        worker_proof(TOKEN, nonce, 6066, "team-b.", "::1"),
        worker_proof(TOKEN, nonce, 6066, "team-a.", "127.0.0.1"),
        worker_proof(TOKEN, nonce + "\n6066", 6066, "team-a.", "::1"),
        worker_proof(TOKEN, nonce, 6066, "team-a.\n::1", ""),
    }
    assert proof not in others and len(others) == 7
    assert valid_nonce("a" * 32) and valid_nonce("A-_9" * 32)
    for bad in (None, "", "a" * 31, "a" * 129, "a" * 31 + "\n", "a" * 32 + "/"):
        assert not valid_nonce(bad)


def test_with_a_token_the_host_must_name_this_worker() -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for host in ("127.0.0.1:6066", "[::1]:6066", "localhost", "10.0.0.5:6066", "[fe80::1]"):
        assert ask("/stats/", headers={**bearer, "Host": host}).allowed, host  # type: ignore[attr-defined]
    for host in ("evil.example", "evil.example:6066", "127.0.0.1.evil.example", "", "[evil]"):
        refused = ask("/ready/", headers={**bearer, "Host": host})
        assert not refused.allowed and refused.status == 421, host  # type: ignore[attr-defined]
    names = allowed_hosts("worker.internal", "accessdrift.example.com, Proxy.Example ")
    assert names == {"worker.internal", "accessdrift.example.com", "proxy.example"}
    assert allowed_hosts("0.0.0.0", "") == frozenset() and allowed_hosts("::", "") == frozenset()
    assert allowed_host("Proxy.Example:443", names) and allowed_host("worker.internal:6066", names)
    assert ask("/stats/", headers={**bearer, "Host": "proxy.example"}, hosts=names).allowed  # type: ignore[attr-defined]


def test_a_post_must_be_json_so_that_no_other_site_can_send_one() -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        refused = ask("/query/", "POST", headers={**bearer, "Content-Type": content_type})
        assert refused.status == 415  # type: ignore[attr-defined]
    for token in (TOKEN, None):  # without a token configured too
        posted = ask("/query/", "POST", token=token, headers={**bearer, "Content-Type": "application/json; charset=utf-8"})  # fmt: skip
        assert posted.allowed  # type: ignore[attr-defined]
    assert ask(
        "/login/", "POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    ).allowed  # type: ignore[attr-defined]


def test_without_a_token_everything_is_open_on_loopback_only() -> None:
    assert ask("/stats/", token=None).allowed  # type: ignore[attr-defined]
    for host in ("localhost:6066", "[::1]:6066", "127.0.0.1"):
        assert ask("/stats/", token=None, headers={"Host": host}).allowed  # type: ignore[attr-defined]
    # DNS rebinding: another site's name pointed at 127.0.0.1 says its own name in Host.
    for host in ("evil.example", "evil.example:6066", "127.0.0.1.evil.example", ""):
        rebound = ask("/query/", token=None, headers={"Host": host})
        assert not rebound.allowed and rebound.status == 421  # type: ignore[attr-defined]
    assert not needs_token("127.0.0.1") and not needs_token("::1")
    assert needs_token("0.0.0.0") and needs_token("10.0.0.5")


@pytest.mark.parametrize(
    "target, expected",
    [("/stats/", "/stats/"), ("https://evil.example/", "/stats/"), ("//evil.example", "/stats/"),
     ("/\\evil.example", "/stats/"), (None, "/stats/"), ("/\t/evil.example", "/stats/"),
     ("/%09/evil.example", "/%09/evil.example"), ("/a\r\nSet-Cookie: x", "/stats/"),
     ("/ /evil", "/stats/")],
)  # fmt: skip
def test_after_login_only_a_path_on_this_worker(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_credentials_in_any_characters_are_refused_not_a_crash() -> None:
    assert not ask("/stats/", headers={"Authorization": "Bearer é"}).allowed  # type: ignore[attr-defined]
    assert not ask("/stats/", cookies={SESSION_COOKIE: "é"}, sessions=Sessions(60)).allowed  # type: ignore[attr-defined]


def test_an_empty_token_is_no_token_and_a_short_one_is_refused() -> None:
    from pydantic import ValidationError

    from accessdrift.settings import Settings

    assert Settings(worker_token="").worker_token is None
    assert Settings(worker_token="  ").worker_token is None
    with pytest.raises(ValidationError, match="16 characters"):
        Settings(worker_token="short")


def test_both_ends_spell_a_socket_address_the_same_way() -> None:
    assert socket_address("::ffff:127.0.0.1") == "127.0.0.1"  # a dual-stack socket's
    assert socket_address("0:0::1") == "::1"
    assert socket_address("fe80::1%eth0") == "fe80::1"
    assert socket_address("127.0.0.2") == "127.0.0.2"
    assert socket_address("not-an-ip") == "not-an-ip"
