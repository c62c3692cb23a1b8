"""A ClickHouse DSN as it may be shown: in an error, a log line, a command's output."""

import re
from urllib.parse import unquote_plus, urlsplit

MASK = "***"

# Query parameters that carry a credential (clickhouse-connect reads ``?password=``, and
# a DSN copied from elsewhere may hold an access token or a key): their value is masked.
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|auth|cred", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")


def safe_dsn(dsn: str) -> str:
    """``dsn`` without its secrets: the password of the userinfo and the value of every
    password-, token- or secret-like query parameter become ``***``. Never raises: a URL
    that does not parse is shown as its scheme and ``<unparsable URL>``, never as written
    (where its password is cannot be told)."""
    try:
        parts = urlsplit(dsn)
        _ = parts.port  # a port that is not a number is refused here, not later
        if not parts.netloc and "@" in parts.path and parts.scheme != "chdb":
            # ``user:password@host`` without its ``scheme://``: no netloc to mask in.
            raise ValueError("userinfo outside a netloc")
    except ValueError:
        scheme, separator, _rest = dsn.partition("://")
        if separator and _SCHEME.fullmatch(scheme):
            return f"{scheme}://<unparsable URL>"
        return "<unparsable URL>"
    userinfo, at, host = parts.netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else parts.netloc
    else:
        netloc = parts.netloc
    query = "&".join(_masked_parameter(pair) for pair in parts.query.split("&"))
    # Put together by hand: urlunsplit writes ``chdb:///path`` back as ``chdb:/path``.
    text = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or dsn.lstrip()[len(text) :].startswith("//"):
        text += f"//{netloc}"
    text += parts.path
    if query:
        text += f"?{query}"
    if parts.fragment:
        text += f"#{parts.fragment}"
    return text


def _masked_parameter(pair: str) -> str:
    name, equals, _value = pair.partition("=")
    if equals and _SECRET_NAME.search(unquote_plus(name)):
        return f"{name}={MASK}"
    return pair
