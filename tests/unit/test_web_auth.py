"""The one guard in front of every worker route: positive and negative cases side by side."""

import pytest

from streams.web_auth import SESSION_COOKIE, decide, needs_token, safe_next, session_value

TOKEN = "s3cret-token-of-the-worker"


def ask(path: str, method: str = "GET", token: str | None = TOKEN, **parts: object) -> object:
    headers = {"Host": "127.0.0.1:6066", **dict(parts.get("headers", {}))}  # type: ignore[call-overload]
    cookies = dict(parts.get("cookies", {}))  # type: ignore[call-overload]
    return decide(path=path, method=method, headers=headers, cookies=cookies, token=token)


@pytest.mark.parametrize("path", ["/live/", "/ready/", "/login/"])
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
    cookie = {SESSION_COOKIE: session_value(TOKEN)}
    assert ask("/stats/", cookies=cookie).allowed  # type: ignore[attr-defined]
    assert TOKEN not in session_value(TOKEN)
    assert not ask("/stats/", cookies={SESSION_COOKIE: session_value("other")}).allowed  # type: ignore[attr-defined]


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
    assert not ask("/stats/", cookies={SESSION_COOKIE: "é"}).allowed  # type: ignore[attr-defined]


def test_an_empty_token_is_no_token_and_a_short_one_is_refused() -> None:
    from pydantic import ValidationError

    from streams.settings import Settings

    assert Settings(worker_token="").worker_token is None
    assert Settings(worker_token="  ").worker_token is None
    with pytest.raises(ValidationError, match="16 characters"):
        Settings(worker_token="short")
