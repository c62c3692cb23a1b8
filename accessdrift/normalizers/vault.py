"""HashiCorp Vault file audit device lines -> SecretUsageEvent / CloudAuditEvent.

Rules:
- ``type: request`` entries are ignored by rule: every request has a response entry
  that carries the same request and its outcome. KMIP entries carry no token: ignored.
- A response to a login (``auth/.../login``) issues a token: a ``credential_created``
  for the new accessor, owned by the logged-in entity.
- A response to ``auth/token/revoke-accessor`` (or ``revoke``) revokes a token.
- Any other response is a secret usage by ``vault:accessor/<auth.accessor>`` (the
  accessor kept as logged, HMAC-ed or not); an ``error`` makes it a failure.
- A response to a write on ``identity/entity/id/<id>`` or ``identity/entity/name/<name>``
  changes the entity ``vault:entity/<id or name>``: ``delete`` deletes it, ``disabled:
  true`` in the request disables it, ``create`` creates it, and each of its ``policies``
  is granted, ``vault:policy/<name>``. The list replaces the entity's policies: what
  it no longer lists was taken away, which the log cannot show (the old list is not in
  it), so no named entity policy is ever revoked; an empty list is one revoke of what
  the log does not name (entitlement null).
- A response to a write on ``identity/group/id/<id>``, ``identity/group/name/<name>`` or
  ``identity/group`` grants ``vault:group/<id or name>`` to each of its
  ``member_entity_ids`` that is logged in the clear (an HMAC-ed id names no entity);
  privileged when a policy it lists in the clear is (``vault:policy/<name>`` by the
  patterns).
- Names in request data are HMAC-ed by the audit device unless it logs them raw:
  an entitlement is then ``vault:policy/hmac-sha256:<hex>``, the same for one policy
  on one device, but matched by no name pattern (docs/entitlements.md: add the HMAC of
  a policy's name to the patterns).
- Event ids: the first event of a response is ``vault:<request id>``, as when a response
  made one event; each further one (a policy or member after the first) is
  ``vault:<request id>#<index>``.
- A response with no ``auth.accessor`` (a denied request: Vault did not accept the
  token) is by the token's accessor as the request logs it
  (``request.client_token_accessor``), so that a revoked workload's token tried again
  meets its accessor and raises ``attempted_after_deprovision``; with no accessor
  at all, by ``vault:token/<the HMAC of the token as logged>``, and a token logged
  in the clear (HMAC turned off) is hashed: ``vault:token/sha256:<hex>`` (a
  credential id never carries a secret). With neither, it is dead-lettered.
"""

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from accessdrift.core.entitlements import is_privileged
from accessdrift.errors import RecordError
from accessdrift.normalizers.base import (
    DEFAULT_PATTERNS,
    MAX_RECORDS_PER_MESSAGE,
    Normalized,
    RawFormat,
    bounded,
    dig,
    entitlement_fields,
    extended_id,
    parse_time,
    require_object,
    stable_id,
    text,
)
from accessdrift.schemas.models import CloudAuditEvent, SecretUsageEvent


def unwrap(document: Any) -> list[Any]:
    return list(document) if isinstance(document, list) else [document]


def normalize(
    raw: Any, patterns: Sequence[str] = DEFAULT_PATTERNS, limit: int = MAX_RECORDS_PER_MESSAGE
) -> Normalized:
    entry = require_object(raw, "Vault audit")
    entry_type = text(entry.get("type"))
    if entry_type == "request":
        return Normalized.ignore("vault request entry (its response is used)")
    if entry_type in ("kmip-request", "kmip-response"):
        return Normalized.ignore("vault kmip entry (no token involved)")
    if entry_type != "response":
        raise RecordError(f"Vault audit entry of unknown type {entry_type!r}")
    event_time = parse_time(entry.get("time"), "time")
    path = text(dig(entry, "request", "path")) or ""
    operation = text(dig(entry, "request", "operation")) or "unknown"
    request_id = text(dig(entry, "request", "id"))
    event_id = f"vault:{request_id}" if request_id else stable_id("vault", entry)
    failed = bool(entry.get("error"))
    outcome = "failure" if failed else "success"
    accessor = text(dig(entry, "auth", "accessor"))
    entity = text(dig(entry, "auth", "entity_id"))
    account = f"vault:entity/{entity}" if entity else None
    source_ip = text(dig(entry, "request", "remote_address"))

    issued = text(dig(entry, "response", "auth", "accessor"))
    if issued and "/login" in path:
        issued_entity = text(dig(entry, "response", "auth", "entity_id"))
        owner = f"vault:entity/{issued_entity}" if issued_entity else account
        if owner is None:
            raise RecordError(f"Vault login on {path} issued a token to no entity")
        return Normalized(
            [
                CloudAuditEvent(
                    event_id=event_id,
                    event_time=event_time,
                    system="vault",
                    account_id=owner,
                    credential_id=None,
                    action=f"{operation} {path}",
                    kind="credential_created",
                    target_account_id=owner,
                    target_credential_id=f"vault:accessor/{issued}",
                    outcome=outcome,
                    source_ip=source_ip,
                )
            ]
        )
    client_token = text(dig(entry, "request", "client_token"))
    accessor = accessor or text(dig(entry, "request", "client_token_accessor"))
    if accessor is not None:
        credential = f"vault:accessor/{accessor}"
    elif client_token is not None:
        # No accessor anywhere: keep the token's HMAC, so that a denied attempt is
        # still on record; a token in the clear is a secret, and is hashed here.
        credential = f"vault:token/{token_reference(client_token)}"
    else:
        raise RecordError(f"Vault response on {path!r} without auth.accessor or client token")

    def change(kind: str, **target: str) -> Normalized:
        return Normalized(
            [
                CloudAuditEvent(
                    event_id=event_id,
                    event_time=event_time,
                    system="vault",
                    account_id=account or credential,
                    credential_id=credential,
                    action=f"{operation} {path}",
                    kind=kind,
                    outcome=outcome,
                    source_ip=source_ip,
                    **target,
                )
            ]
        )

    changes = _identity_changes(path, operation, entry, patterns)
    if changes is not None:

        def build(change: Change) -> CloudAuditEvent:
            index, kind, target, entitlement, seen = change
            return CloudAuditEvent(
                event_id=extended_id(event_id, index),
                event_time=event_time,
                system="vault",
                account_id=account or credential,
                credential_id=credential,
                action=f"{operation} {path}",
                kind=kind,
                outcome=outcome,
                source_ip=source_ip,
                target_account_id=target,
                **entitlement_fields(kind, entitlement, patterns, seen),
            )

        made = bounded(changes, build, limit)
        if made.records or made.dropped:
            return made
    if path.startswith("auth/token/revoke") and not failed:
        revoked = text(dig(entry, "request", "data", "accessor"))
        if path.startswith("auth/token/revoke-self"):
            revoked = accessor
        if revoked:
            return change("credential_revoked", target_credential_id=f"vault:accessor/{revoked}")
    return Normalized(
        [
            SecretUsageEvent(
                event_id=event_id,
                event_time=event_time,
                store="vault",
                credential_id=credential,
                account_id=account,
                secret_ref=path or None,
                operation=operation,
                outcome=outcome,
            )
        ]
    )


