"""Secret material out of anything accessdrift stores, sends or logs.

Vendor records carry secrets beside what detection needs: a CloudTrail
``AssumeRole`` response holds the session's ``secretAccessKey`` and
``sessionToken``, a SCIM body or PATCH a ``password``, a Vault response its
``client_token``, an AppRole ``secret_id`` or the unseal ``keys`` of ``sys/init``, an
Entra credential change its ``secretText`` or a ``Password`` property's
``newValue``, a GCP key creation its ``privateKeyData``, an Okta hook an
``Authorization: SSWS ...`` header, an Azure connection string its
``SharedAccessKey=``. Detection never needs them; a dead letter or a log line must
not keep them. ``redact_bytes`` takes any input (JSON, JSON lines, an HR CSV line
with its header, broken JSON, text) and replaces with ``[REDACTED]``:

- every value whose name says it is secret (``is_secret_name``), the name being the
  key next to the value, or for a name/value pair (``{"name": "X-Api-Key", "value":
  ...}``, ``{"headerName": ..., "headerValue": ...}``, ``{"displayName": "Password",
  "newValue": ...}``, a SCIM ``{"path": "password", "value": ...}``) the name beside
  it, or for a CSV line the column's name in the header;
- every token-shaped string, by the shape its issuer gives it.

Identifiers stay (``accessKeyId``, ``client_token_accessor``, ``secret_ref``,
``keyId``, AWS's and GCP's ``secretId``, which name a secret rather than hold it),
and so do hashes: an analyst needs them to follow up.

**Linear time.** A dead letter's input is hostile by definition (it was rejected),
and the worker redacts it (accessdrift/streams/deadletters.py, in a thread beside the event
loop). The patterns run on RE2 (``google-re2``), which matches in time linear in the
input whatever the pattern: no backtracking, and no backreferences or look-around,
which these patterns do without. Repeated searches must not rescan either: see the
passes below. Text is matched as bytes (UTF-8, lone surrogates passed through), so
no search re-encodes the text; a value is scanned once; Python runs once per match,
and every match consumes input. Measured here (a loaded two-core machine): the
worst megabyte found (``key=`` repeated, a candidate name every four bytes) takes
0.8 s, the issue's inputs (50,000 newlines, ``a``*51,200 + ``://x:`` + ``b``*51,200)
a few milliseconds, and a short clean user agent, path or action about a
microsecond: one RE2 set says that none of the passes can match, and nothing else
runs.

**Token shapes.** The list below follows Yelp's detect-secrets 1.5.0 plugins
(Apache-2.0, ``detect_secrets/plugins/*.py``: GitHub, GitLab, Slack, Stripe,
SendGrid, Square, PyPI, npm, Artifactory, Discord, Telegram, Mailchimp, JWT, private
keys, basic-auth URLs; its Azure ``AccountKey=`` is judged here by the name),
rewritten for RE2 (its patterns use look-ahead and backreferences, and several find
a candidate for its entropy and verification filters rather than mark a span), plus
the shapes their issuers document for Vault, AWS session tokens, Google API keys and
Entra client secrets. detect-secrets is not a dependency: it brings ``requests`` and
a plugin machinery for two dozen regular expressions, which would still need
rewriting to be linear. Twilio's ``AC``/``SK`` shapes are left out on purpose: they
are account and key ids, not secrets.
"""

import functools
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2

from accessdrift import jsontext
from accessdrift.errors import DecodeError

REDACTED = "[REDACTED]"
_REDACTED = REDACTED.encode()

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
    "accountkey",  # Azure storage connection strings
    "sharedaccesskey",  # Azure Service Bus / Event Hubs connection strings
    "subscriptionkey",  # Azure API Management (Ocp-Apim-Subscription-Key)
    "primarykey",
    "secondarykey",
    "unsealkey",
    "recoverykey",
)
# Names that are secret only whole (as parts they are in too many innocent names).
_SECRET_NAMES = frozenset(
    {
        "pass",
        "pwd",
        "pin",
        "sig",
        "auth",
        "otp",
        # Vault sys/init and sys/rekey: the unseal and recovery keys themselves
        "keys",
        "keysbase64",
        "recoverykeys",
        "recoverykeysbase64",
    }
)
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
    "uses",  # Vault secret_id_num_uses
    "shares",  # Vault secret_shares, a count
    "threshold",
    "from",  # Entra StsRefreshTokensValidFrom, a time
    "until",
    "arn",
    "url",
    "uri",
    "endpoint",
)
# Vault's AppRole credential is ``secret_id`` (and its accessor ``secret_id_accessor``);
# AWS Secrets Manager's and GCP Secret Manager's ``secretId`` (camel case) is the
# name or ARN of a secret, which an analyst needs. Folding would make them one name,
# so Vault's spelling is judged as written.
_VAULT_SECRET_ID = "secret_id"

