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
  true`` in the request disables it, ``create`` creates it, ``policies`` grant.
- A response with no ``auth.accessor`` (a denied request: Vault did not accept the
  token) is by the token's accessor as the request logs it
  (``request.client_token_accessor``), so that a revoked workload's token tried again
  meets its accessor and raises ``attempted_after_deprovision``; with no accessor
  at all, by ``vault:token/<the HMAC of the token as logged>``, and a token logged
  in the clear (HMAC turned off) is hashed: ``vault:token/sha256:<hex>`` (a
  credential id never carries a secret). With neither, it is dead-lettered.
"""

import hashlib
from typing import Any

from accessdrift.errors import RecordError
from accessdrift.normalizers.base import (
    Normalized,
    RawFormat,
    dig,
    parse_time,
    require_object,
    stable_id,
    text,
)
from schemas.models import CloudAuditEvent, SecretUsageEvent


def unwrap(document: Any) -> list[Any]:
    return list(document) if isinstance(document, list) else [document]


def normalize(raw: Any) -> Normalized:
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

    entity_change = _entity_change(path, operation, entry)
    if entity_change is not None:
        kind, target = entity_change
        return change(kind, target_account_id=target)
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


def _entity_change(path: str, operation: str, entry: Any) -> tuple[str, str] | None:
    """(kind, target entity) of a write to one identity entity, else None."""
    prefix = next((prefix for prefix in ENTITY_PATHS if path.startswith(prefix)), None)
    if prefix is None:
        return None
    name = path[len(prefix) :].strip("/")
    if not name or "/" in name:
        return None
    target = f"vault:entity/{name}"
    data = dig(entry, "request", "data")
    data = data if isinstance(data, dict) else {}
    if operation == "delete":
        return "account_deleted", target
    if operation not in ("create", "update"):
        return None
    # Request strings are HMAC-ed in audit logs, booleans are not: "disabled" stays readable.
    if data.get("disabled") is True:
        return "account_disabled", target
    if operation == "create":
        return "account_created", target
    if "policies" in data:
        return "permission_granted", target
    return None


FORMAT = RawFormat(
    name="vault",
    summary="HashiCorp Vault file audit device lines -> SecretUsageEvent / CloudAuditEvent",
    order=30,
    unwrap=unwrap,
    normalize=lambda record, _limit, _context: normalize(record),
)
