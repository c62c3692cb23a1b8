"""Secret material out of anything accessdrift stores, sends or logs.

Vendor records carry secrets beside what detection needs: a CloudTrail
``AssumeRole`` response holds the session's ``secretAccessKey`` and
``sessionToken``, a SCIM body a ``password``, a Vault response its
``client_token``, an Entra credential change its ``secretText``, a GCP key
creation its ``privateKeyData``, an Okta hook an ``Authorization: SSWS ...``
header. Detection never needs them; a dead letter or a log line must not keep
them. ``redact_bytes`` takes any input (JSON, JSON lines, CSV, broken JSON) and
replaces every value whose name says it is secret, and every token-shaped
string, with ``[REDACTED]``. Identifiers stay (``accessKeyId``,
``client_token_accessor``, ``secret_ref``): an analyst needs them to follow up.
"""

import json
import re
from typing import Any

from accessdrift import jsontext
from accessdrift.errors import DecodeError

REDACTED = "[REDACTED]"

# A name is secret when, lower-cased without separators, it contains one of these...
_SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "privatekey",
    "apikey",
    "authorization",
    "signature",
    "cookie",
    "credential",
    "sessionkey",
    "samlresponse",
    "clientassertion",
)
# Names that are secret only whole (as parts they are in too many innocent names).
_SECRET_NAMES = frozenset({"pass", "pwd", "pin", "sig", "auth", "otp"})
# ...unless it names or describes a secret rather than holding it.
_NOT_SECRET_ENDINGS = (
    "id",
    "ids",
    "accessor",
    "ref",
    "type",
    "types",
    "name",
    "names",
    "path",
    "ttl",
    "expiration",
    "expiry",
    "expires",
    "expiresat",
    "policies",
    "count",
    "version",
    "status",
    "created",
    "createdat",
    "lastused",
    "issued",
    "issuedat",
    "kind",
    "source",
    "provider",
    "length",
    "hint",
    "changed",
    "reset",
    "enabled",
    "required",
)
# Token-shaped values wherever they are: Vault service and batch tokens, bearer and
# SSWS (Okta) authorization values, PEM private keys, AWS session tokens.
_TOKEN_VALUES = re.compile(
    r"\b(?:hv[sbr]\.[A-Za-z0-9_-]{20,}|[sb]\.[A-Za-z0-9]{24,})"
    r"|(?i:\b(?:bearer|ssws|basic|digest|negotiate)\s+)[A-Za-z0-9._~+/=,\"-]+"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:FwoG|IQoJ)[A-Za-z0-9/+=]{40,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # a JWT
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|sk-[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,})"
)
# user:password@ in a URL, and header lines that carry credentials, in text.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)")
_COOKIE_HEADER = re.compile(
    r"(?im)^(?P<head>\s*(?:set-cookie|cookie|authorization|proxy-authorization|x-api-key)\s*:\s*).+$"
)
# "name": "value" pairs in text that is not JSON any more (a broken line), and
# name=value pairs (a query string, a form): an unquoted name followed by a colon is
# prose ("SecretUsageEvent: no C3 01 marker"), and left alone.
_TEXT_PAIR = re.compile(
    r"""(?:(?P<q>["'])(?P<quoted>[A-Za-z_][A-Za-z0-9_.-]*)(?P=q)(?P<qsep>\s*[:=]\s*)"""
    r"""|(?<![A-Za-z0-9_.-])(?P<bare>[A-Za-z_][A-Za-z0-9_.-]*)(?P<bsep>[ \t]*=[ \t]*))"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;}&"']+)"""
)


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_secret_name(name: str) -> bool:
    folded = _folded(name)
    if folded in _SECRET_NAMES:
        return True
    if not any(part in folded for part in _SECRET_PARTS):
        return False
    return not folded.endswith(_NOT_SECRET_ENDINGS)


def _is_descriptive_name(name: str) -> bool:
    """An id, a type, a time: kept even inside a secret's object (``keyId``)."""
    return _folded(name).endswith(_NOT_SECRET_ENDINGS)


def redact_value(value: Any) -> Any:
    """A parsed document with its secrets replaced (a new object; the input stays)."""
    if isinstance(value, dict):
        # {"name": "X-Api-Key", "value": "..."}: a header or a parameter, by its name.
        named = value.get("name", value.get("key", value.get("Name", value.get("Key"))))
        pair_secret = isinstance(named, str) and is_secret_name(named)
        return {
            key: (
                _blank(item)
                if is_secret_name(str(key)) or (pair_secret and str(key).lower() == "value")
                else redact_value(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        # ["X-Api-Key", "..."]: a header as a pair.
        if len(value) == 2 and isinstance(value[0], str) and is_secret_name(value[0]):
            return [value[0], _blank(value[1])]
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return _embedded(value)
    return value


def _embedded(text: str) -> Any:
    """A string that is JSON itself (Entra's targetResources, a body as a string)."""
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] in "{[" and stripped[-1] in "}]":
        try:
            inner = jsontext.loads(stripped)
        except DecodeError:
            return redact_text(text)
        redacted = redact_value(inner)
        return text if redacted == inner else json.dumps(redacted, ensure_ascii=False)
    return redact_text(text)


def _blank(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {
            key: (redact_value(item) if _is_descriptive_name(str(key)) else _blank(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_blank(item) for item in value]
    return REDACTED


def redact_text(text: str) -> str:
    """Token-shaped values, and values of secret names in ``name: value`` pairs."""
    text = _TOKEN_VALUES.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda match: match.group("head") + REDACTED, text)
    text = _COOKIE_HEADER.sub(lambda match: match.group("head") + REDACTED, text)

    def pair(match: re.Match[str]) -> str:
        name = match.group("quoted") or match.group("bare")
        if not is_secret_name(name):
            return match.group(0)
        value = match.group("value")
        quote = value[0] if value[:1] in ("'", '"') else ""
        kept = match.group(0)[: match.start("value") - match.start(0)]
        return f"{kept}{quote}{REDACTED}{quote}"

    return _TEXT_PAIR.sub(pair, text)


def redact_bytes(data: bytes) -> bytes:
    """Any input as it was, secrets replaced: JSON stays JSON, other text stays text,
    and bytes with nothing secret in them stay exactly as they were."""
    try:
        document = jsontext.loads(data)
    except DecodeError:
        document = None
    if isinstance(document, (dict, list)):
        redacted = redact_value(document)
        if redacted == document:
            return data
        return json.dumps(redacted, ensure_ascii=False).encode("utf-8", "surrogateescape")
    lines = []
    for line in data.split(b"\n"):
        try:
            parsed = jsontext.loads(line) if line.strip() else None
        except DecodeError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            redacted = redact_value(parsed)
            lines.append(line if redacted == parsed else json.dumps(redacted).encode())
        else:
            # surrogateescape: bytes that are not UTF-8 come back as they were.
            text = line.decode("utf-8", "surrogateescape")
            cleaned = redact_text(text)
            lines.append(line if cleaned == text else cleaned.encode("utf-8", "surrogateescape"))
    return b"\n".join(lines)
