"""Stable ids: the same finding always gets the same id, so replays never double it."""

import hashlib


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def alert_id(kind: str, identity_id: str, subject: str, reference_us: int) -> str:
    """From the kind and the (identity, account/credential, T0 or R) the alert is about."""
    return _digest("alert", kind, identity_id, subject, reference_us)


def lag_id(identity_id: str, directory_event_id: str, subject: str) -> str:
    """One lag pair: one directory change and one downstream account or credential."""
    return _digest("lag", identity_id, directory_event_id, subject)


def system_of(subject_id: str) -> str:
    """``aws:123:user/a`` -> ``aws``."""
    return subject_id.split(":", 1)[0] if ":" in subject_id else "unknown"


def interval_id(
    identity_id: str, subject_type: str, account: str, subject: str, opened_by: str | None
) -> str:
    """One interval of the access ledger: whose, the subject, and the event that opened it.
    The identity is part of it: two identities that both believe they hold an account (a
    losing link still tells its identity) never overwrite each other's rows, and a
    subject that moves is removed under the old identity's ids, emitted under the new's."""
    return _digest("interval", identity_id, subject_type, account, subject, opened_by or "")
