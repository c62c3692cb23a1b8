"""Posting a rendered message, and what the service's answer means for a retry.

Slack goes through ``slack_sdk``'s webhook client; Teams Workflows and signed
webhooks are one JSON POST each. The URL is a secret (a webhook URL is its own
credential): it never appears in an answer, an error or a log.

No destination follows a redirect: the URL checks (``config.url_refusal``) are on the URL
the operator gave, and urllib would carry the request (a Slack bot token's
``Authorization`` header too) wherever a 30x points, and take that host's answer for the
service's. A 30x is a failed delivery, ``redirect refused: 302``.
"""

import json
import random
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any, Literal, NoReturn
from urllib.parse import urlsplit

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient, WebhookResponse

from accessdrift.alerts.render import one_line
from accessdrift.alerts.sign import signed_headers
from accessdrift.errors import AccessDriftError

Outcome = Literal["sent", "retry", "failed"]
TIMEOUT_SECONDS = 10.0
ANSWER_CHARS = 500


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    http_status: int | None
    text: str  # the service's answer, or the network error, without the URL
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # Whatever a service says goes to a log, to alert_deliveries and to the terminal
        # of `alerts test`: one line (a Slack `error` with a newline would write a log
        # line of its choosing; an escape sequence would move a terminal's cursor), of
        # bounded length.
        object.__setattr__(self, "text", one_line(self.text, ANSWER_CHARS))


def classify(status: int, text: str, retry_after: str | None = None) -> Answer:
    """2xx is delivered (Teams Workflows answer 202); 429 waits as told; 408, 425 and 5xx
    are worth another try; any other 4xx will fail again however often it is sent."""
    answer = text[:ANSWER_CHARS]
    if 200 <= status < 300:
        return Answer("sent", status, answer)
    if status == 429:
        return Answer("retry", status, answer, _seconds(retry_after))
    if status in (408, 425) or status >= 500:
        return Answer("retry", status, answer, _seconds(retry_after))
    return Answer("failed", status, answer)


RETRY_AFTER_MAX_SECONDS = 3600.0


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds, within an hour (a service may say ``1e9`` or ``inf``)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), RETRY_AFTER_MAX_SECONDS)


def backoff(attempts: int, base: float = 1.0, cap: float = 600.0) -> float:
    """Exponential with full jitter (AWS architecture blog): spreads retries of many
    alerts to one recovering service."""
    return random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0)))


class _Redirected(AccessDriftError):
    """A 30x from a destination, raised where urllib would follow it."""

    def __init__(self, code: int) -> None:
        super().__init__(f"redirect refused: {code}")
        self.code = code


