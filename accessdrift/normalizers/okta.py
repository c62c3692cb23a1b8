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
- Entitlements (docs/entitlements.md): a group membership is ``okta:group/<group id>``
  (the UserGroup target), an app assignment ``okta:app/<app id>`` (the AppInstance
  target), an administrator role ``okta:admin/<role type>``: the roles Okta lists in
  ``debugContext.debugData.privilegeGranted`` (``privilegeRevoked``), by their console
  names ("Super administrator" is SUPER_ADMIN), one event each (the first keeps the
  event's ``uuid``, its id when it made one event; the others are ``<uuid>#<index>``),
  else the role targets the event names.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

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
    listed,
    parse_time,
    require_object,
    stable_id,
    text,
)
from accessdrift.schemas.models import CloudAuditEvent

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
# The target that names what a membership event grants, and its namespace.
MEMBERSHIP_TARGETS = {
    "group.user_membership.add": (("UserGroup",), "okta:group/"),
    "group.user_membership.remove": (("UserGroup",), "okta:group/"),
    "application.user_membership.add": (("AppInstance",), "okta:app/"),
    "application.user_membership.remove": (("AppInstance",), "okta:app/"),
}
PRIVILEGE_EVENTS = {
    "user.account.privilege.grant": "privilegeGranted",
    "user.account.privilege.revoke": "privilegeRevoked",
}
# Administrator roles as the Admin Console (and so the System Log) names them -> their
# role type in the Okta API (the standard roles; a custom role keeps its own name).
ADMIN_ROLE_TYPES = {
    "super administrator": "SUPER_ADMIN",
    "super admin": "SUPER_ADMIN",
    "organization administrator": "ORG_ADMIN",
    "organizational administrator": "ORG_ADMIN",
    "org admin": "ORG_ADMIN",
    "application administrator": "APP_ADMIN",
    "app admin": "APP_ADMIN",
    "group administrator": "USER_ADMIN",
    "group membership administrator": "GROUP_MEMBERSHIP_ADMIN",
    "help desk administrator": "HELP_DESK_ADMIN",
    "read only administrator": "READ_ONLY_ADMIN",
    "read only admin": "READ_ONLY_ADMIN",
    "read-only administrator": "READ_ONLY_ADMIN",
    "mobile administrator": "MOBILE_ADMIN",
    "api access management administrator": "API_ACCESS_MANAGEMENT_ADMIN",
    "report administrator": "REPORT_ADMIN",
}
ROLE_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")
NOT_A_NAME = re.compile(r"[^A-Za-z0-9]+")
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
    for target in listed(event.get("target")):
        if isinstance(target, Mapping) and target.get("type") in types and text(target.get("id")):
            return target
    return None


def admin_role_type(label: str) -> str | None:
    """``Application administrator (all)`` -> ``APP_ADMIN``; a role type as the API writes
    it stays; any other name becomes its words in capitals (``Custom Auditor`` ->
    ``CUSTOM_AUDITOR``), so that one role has one id."""
    name = label.split("(", 1)[0].strip()
    if not name:
        return None
    known = ADMIN_ROLE_TYPES.get(" ".join(name.lower().split()))
    if known:
        return known
    if ROLE_TYPE.fullmatch(name):
        return name
    words = NOT_A_NAME.sub("_", name).strip("_").upper()
    return words or None


def _admin_roles(event: Mapping[str, Any], event_type: str) -> list[str]:
    """The role types an administrator privilege event grants or revokes, in order."""
    named = text(dig(event, "debugContext", "debugData", PRIVILEGE_EVENTS[event_type]))
    labels = named.split(",") if named else []
    if not labels:
        labels = [
            text(target.get("displayName")) or text(target.get("id")) or ""
            for target in listed(event.get("target"))
            if isinstance(target, Mapping) and "role" in str(target.get("type") or "").lower()
        ]
    roles = [role for role in (admin_role_type(label) for label in labels) if role]
    return list(dict.fromkeys(roles))


def _grants(event: Mapping[str, Any], event_type: str) -> Iterator[tuple[str | None, int]]:
    """(entitlement, index) of each entitlement a membership or privilege event names;
    one (None, 0) when it names none."""
    if event_type in MEMBERSHIP_TARGETS:
        types, namespace = MEMBERSHIP_TARGETS[event_type]
        target = _target(event, *types)
        yield (f"{namespace}{target['id']}" if target is not None else None), 0
        return
    roles = _admin_roles(event, event_type) if event_type in PRIVILEGE_EVENTS else []
    if not roles:
        yield None, 0
        return
    for index, role in enumerate(roles):
        yield f"okta:admin/{role}", index


def normalize(
    raw: Any, patterns: Sequence[str] = DEFAULT_PATTERNS, limit: int = MAX_RECORDS_PER_MESSAGE
) -> Normalized:
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
    event_id = text(event.get("uuid")) or stable_id("okta", event)
    common: dict[str, Any] = {
        "event_id": event_id,
        "event_time": event_time,
        "system": "okta",
        "account_id": f"okta:{actor_id}",
        "action": event_type,
        # Event hooks have been seen writing "Success": the result is read whatever its case.
        "outcome": "success"
        if result is None or result.upper() in ("SUCCESS", "ALLOW")
        else "failure",
        "source_ip": text(dig(event, "client", "ipAddress")),
        "user_agent": text(dig(event, "client", "userAgent", "rawUserAgent")),
    }
    if event_type in USER_LIFECYCLE:
        user = _target(event, "User")
        if user is not None:
            kind = USER_LIFECYCLE[event_type]
            # A privilege event may list many roles: as many events as the cap allows.
            return bounded(
                _grants(event, event_type),
                lambda grant: CloudAuditEvent(
                    **{**common, "event_id": extended_id(event_id, grant[1])},
                    kind=kind,
                    target_account_id=f"okta:{user['id']}",
                    **entitlement_fields(kind, grant[0], patterns),
                ),
                limit,
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
    normalize=lambda record, limit, context: normalize(
        record, context.config.privileged_patterns, limit
    ),
)