# Keys that name the value beside them ({"name": "X-Api-Key", "value": ...}); their
# folded forms, or any ending in "name" (headerName, displayName, attributeName) or
# "key" (CloudFormation's parameterKey).
_NAMING_KEYS = frozenset(
    {"name", "key", "path", "field", "attribute", "property", "parameter", "param", "header"}
)


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _remembered(judge: Callable[[str], bool]) -> Callable[[str], bool]:
    """Names repeat (a record's keys, a CSV header, a query string's): the answers for
    short ones are remembered; a hostile megabyte-long name is judged, not kept."""
    cached = lru_cache(maxsize=8192)(judge)

    @functools.wraps(judge)
    def remembered(name: str) -> bool:
        return cached(name) if len(name) <= 64 else judge(name)

    return remembered


@_remembered
def is_secret_name(name: str) -> bool:
    folded = _folded(name)
    if folded in _SECRET_NAMES:
        return True
    spelled = name.lower().replace("-", "_")
    if spelled == _VAULT_SECRET_ID or spelled.endswith("_" + _VAULT_SECRET_ID):
        return True
    if not any(part in folded for part in _SECRET_PARTS):
        return False
    return not folded.endswith(_NOT_SECRET_ENDINGS)


@_remembered
def _is_descriptive_name(name: str) -> bool:
    """An id, a type, a time: kept even inside a secret's object (``keyId``)."""
    return _folded(name).endswith(_NOT_SECRET_ENDINGS)


@_remembered
def _is_naming_key(key: str) -> bool:
    folded = _folded(key)
    return folded in _NAMING_KEYS or folded.endswith(("name", "key"))


@_remembered
def _is_value_key(key: str) -> bool:
    """value, values, newValue, oldValue, headerValue, parameterValue."""
    return _folded(key).endswith(("value", "values"))


# ---------------------------------------------------------------------------------
# Parsed documents


# A string that holds JSON is parsed and redacted as JSON (Entra's targetResources, a
# body kept as a string), but only so deep: each level may nest 64 containers
# (jsontext.MAX_DEPTH), and the interpreter's stack holds about a thousand frames.
# Deeper strings are redacted as text.
_MAX_CONTAINER_DEPTH = 128


