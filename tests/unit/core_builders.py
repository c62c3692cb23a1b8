"""Small builders of canonical records (as decoded dicts) for the core's tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = "E1"
ALICE_AWS = "aws:111122223333:user/alice"
ALICE_KEY = "aws:AKIAALICE000000001"
ADMIN = "aws:111122223333:user/admin"
ADMIN_KEY = "aws:AKIAADMIN000000001"

_counter = iter(range(1, 1_000_000))


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def directory(
    seconds: float,
    change_type: str,
    identity_id: str = ALICE,
    kind: str = "human",
    accounts: list[str] | None = None,
    owner: str | None = None,
    event_id: str | None = None,
) -> tuple[str, dict[str, Any]]:
    return "DirectoryChange", {
        "event_id": event_id or f"dir-{next(_counter)}",
        "event_time": at(seconds),
        "source": "hr",
        "identity_id": identity_id,
        "identity_kind": kind,
        "change_type": change_type,
        "accounts": accounts,
        "owner_id": owner,
        "attributes": None,
        "email": None,
    }


def link(
    seconds: float,
    identity_id: str,
    account: str | None = None,
    credential: str | None = None,
    kind: str = "human",
    removed: bool = False,
) -> tuple[str, dict[str, Any]]:
    return "IdentityLink", {
        "event_time": at(seconds),
        "source": "inventory",
        "identity_id": identity_id,
        "identity_kind": kind,
        "account_id": account,
        "credential_id": credential,
        "removed": removed,
    }


def cloud(
    seconds: float,
    kind: str,
    account: str,
    credential: str | None = None,
    action: str = "GetObject",
    target_account: str | None = None,
    target_credential: str | None = None,
    ok: bool = True,
    event_id: str | None = None,
    ip: str | None = "203.0.113.9",
) -> tuple[str, dict[str, Any]]:
    return "CloudAuditEvent", {
        "event_id": event_id or f"ct-{next(_counter)}",
        "event_time": at(seconds),
        "system": account.split(":", 1)[0],
        "account_id": account,
        "credential_id": credential,
        "action": action,
        "kind": kind,
        "target_account_id": target_account,
        "target_credential_id": target_credential,
        "outcome": "success" if ok else "failure",
        "source_ip": ip,
        "user_agent": None,
    }


def use(
    seconds: float,
    account: str = ALICE_AWS,
    credential: str | None = ALICE_KEY,
    ok: bool = True,
    event_id: str | None = None,
) -> tuple[str, dict[str, Any]]:
    return cloud(seconds, "usage", account, credential, ok=ok, event_id=event_id)


def admin(
    seconds: float,
    kind: str,
    action: str,
    target_account: str = ALICE_AWS,
    target_credential: str | None = None,
) -> tuple[str, dict[str, Any]]:
    return cloud(
        seconds,
        kind,
        ADMIN,
        ADMIN_KEY,
        action=action,
        target_account=target_account,
        target_credential=target_credential,
        ip="198.51.100.7",
    )


def secret(
    seconds: float, credential: str, account: str | None = None, ok: bool = True
) -> tuple[str, dict[str, Any]]:
    return "SecretUsageEvent", {
        "event_id": f"vault-{next(_counter)}",
        "event_time": at(seconds),
        "store": "vault",
        "credential_id": credential,
        "account_id": account,
        "secret_ref": "secret/data/db",
        "operation": "read",
        "outcome": "success" if ok else "failure",
    }
