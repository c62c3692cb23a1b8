"""No secret in a canonical record: one pure function every record passes before it is
produced to a canonical topic (``registry._apply`` for the normalizers,
``canonical.parse_object`` for ``accessdrift replay --format canonical``).

Vendors let secrets through in free text: a Vault request path
``auth/token/lookup/hvs.CAES...``, a user agent ``python-requests/2.31 Authorization:
Bearer ...``, an HR title pasted with a password. Once in a canonical record they would
reach ClickHouse, alerts and their evidence, chat messages, the dashboard and logs, so
they are taken out here, with ``accessdrift/redact.py`` (the redaction of dead
letters), field by field:

- Free text, for people to read; detection joins on none of it: ``action``,
  ``user_agent``, ``source_ip`` (a vendor writes what it likes there, a service name
  for one), ``secret_ref``, ``operation``, and ``DirectoryChange.attributes`` (keys and
  values; a value under a secret-named key such as ``api_key`` goes whole). What
  redaction finds becomes ``[REDACTED]``, the rest of the text stays
  (``python-requests/2.31 Authorization: [REDACTED]``). One attribute is no free text:
  a mover's ``entitlements``, the ids of the new role the detection compares with the
  ``entitlement`` of grants; each id of its list is scrubbed as an identifier (below),
  by the same function, so a policy named with a token is one digest in both.
- Identifiers, the keys detection joins and deduplicates on: event, account,
  credential and identity ids, ``owner_id``, ``accounts``, ``email`` (the link by
  email), ``system``/``store``/``source`` (SLAs and lag rows are per system), and the
  ``entitlement`` a grant names (a policy named with a token is a vendor's free text
  made into an id: the ledger joins a grant to its revoke on it). Kept
  exactly as they are, unless one holds a secret (a Vault entity named by a token:
  ``vault:entity/hvs.CAES...``). That one cannot become ``[REDACTED]``: two ids would
  become one, joining strangers and deduplicating distinct events away. It becomes a
  digest of itself, ``<namespace>:redacted:<sha256>``: the same id gives the same
  digest in every record that names it (every record passes here), two ids never give
  one, so every join between canonical records holds. What does break is a join with
  the same id written in the clear elsewhere (a collector producing straight to a
  canonical topic, state from before this change) and a link by the email an id ends
  with: only for an id that holds a secret, where that is the lesser harm. The digest
  is not keyed: it hides a token (long and random), not a guessable password.
- Enumerations (kinds, outcomes, identity kinds), times and booleans hold no text.

This runs on every event, so it costs a redaction per distinct value, not per event:
user agents, actions, principals and paths come back all day, and a value found clean
is remembered (a set, emptied when it reaches ``REMEMBERED`` values of at most
``REMEMBERED_LENGTH`` characters, a few MB at most; a longer value is redacted each
time). Event ids never come back: one in the shape vendors and ``stable_id`` write
(a UUID, a hex digest, a GCP insertId of lower-case letters and digits, namespaced or
not, with a ``#n`` fan-out suffix) is not scanned at all, as none of redact.py's secret
shapes fits in it (they need capitals, ``.``, ``_``, ``=``, ``:``, a space or a known
prefix; ``tests/unit/test_canonical_scrub.py`` checks ``ID_SHAPED`` against redact.py
as it is); any other event id is redacted, not remembered.
"""

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from accessdrift.redact import redact_value
from accessdrift.schemas.models import (
    CloudAuditEvent,
    DirectoryChange,
    IdentityLink,
    Record,
    SecretUsageEvent,
)

FREE_TEXT: dict[type[Record], tuple[str, ...]] = {
    CloudAuditEvent: ("action", "user_agent", "source_ip"),
    SecretUsageEvent: ("secret_ref", "operation"),
    DirectoryChange: (),
    IdentityLink: (),
}
IDENTIFIERS: dict[type[Record], tuple[str, ...]] = {
    CloudAuditEvent: (
        "system",
        "account_id",
        "credential_id",
        "target_account_id",
        "target_credential_id",
        "entitlement",
    ),
    SecretUsageEvent: ("store", "credential_id", "account_id"),
    DirectoryChange: ("source", "identity_id", "owner_id", "email"),
    IdentityLink: ("source", "identity_id", "account_id", "credential_id"),
}
HAS_EVENT_ID = (CloudAuditEvent, SecretUsageEvent, DirectoryChange)
ID_SHAPED = re.compile(
    r"(?:(?:[a-z]{1,12}|entra-signin|entra-provisioning):)?"
    r"(?:[0-9A-Fa-f-]{1,64}|-?[a-z0-9]{1,64})(?:#[0-9.]{1,20})?"
)
NAMESPACE = re.compile(r"[a-z][a-z0-9-]{0,15}")
# The DirectoryChange attribute listing a mover's new entitlements (core/entitlements.py,
# listed_entitlements): ids, not free text.
ENTITLEMENTS = "entitlements"
REMEMBERED = 1 << 15
REMEMBERED_LENGTH = 256