def redact_value(value: Any) -> Any:
    """A parsed document with its secrets replaced (a new object; the input stays)."""
    return _redact(value, 0)


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _embedded(value, depth)
    if isinstance(value, dict):
        names_a_secret = _names_a_secret(value)
        return {
            _key(key): (
                _blank(item, depth + 1)
                if is_secret_name(str(key)) or (names_a_secret and _is_value_key(str(key)))
                else _redact(item, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        # ["X-Api-Key", "..."]: a header as a pair.
        if len(value) == 2 and isinstance(value[0], str) and is_secret_name(value[0]):
            return [value[0], _blank(value[1], depth + 1)]
        return [_redact(item, depth + 1) for item in value]
    return value


def _key(key: Any) -> Any:
    """A key may hold a secret too ({"Authorization: Bearer ...": true}): it is judged
    as it was written, and kept redacted."""
    return redact_text(key) if isinstance(key, str) else key


def _names_a_secret(document: dict[Any, Any]) -> bool:
    """A name/value pair whose name is secret: {"name": "X-Api-Key", "value": ...},
    {"headerName": "Authorization", "headerValue": ...}, a SCIM PATCH operation
    {"op": "replace", "path": "password", "value": ...}, an Entra modified property
    {"displayName": "Password", "newValue": ...}."""
    if not any(_is_value_key(str(key)) for key in document):
        return False
    return any(
        isinstance(item, str) and _is_naming_key(str(key)) and is_secret_name(item)
        for key, item in document.items()
    )


def _embedded(text: str, depth: int) -> Any:
    """A string that is JSON itself (Entra's targetResources, a body as a string)."""
    stripped = text.strip()
    if (
        depth < _MAX_CONTAINER_DEPTH
        and len(stripped) > 1
        and stripped[0] in "{["
        and stripped[-1] in "}]"
    ):
        try:
            inner = jsontext.loads(stripped)
        except DecodeError:
            return redact_text(text)
        redacted = _redact(inner, depth + 1)
        if redacted == inner:
            # Nothing in what the parser kept; but a key written twice keeps only its
            # last value ({"Authorization": "Bearer ...", "Authorization": null}), and
            # the text is stored as written: read as text too.
            return redact_text(text)
        return json.dumps(redacted, ensure_ascii=False)
    return redact_text(text)


def _blank(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {
            _key(key): (
                _redact(item, depth + 1)
                if _is_descriptive_name(str(key))
                else _blank(item, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_blank(item, depth + 1) for item in value]
    return REDACTED


# ---------------------------------------------------------------------------------
# Text, as bytes, on RE2


def _compile(pattern: bytes) -> Any:
    # Latin-1: one byte is one character, so spans are byte offsets, a negated class
    # passes any byte of a multi-byte UTF-8 character (none of them is ASCII), and
    # bytes that are not UTF-8 at all are matched like any other.
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    return re2.compile(pattern, options)


# The passes. Each pattern captures nothing (RE2 finds a match's span several times
# faster than its groups); what of a match stays is read from its first bytes.
#
# Linear, and not only per search: a search from a position keeps scanning while a
# match that would start earlier may still complete. So no pattern may have a thread
# that stays alive over a long stretch in which matches of the same pattern complete
# (a URL's scheme over a megabyte of letters, with a token after every hyphen, would
# make every search scan to the end again). Repetitions that a match must pass before
# it is certain are either bounded by a small count or of characters that no other
# match of the same pattern can complete among; the JWT and the URL password, whose
# unbounded prefixes tokens can hide in, are passes of their own. No counted
# repetition is large (RE2 writes {0,n} out n times, and its automaton's states
# multiply with them).
_TOKEN_SHAPES = (
    rb"hv[sbr]\.[A-Za-z0-9_-]{20,}",  # Vault service, batch, recovery tokens
    rb"[sb]\.[A-Za-z0-9]{24,}",  # Vault tokens before 1.10
    rb"(?:FwoG|IQoJ)[A-Za-z0-9/+=]{40,}",  # AWS session tokens
    rb"gh[pousr]_[A-Za-z0-9_]{20,}",  # GitHub
    rb"github_pat_[A-Za-z0-9_]{20,}",
    rb"(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_-]{20,}",
    rb"GR1348941[A-Za-z0-9_-]{20,}",  # GitLab runner registration
    rb"xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
    rb"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{8,}",
    rb"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
    rb"whsec_[A-Za-z0-9]{24,}",  # Stripe webhook secrets
    rb"sk-[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic and others
    rb"SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,}",  # SendGrid
    rb"sq0(?:csp|atp)-[A-Za-z0-9_-]{22,}",  # Square
    rb"pypi-AgE[A-Za-z0-9_-]{50,}",  # PyPI
    rb"npm_[A-Za-z0-9]{36,}",  # npm
    rb"AKC[A-Za-z0-9]{60,}",  # Artifactory
    rb"AIza[A-Za-z0-9_-]{35,}",  # Google API keys
    rb"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}",  # Discord bots
    rb"[0-9]{8,10}:[A-Za-z0-9_-]{35,}",  # Telegram bots
    rb"[0-9a-f]{32}-us[0-9]{1,2}",  # Mailchimp
    rb"[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,}",  # Entra client secrets
)
_HEADER_NAMES = (
    rb"set-cookie|cookie|proxy-authorization|authorization|x-api-key|api-key|apikey"
    rb"|x-auth-token|x-access-token|x-amz-security-token|x-vault-token|private-token"
    rb"|x-goog-api-key|ocp-apim-subscription-key"
)
_SCHEMES = rb"bearer|ssws|basic|digest|negotiate"
_KEYS_AND_TOKENS = (
    # A PEM private key, to its end or to the end of the text.
    rb"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----(?s:.*?)"
    rb"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----|$)"
    # A header that carries a credential, to the end of its line: a real line end, or
    # one written as \r or \n inside a JSON string, or a quote that closes the string
    # (one followed by the end, a comma and the next quoted key, a brace or a bracket;
    # Digest's username="bob", response="..." goes on).
    rb"|\b(?i:" + _HEADER_NAMES + rb")[ \t]*:[ \t]*"
    rb"(?:[^\r\n\\\"]|\\[^rn]|\"[^,}\]\r\n]|\",[ \t]*[^\" \t\r\n])+"
    # An authorization scheme and its credentials.
    rb"|\b(?i:" + _SCHEMES + rb")[ \t]+[A-Za-z0-9._~+/=-]{6,}"
    rb"|\b(?:" + rb"|".join(_TOKEN_SHAPES) + rb")"
)
_JWT = rb"\beyJ[A-Za-z0-9_=-]{8,}\.[A-Za-z0-9_=-]{8,}(?:\.[A-Za-z0-9_=+/-]*)?"  # JWT, JWS
# user:password@ in a URL (any "://" ends the stretches a thread of it stays alive in).
_URL_PASSWORD = rb"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^@\s/]+@"

# Names next to values. Only names that may be secret are found (one of these stems
# written anywhere in the name; is_secret_name decides), and the value is scanned
# from the end of the match. A name is of characters that no quote and no "=" is
# among, and every match ends at one: a name's thread dies where another match could
# complete.
_STEMS = rb"(?i:pass|pwd|secret|token|key|auth|sig|cookie|credential|saml|assertion|otp|pin)"
_NAME_CHARACTERS = rb"[A-Za-z0-9_.-]*"
_QUOTED_NAME_CHARACTERS = rb"[^\"'\\\r\n:=,{}\[\]]*"
_SPACE = rb"[ \t\r\n]*"
_COLON = _SPACE + rb":" + _SPACE
_SEPARATOR = _SPACE + rb"[:=]" + _SPACE
_VALUE_KEY = rb"\\*\"[A-Za-z_]*(?i:value)s?\\*\"" + _COLON
_NAMING_KEY = (
    rb"\\*\"[A-Za-z_]*(?i:name|key|path|field|attribute|property|parameter|param|header)"
    rb"\\*\""
)
_NAMED = rb"\\*\"[^\"\\\r\n]{1,128}\\*\""  # the name's string, bounded: pairs may be in a long one
_SECRET_NAME = _NAME_CHARACTERS + _STEMS + _NAME_CHARACTERS
_SECRET_QUOTED_NAME = _QUOTED_NAME_CHARACTERS + _STEMS + _QUOTED_NAME_CHARACTERS
_PAIRS = rb"|".join(
    (
        # "name": "X-Api-Key", "value": ... (broken JSON of a name/value pair)
        _NAMING_KEY + _COLON + _NAMED + _SPACE + rb"," + _SPACE + _VALUE_KEY,
        # "name": value, 'name' = value, \"name\": value
        rb"\\*\"" + _SECRET_QUOTED_NAME + rb"\\*\"" + _SEPARATOR,
        rb"'" + _SECRET_QUOTED_NAME + rb"'" + _SEPARATOR,
        # name=value (a query string, a form, a connection string); an unquoted name
        # followed by a colon is prose ("SecretUsageEvent: no C3 01 marker"), left alone.
        rb"\b" + _SECRET_NAME + rb"[ \t]*=[ \t]*",
        # <Password>value</Password> (XML: a SOAP body, a SAML assertion's attribute)
        rb"<" + _SECRET_NAME + rb">",
    )
)
_NEXT_VALUE = _compile(_SPACE + rb"," + _SPACE + _VALUE_KEY)
_MAX_NEXT_VALUES = 3  # {"displayName": "Password", "oldValue": ..., "newValue": ...}

# Values, matched where a secret name's separator ends.
_VALUE = _compile(
    rb"\\+\"[^\"]*(?:\"|$)"  # \"...\" inside a JSON string
    rb"|\"(?:[^\"\\]|\\(?s:.))*(?:\"|$)"  # "...", or to the end when it never closes
    rb"|'(?:[^'\\]|\\(?s:.))*(?:'|$)"
    rb"|\[[^\[\]{}]*(?:\]|$)"  # an array of strings or numbers (Vault's keys)
    rb"|[^\s,;}&\"'{\[][^\s,;}&\"']*"
)


class _Spans:
    """Pieces of the output: the input between redacted spans, and what replaces them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pieces: list[bytes] = []
        self.cursor = 0

    def replace(self, start: int, end: int, replacement: bytes) -> None:
        self.pieces.append(self.data[self.cursor : start])
        self.pieces.append(replacement)
        self.cursor = end

    def result(self) -> bytes:
        if not self.pieces:
            return self.data
        self.pieces.append(self.data[self.cursor :])
        return b"".join(self.pieces)


_HEADER_NAME_SET = frozenset(_HEADER_NAMES.split(b"|"))
_SCHEME_SET = frozenset(_SCHEMES.split(b"|"))


def _kept_head(found: bytes) -> bytes:
    """What of one match of _KEYS_AND_TOKENS stays: a header's name, an authorization
    scheme's name; nothing of a key or a token."""
    colon = found.find(b":", 0, 160)
    if colon > 0 and found[:colon].rstrip(b" \t").lower() in _HEADER_NAME_SET:
        value = len(found[colon + 1 :].lstrip(b" \t"))
        return found[: len(found) - value]
    word = found[:10].split(None, 1)[0].lower() if found[:1].isalpha() else b""
    if word in _SCHEME_SET and found[len(word) : len(word) + 1] in (b" ", b"\t"):
        value = len(found[len(word) :].lstrip(b" \t"))
        return found[: len(found) - value]
    return b""


def _keys_and_tokens(data: bytes) -> bytes:
    out = _Spans(data)
    for match in _PASSES[0].finditer(data):
        start, end = match.span()
        # The head is short (a header's name and spaces): read it from 1 KB at most.
        out.replace(start, end, _kept_head(data[start : min(end, start + 1024)]) + _REDACTED)
    return out.result()


def _jwts(data: bytes) -> bytes:
    out = _Spans(data)
    for match in _PASSES[1].finditer(data):
        start, end = match.span()
        out.replace(start, end, _REDACTED)
    return out.result()


def _url_passwords(data: bytes) -> bytes:
    out = _Spans(data)
    for match in _PASSES[2].finditer(data):
        start, end = match.span()
        # scheme://user:password@ -- the colon after the user's is the first past "://".
        user_end = data.index(b":", data.index(b"://", start) + 3)
        out.replace(user_end + 1, end - 1, _REDACTED)
    return out.result()


def _value_end(data: bytes, start: int) -> tuple[int, bytes]:
    """Where the value that starts at ``start`` ends, and what replaces it."""
    match = _VALUE.match(data, start)
    if match is None or match.end() == start:
        return start, b""
    end: int = match.end()
    first = data[start : start + 1]
    quote = data.find(b'"', start, end)
    if first == b"\\" and quote > start and data[start:quote].strip(b"\\") == b"":
        opening = data[start : quote + 1]
        closed = end - start > len(opening) and data.endswith(b'"', start, end)
        return end, opening + _REDACTED + (opening if closed else b"")
    if first in (b'"', b"'"):
        closed = end - start > 1 and data.endswith(first, start, end)
        return end, first + _REDACTED + (first if closed else b"")
    if first == b"[":
        return end, (b'["' + _REDACTED + b'"]') if end - start > 2 else data[start:end]
    return end, _REDACTED


def _quoted(found: bytes) -> list[str]:
    """The quoted strings of a match of _PAIRS, without their quotes or escapes."""
    quote = b"'" if found.startswith(b"'") else b'"'
    return [part.decode("latin-1") for part in found.replace(b"\\", b"").split(quote)[1::2]]


def _pairs(data: bytes) -> bytes:
    out = _Spans(data)
    position = 0
    while True:
        # After a redacted value the search starts again past it: names inside it are
        # not looked at (one unclosed quote may hold the rest of the text).
        restart = _redact_pairs_from(data, position, out)
        if restart is None:
            return out.result()
        position = restart


def _redact_pairs_from(data: bytes, position: int, out: _Spans) -> int | None:
    """Redacts the values of secret names from ``position`` on, up to the first value
    that ends past where the search would go on: returns where to start again then,
    or None at the end of the text."""
    for match in _PASSES[3].finditer(data, position):
        start, end = match.span()
        found = data[start:end]
        if b"," in found:  # "name": "X-Api-Key", "value": ... (no other kind holds a comma)
            naming_key, name, _ = _quoted(found)
            if is_secret_name(naming_key):  # "apiKey": "k-1", "value": ...
                # The name's quotes are the first after the colon (a key holds none).
                name_start = found.index(b'"', found.index(b":")) + 1
                out.replace(start + name_start, start + name_start + len(name), _REDACTED)
            if not is_secret_name(name):
                continue
            value_start = end
            for _ in range(_MAX_NEXT_VALUES):
                value_end, replacement = _value_end(data, value_start)
                if value_end > value_start:
                    out.replace(value_start, value_end, replacement)
                following = _NEXT_VALUE.match(data, value_end)
                if following is None:
                    break
                value_start = following.end()
            if out.cursor > end:
                return out.cursor
            continue
        if found.startswith(b"<"):
            if is_secret_name(found[1:-1].decode("latin-1")):
                # The element's text, to the next tag (or the end).
                value_end = data.find(b"<", end)
                value_end = len(data) if value_end < 0 else value_end
                if value_end > end:
                    out.replace(end, value_end, _REDACTED)
                    return value_end
            continue
        if found[:1] in (b'"', b"'", b"\\"):
            (name,) = _quoted(found)[:1]
        else:
            name = found.split(b"=", 1)[0].rstrip(b" \t").decode("latin-1")
        if not is_secret_name(name):
            continue
        value_end, replacement = _value_end(data, end)
        if value_end > end:
            out.replace(end, value_end, replacement)
            return value_end
    return None


_PATTERNS = (_KEYS_AND_TOKENS, _JWT, _URL_PASSWORD, _PAIRS)
_PASSES = tuple(_compile(pattern) for pattern in _PATTERNS)
_REDACTORS: tuple[Callable[[bytes], bytes], ...] = (
    _keys_and_tokens,
    _jwts,
    _url_passwords,
    _pairs,
)


def _pass_set() -> Any:
    """One automaton that says which passes can match at all: a short clean string (a
    user agent, a path, an action) costs this one call, and nothing that one of the
    passes would find is missed (they are the same patterns)."""
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.max_mem = 64 << 20  # a set that runs out of memory answers "none"
    passes = re2.Set.SearchSet(options)
    for pattern in _PATTERNS:
        passes.Add(pattern)
    passes.Compile()
    return passes


_PASS_SET = _pass_set()
# Past this size the passes run without asking first: their own cost dwarfs the
# question's, and the set's automaton is not left to grow on a megabyte.
_MAX_ASKED = 64 << 10


def _redact_text_bytes(data: bytes) -> bytes:
    if len(data) <= _MAX_ASKED:
        passes = _PASS_SET.Match(data)
        if not passes:
            return data
    else:
        passes = range(len(_REDACTORS))
    # In order: a token redacted first is not read as a URL's user or a name's value.
    for index in sorted(passes):
        data = _REDACTORS[index](data)
    return data


def redact_text(text: str) -> str:
    """Token-shaped values, and values of secret names in ``name: value`` pairs."""
    # surrogatepass: a str decoded with surrogateescape, or holding a lone surrogate,
    # comes back exactly as it was.
    data = text.encode("utf-8", "surrogatepass")
    redacted = _redact_text_bytes(data)
    return text if redacted is data else redacted.decode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------
# CSV: a line judged by its header


_CSV_QUOTED = _compile(rb"\"(?:[^\"]|\"\")*\"?")
# An HR export has tens of columns; a header of more is read this far, and every
# column past it is taken for secret.
_MAX_CSV_COLUMNS = 4096


def _csv_fields(line: bytes, limit: int) -> tuple[list[tuple[int, int]], bool]:
    """Spans of a CSV line's first ``limit`` fields (RFC 4180 quoting; a stray quote is
    taken as it comes rather than refused: the line was rejected already), and whether
    more follow the last one."""
    fields: list[tuple[int, int]] = []
    position = 0
    while len(fields) < limit:
        after = position
        if line.startswith(b'"', position):
            after = _CSV_QUOTED.match(line, position).end()
        comma = line.find(b",", after)
        if comma < 0:
            fields.append((position, len(line)))
            return fields, False
        fields.append((position, comma))
        position = comma + 1
    return fields, True


def _csv_name(field: bytes) -> str:
    name = field.strip()
    if name.startswith(b'"'):
        name = name[1:-1] if name.endswith(b'"') and len(name) > 1 else name[1:]
        name = name.replace(b'""', b'"')
    return name.decode("utf-8", "replace").strip()


@lru_cache(maxsize=8)
def _csv_columns(header: bytes) -> tuple[bytes, int, tuple[int, ...]]:
    """(the header line, its number of columns, the indexes of the secret ones)."""
    line = header.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    fields, more = _csv_fields(line, _MAX_CSV_COLUMNS)
    names = [_csv_name(line[start:end]) for start, end in fields]
    secret = [index for index, name in enumerate(names) if is_secret_name(name)]
    if more:
        secret.append(len(names))
        return line, len(names) + 1, tuple(secret)
    return line, len(names), tuple(secret)


def redact_csv_line(line: bytes, header: bytes) -> bytes:
    """One CSV line with the fields of secret columns (named so in ``header``, the
    file's first line) replaced, and the rest redacted as text. A line of another
    number of fields than the header may have shifted its fields: everything from
    where the first secret column could have moved to, to the end, is replaced."""
    header_line, columns, secret = _csv_columns(header)
    if secret and line.rstrip(b"\r\n") != header_line:
        fields, more = _csv_fields(line, columns + 1)
        out = _Spans(line)
        if len(fields) == columns and not more:
            for index in secret:
                start, end = fields[index]
                if end > start:
                    quoted = line.startswith(b'"', start)
                    out.replace(start, end, b'"' + _REDACTED + b'"' if quoted else _REDACTED)
        else:
            first = max(0, secret[0] - max(0, columns - len(fields)))
            if first < len(fields):
                out.replace(fields[first][0], len(line.rstrip(b"\r\n")), _REDACTED)
        line = out.result()
    return _redact_text_bytes(line)


# ---------------------------------------------------------------------------------
# Bytes of any kind


# A message of more lines than this is redacted as text whole rather than parsed line
# by line (each line that fails to parse costs an exception); an HR CSV message of
# more (it holds one line) keeps its first lines, and the rest becomes [REDACTED].
_MAX_PARSED_LINES = 10_000


def redact_bytes(data: bytes, *, csv_header: bytes | None = None) -> bytes:
    """Any input as it was, secrets replaced: JSON stays JSON, other text stays text,
    and bytes with nothing secret in them stay exactly as they were. With
    ``csv_header`` (the ``csv-header`` of an HR CSV message), each line is a CSV line
    judged by that header."""
    if csv_header is not None:
        lines = data.split(b"\n", _MAX_PARSED_LINES)
        redacted = [redact_csv_line(line, csv_header) for line in lines[:_MAX_PARSED_LINES]]
        return b"\n".join(redacted + [_REDACTED] * (len(lines) > _MAX_PARSED_LINES))
    try:
        document = jsontext.loads(data)
    except DecodeError:
        document = None
    if isinstance(document, (dict, list)):
        return _json_as_it_was(data, document)
    if data.count(b"\n") >= _MAX_PARSED_LINES:
        return _text_as_it_was(data)
    lines = []
    for line in data.split(b"\n"):
        stripped = line.strip()
        parsed = None
        if stripped[:1] in (b"{", b"["):
            try:
                parsed = jsontext.loads(line)
            except DecodeError:
                parsed = None
        if isinstance(parsed, (dict, list)):
            lines.append(_json_as_it_was(line, parsed, ascii_only=True))
        else:
            lines.append(_text_as_it_was(line))
    return b"\n".join(lines)


def _json_as_it_was(data: bytes, document: Any, *, ascii_only: bool = False) -> bytes:
    redacted = redact_value(document)
    if redacted == document:
        # Kept as written, so read as text too: a key written twice keeps only its last
        # value in the parsed document ({"password": "...", "password": null}).
        return _redact_text_bytes(data)
    text = json.dumps(redacted, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogateescape")


def _text_as_it_was(data: bytes) -> bytes:
    # Bytes that are not UTF-8 are matched as they are (RE2 runs in Latin-1 here).
    return _redact_text_bytes(data)