def _redirect_refused(code: int) -> Answer:
    # Not the body: it is the redirecting host's, and says nothing an operator needs.
    return Answer("failed", code, f"redirect refused: {code}")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect urllib would follow (301, 302, 303, 307, 308) raises instead, before
    any request to the ``Location``. slack_sdk's retry handlers retry URLError only: this
    is not one, so the redirect is not asked again either."""

    def http_error_302(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message
    ) -> NoReturn:
        fp.close()
        raise _Redirected(code)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(
    context: ssl.SSLContext | None = None, proxy: str | None = None
) -> urllib.request.OpenerDirector:
    """urllib's opener with redirects refused; with slack_sdk's TLS context and proxy
    (``HTTPS_PROXY``), as its own opener would have them."""
    handlers: list[urllib.request.BaseHandler] = [
        _RefuseRedirects(),
        urllib.request.HTTPSHandler(context=context),
    ]
    if proxy:
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    return urllib.request.build_opener(*handlers)


SLACK_ANSWER_BYTES = 1024 * 1024
"""Read of a Slack answer: ``chat.postMessage`` echoes the message (50 blocks at most)."""


def _read_text(response: Any) -> str:
    charset = response.headers.get_content_charset() or "utf-8"
    return str(response.read(SLACK_ANSWER_BYTES).decode(charset, "replace"))


class _SlackWebhook(WebhookClient):
    """slack_sdk's webhook client, its request made through ``_opener``: slack_sdk takes
    no opener nor handlers (3.48: ``urlopen``, or a proxy's opener, that follows
    redirects). Its retries and answers are left as they are."""

    def _perform_http_request_internal(
        self, url: str, req: urllib.request.Request
    ) -> WebhookResponse:
        with _opener(self.ssl, self.proxy).open(req, timeout=self.timeout) as response:
            return WebhookResponse(
                url=url,
                status_code=response.status,
                body=_read_text(response),
                headers=dict(response.headers.items()),
            )


class _SlackApi(WebClient):
    """slack_sdk's Web API client, its request made through ``_opener`` (see
    ``_SlackWebhook``)."""

    def _perform_urllib_http_request_internal(
        self, url: str, req: urllib.request.Request
    ) -> dict[str, Any]:
        with _opener(self.ssl, self.proxy).open(req, timeout=self.timeout) as response:
            return {"status": response.status, "headers": response.headers,
                    "body": _read_text(response)}  # fmt: skip


def post_slack(url: SecretStr, message: dict[str, Any]) -> Answer:
    client = _SlackWebhook(url.get_secret_value(), timeout=int(TIMEOUT_SECONDS))
    try:
        response = client.send_dict(message)
    except _Redirected as redirect:
        return _redirect_refused(redirect.code)
    except Exception as error:
        return Answer("retry", None, _without(f"{type(error).__name__}: {error}", url))
    if 300 <= response.status_code < 400:  # one urllib does not follow (300, 304...)
        return _redirect_refused(response.status_code)
    headers = {key.lower(): value for key, value in (response.headers or {}).items()}
    retry_after = headers.get("retry-after")
    if isinstance(retry_after, list):
        retry_after = retry_after[0] if retry_after else None
    text = _without(" ".join((response.body or "").split()), url)
    return classify(response.status_code, text, retry_after)


# Slack Web API errors worth another try; any other ``error`` is final
# (https://api.slack.com/methods/chat.postMessage#errors).
SLACK_API_RETRY = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def post_slack_api(
    base_url: SecretStr, token: SecretStr, channel: str, message: dict[str, Any]
) -> Answer:
    """``chat.postMessage`` with a bot token (slack_sdk's WebClient)."""
    base = base_url.get_secret_value()
    client = _SlackApi(
        token=token.get_secret_value(),
        base_url=base if base.endswith("/") else base + "/",
        timeout=int(TIMEOUT_SECONDS),
    )
    try:
        response = client.chat_postMessage(
            channel=channel, text=message["text"], blocks=message["blocks"]
        )
        return Answer("sent", response.status_code, "ok")
    except _Redirected as redirect:
        return _redirect_refused(redirect.code)
    except SlackApiError as error:
        status = error.response.status_code
        if 300 <= status < 400:
            return _redirect_refused(status)
        code = str(error.response.get("error", ""))[:ANSWER_CHARS]
        headers = {key.lower(): value for key, value in (error.response.headers or {}).items()}
        if status == 429 or code in SLACK_API_RETRY or status >= 500:
            return Answer("retry", status, code, _seconds(_first(headers.get("retry-after"))))
        return Answer("failed", status, code)
    except Exception as error:
        text = _without(_without(f"{type(error).__name__}: {error}", base_url), token)
        return Answer("retry", None, text)


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


_OPENER = _opener()


def post_json(
    url: SecretStr, message: dict[str, Any] | bytes, secret: SecretStr | None = None
) -> Answer:
    try:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        headers = (
            signed_headers(secret.get_secret_value(), body)
            if secret is not None
            else {"Content-Type": "application/json"}
        )
        request = urllib.request.Request(
            url.get_secret_value(), data=body, headers=headers, method="POST"
        )
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return classify(response.status, _without(_clean(response.read(ANSWER_CHARS)), url))
    except _Redirected as redirect:
        return _redirect_refused(redirect.code)
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            return _redirect_refused(error.code)
        return classify(
            error.code, _clean(error.read(ANSWER_CHARS)), error.headers.get("Retry-After")
        )
    except Exception as error:
        return Answer("retry", None, _without(f"{type(error).__name__}: {error}", url))


def _clean(raw: bytes) -> str:
    """A service's answer as one line of text (it goes to logs and to ClickHouse)."""
    return " ".join(raw.decode("utf-8", "replace").split())


def _without(text: str, url: SecretStr) -> str:
    """``text`` without the URL, nor its path and query (a webhook's path is its secret:
    a service may echo it without the host)."""
    secret = url.get_secret_value()
    parts = urlsplit(secret)
    text = text.replace(secret, "<url>")
    for piece in (parts.path, parts.query):
        if len(piece) > 8:
            text = text.replace(piece, "<secret>")
    return text[:ANSWER_CHARS]