_clean: set[str] = set()  # values redaction leaves as they are
_free_text: dict[str, str] = {}  # free text redaction changes -> what it becomes
_identifiers: dict[str, str] = {}  # identifiers redaction changes -> their digest


def scrub(record: Record) -> Record:
    """The record without secrets: the record itself when it holds none (nearly always)."""
    values = record.__dict__
    clean = _clean
    changes: dict[str, Any] = {}
    for name in FREE_TEXT[type(record)]:
        value = values[name]
        if value is not None and value not in clean:
            cleaned = free_text(value)
            if cleaned != value:
                changes[name] = cleaned
    for name in IDENTIFIERS[type(record)]:
        value = values[name]
        if value is not None and value not in clean:
            cleaned = identifier(value)
            if cleaned != value:
                changes[name] = cleaned
    if isinstance(record, HAS_EVENT_ID):
        event_id = values["event_id"]
        if not ID_SHAPED.fullmatch(event_id):
            # Not remembered: event ids do not come back, they would only push out
            # the values that do.
            cleaned = _digest_if_secret(event_id)
            if cleaned != event_id:
                changes["event_id"] = cleaned
    if isinstance(record, DirectoryChange):
        if record.accounts:
            accounts = [identifier(account) for account in record.accounts]
            if accounts != record.accounts:
                changes["accounts"] = accounts
        if record.attributes:
            attributes = _attributes(record.attributes)
            if attributes != record.attributes:
                changes["attributes"] = attributes
    # model_copy does not validate again: every change is a str for a str.
    return record.model_copy(update=changes) if changes else record


def free_text(value: str) -> str:
    """The text with what redact.py finds replaced by ``[REDACTED]``."""
    if value in _clean:
        return value
    known = _free_text.get(value)
    if known is not None:
        return known
    cleaned = _redacted(value)
    _remember(value, cleaned, _free_text)
    return cleaned


def identifier(value: str) -> str:
    """The id as it is, or, when it holds a secret, a digest of it."""
    if value in _clean:
        return value
    known = _identifiers.get(value)
    if known is not None:
        return known
    if _redacted(value) == value:
        _remember(value, value, _identifiers)
        return value
    digested = _digest(value)
    _remember(value, digested, _identifiers)
    return digested


def _remember(value: str, cleaned: str, changed: dict[str, str]) -> None:
    if len(value) > REMEMBERED_LENGTH:
        return
    if value == cleaned:
        if len(_clean) >= REMEMBERED:
            _clean.clear()  # cheaper than ordering by use; the values in use come back
        _clean.add(value)
        return
    if len(changed) >= REMEMBERED:
        changed.clear()
    changed[value] = cleaned


def _redacted(value: str) -> str:
    cleaned = redact_value(value)
    return cleaned if isinstance(cleaned, str) else str(cleaned)


def _digest_if_secret(value: str) -> str:
    return value if _redacted(value) == value else _digest(value)


def _digest(value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    namespace = value.split(":", 1)[0] if ":" in value else ""
    # The namespace (vault, aws, okta) keeps the id readable; it is text, so checked too.
    if NAMESPACE.fullmatch(namespace) and _redacted(namespace) == namespace:
        return f"{namespace}:redacted:{digest}"
    return f"redacted:{digest}"


def _attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """Keys and values as free text; a value under a secret-named key goes whole
    (redact_value decides by the key, as it does for dead letters). Except a mover's
    ``entitlements``: ids the detection compares with the ``entitlement`` of grants, so
    each is scrubbed as that one is (``entitlement_list``)."""
    by_name = redact_value(dict(attributes))
    cleaned = {free_text(str(key)): free_text(str(value)) for key, value in by_name.items()}
    listed = attributes.get(ENTITLEMENTS)
    if listed is not None:
        # The key is a constant redaction keeps; its value replaces the free-text one.
        cleaned[ENTITLEMENTS] = entitlement_list(str(listed))
    return cleaned


def entitlement_list(listed: str) -> str:
    """A mover's ``attributes["entitlements"]`` (ids separated by commas) with each id
    scrubbed by ``identifier``, as the ``entitlement`` of a CloudAuditEvent is: a policy
    named with a token is the same digest in the list and in its grant, so the new role's
    list still leaves it alone. Separators and the spaces around each id stay as written
    (the detection strips them), so a list with no secret is unchanged."""
    parts: list[str] = []
    for part in listed.split(","):
        name = part.strip()
        if not name:
            parts.append(part)
            continue
        start = len(part) - len(part.lstrip())
        parts.append(part[:start] + identifier(name) + part[start + len(name) :])
    return ",".join(parts)