def token_reference(client_token: str) -> str:
    """The token as Vault's audit device HMACs it (``hmac-sha256:...``), or a SHA-256 of a
    token logged in the clear (``log_raw`` or ``hmac_accessor=false`` devices)."""
    if client_token.startswith("hmac-sha256:"):
        return client_token
    return "sha256:" + hashlib.sha256(client_token.encode()).hexdigest()


ENTITY_PATHS = ("identity/entity/id/", "identity/entity/name/")
GROUP_PATHS = ("identity/group/id/", "identity/group/name/")
HMAC = "hmac-sha256:"

Change = tuple[int, str, str, str | None, bool | None]
"""(index, kind, target account, entitlement, privileged as the request shows or None)."""


def _names(value: Any) -> list[str]:
    """A list parameter as Vault takes it: a JSON list of strings, or one string of names
    separated by commas."""
    items = value if isinstance(value, list) else value.split(",") if isinstance(value, str) else []
    return [name for name in (text(item) for item in items) if name]


def _identity_changes(
    path: str, operation: str, entry: Any, patterns: Sequence[str]
) -> Iterator[Change] | None:
    """The changes a write to an identity entity or group makes; None when it is not one
    (then it is a use of the path)."""
    data = dig(entry, "request", "data")
    data = data if isinstance(data, dict) else {}
    entity = _named(path, ENTITY_PATHS)
    if entity is not None:
        return _entity_changes(f"vault:entity/{entity}", operation, data)
    group = _named(path, GROUP_PATHS)
    if group is None and path.strip("/") == "identity/group":
        group = text(data.get("id")) or text(data.get("name"))
    if group is None or operation not in ("create", "update"):
        return None
    members = [member for member in _names(data.get("member_entity_ids")) if HMAC not in member]
    if not members:
        return None
    # A group's grant is privileged when a policy the request gives it in the clear is.
    policies = _names(data.get("policies"))
    seen = any(is_privileged(f"vault:policy/{policy}", patterns) for policy in policies) or None
    entitlement = f"vault:group/{group}"
    return (
        (index, "permission_granted", f"vault:entity/{member}", entitlement, seen)
        for index, member in enumerate(members)
    )


def _named(path: str, prefixes: tuple[str, ...]) -> str | None:
    prefix = next((prefix for prefix in prefixes if path.startswith(prefix)), None)
    if prefix is None:
        return None
    name = path[len(prefix) :].strip("/")
    return name if name and "/" not in name else None


def _entity_changes(target: str, operation: str, data: dict[str, Any]) -> Iterator[Change] | None:
    if operation == "delete":
        return iter([(0, "account_deleted", target, None, None)])
    if operation not in ("create", "update"):
        return None
    # Request strings are HMAC-ed in audit logs, booleans are not: "disabled" stays readable.
    if data.get("disabled") is True:
        return iter([(0, "account_disabled", target, None, None)])
    policies = _names(data.get("policies"))
    created = operation == "create"
    if not created and "policies" not in data:
        return None
    if not created and not policies:
        # An empty list takes every policy away, which ones the log does not say.
        return iter([(0, "permission_revoked", target, None, None)])
    first: list[Change] = [(0, "account_created", target, None, None)] if created else []
    grants = (
        (len(first) + index, "permission_granted", target, f"vault:policy/{policy}", None)
        for index, policy in enumerate(policies)
    )
    return _chain(first, grants)


def _chain(first: list[Change], rest: Iterator[Change]) -> Iterator[Change]:
    yield from first
    yield from rest


FORMAT = RawFormat(
    name="vault",
    summary="HashiCorp Vault file audit device lines -> SecretUsageEvent / CloudAuditEvent",
    order=30,
    unwrap=unwrap,
    # An entity's or group's write makes a record per policy or member: up to the cap.
    normalize=lambda record, limit, context: normalize(
        record, context.config.privileged_patterns, limit
    ),
)
