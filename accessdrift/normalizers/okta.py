"""Okta System Log events -> CloudAuditEvent (Okta as a downstream system of HR).

Rules:
- No ``eventType`` or ``published``: dead-lettered; no ``actor.id``: dead-lettered.
- A failed sign-in Okta could not tie to a user has ``actor.id`` ``unknown`` and the
  name that was typed in ``actor.alternateId``: the account is ``okta:<that name>``
  (with ``ACCESSDRIFT_LINK_BY_EMAIL`` it meets the directory identity of that email),
  never one ``okta:unknown`` shared by every failed sign-in.
- The actor is ``okta:<actor.id>``; a target of type User is ``okta:<target.id>``; an
  API token is ``okta:token/<target.id>``.
- ``outcome.result`` other than SUCCESS (FAILURE, DENY, ...) is a failure.
- User lifecycle, app and group membership, privilege and API token events are
  lifecycle kinds on their target; every other event is a use by its actor.
- An event hook delivery (``{"data": {"events": [...]}}``) is unwrapped.
"""

from collections.abc import Mapping
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
from schemas.models import CloudAuditEvent

USER_LIFECYCLE = {
    "user.lifecycle.create": "account_created",
    "user.lifecycle.activate": "account_created",
    "user.lifecycle.deactivate": "account_disabled",
    "user.lifecycle.suspend": "account_disabled",
    "user.lifecycle.delete.initiated": "account_deleted",
    "user.lifecycle.delete.completed": "account_deleted",
    "application.user_membership.add": "permission_granted",
    "application.user_membership.remove": "permission_revoked",
    "group.user_membership.add": "permission_granted",
    "group.user_membership.remove": "permission_revoked",
    "user.account.privilege.grant": "permission_granted",
    "user.account.privilege.revoke": "permission_revoked",
}
TOKEN_LIFECYCLE = {
    "system.api_token.create": "credential_created",
    "system.api_token.revoke": "credential_revoked",
}


def unwrap(document: Any) -> list[Any]:
    events = dig(document, "data", "events") if isinstance(document, Mapping) else None
    if isinstance(events, list):
        return list(events)
    if isinstance(document, list):
        return list(document)
    return [document]


def _target(event: Mapping[str, Any], *types: str) -> Mapping[str, Any] | None:
    for target in event.get("target") or []:
        if isinstance(target, Mapping) and target.get("type") in types and text(target.get("id")):
            return target
    return None


def normalize(raw: Any) -> Normalized:
    event = require_object(raw, "Okta")
    event_type = text(event.get("eventType"))
    if event_type is None:
        raise RecordError("Okta event without eventType")
    event_time = parse_time(event.get("published"), "published")
    actor_id = text(dig(event, "actor", "id"))
    if actor_id is None:
        raise RecordError(f"Okta {event_type} without actor.id")
    if actor_id.lower() == "unknown":
        typed = text(dig(event, "actor", "alternateId"))
        if typed is None or typed.lower() == "unknown":
            return Normalized.ignore("okta event by an unknown actor that names no user")
        actor_id = typed.strip().lower()
    result = text(dig(event, "outcome", "result"))
    common = {
        "event_id": text(event.get("uuid")) or stable_id("okta", event),
        "event_time": event_time,
        "system": "okta",
        "account_id": f"okta:{actor_id}",
        "action": event_type,
        "outcome": "success" if result in (None, "SUCCESS", "ALLOW") else "failure",
        "source_ip": text(dig(event, "client", "ipAddress")),
        "user_agent": text(dig(event, "client", "userAgent", "rawUserAgent")),
    }
    if event_type in USER_LIFECYCLE:
        user = _target(event, "User")
        if user is not None:
            return Normalized(
                [
                    CloudAuditEvent(
                        kind=USER_LIFECYCLE[event_type],
                        target_account_id=f"okta:{user['id']}",
                        **common,
                    )
                ]
            )
    if event_type in TOKEN_LIFECYCLE:
        token = _target(event, "Token", "ApiToken")
        if token is not None:
            return Normalized(
                [
                    CloudAuditEvent(
                        kind=TOKEN_LIFECYCLE[event_type],
                        target_account_id=f"okta:{actor_id}",
                        target_credential_id=f"okta:token/{token['id']}",
                        **common,
                    )
                ]
            )
    return Normalized([CloudAuditEvent(kind="usage", **common)])


FORMAT = RawFormat(
    name="okta",
    summary="Okta System Log events and event hooks -> CloudAuditEvent",
    order=20,
    unwrap=unwrap,
    normalize=lambda record, _limit, _context: normalize(record),
)
