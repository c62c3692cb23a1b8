"""SCIM 2.0 provisioning requests (RFC 7644) -> DirectoryChange or CloudAuditEvent.

A SCIM feed is one side of a provisioning link, set per feed:

- ``source``: requests *into* the source of truth (an HR system provisioning the
  IdP). POST /Users is a joiner, PATCH or PUT with ``active: false`` a leaver,
  ``active: true`` a reactivation, any other change a mover, DELETE a leaver.
- ``downstream``: requests *from* the IdP to an application (system name set per
  feed). The same requests are account creations, disablings, deletions and
  permission changes of ``<system>:<user id>``; group membership PATCHes grant or
  revoke ``scim:group/<group id>`` for each member (``add``/``replace``/``remove`` of
  ``members``, or ``remove`` of ``members[value eq "<id>"]``); a PUT of the group grants
  it to each member it lists (one it leaves out lost it, which the request does not
  say).

The raw record is the request as a collector saw it: ``{"id", "time", "method",
"path", "body", "status"}`` (``status`` optional). Rules: a request that failed
(status >= 400) changed nothing and is ignored; a source-side Groups request is
ignored (directory group changes come as movers of their users); a record without
time, method or path is dead-lettered. A membership PATCH makes one event per member
up to the message's cap (``ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE``): the members past it
are counted, not made into events, and dead-lettered with the count.
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from accessdrift.errors import RecordError
from accessdrift.normalizers.base import (
    DEFAULT_PATTERNS,
    FEED_HEADER,
    MAX_RECORDS_PER_MESSAGE,
    MessageContext,
    Normalized,
    RawFormat,
    bounded,
    dig,
    entitlement_fields,
    listed,
    mapping,
    parse_time,
    require_object,
    stable_id,
    text,
)
from accessdrift.normalizers.config import ScimFeed as ScimFeed  # a feed is a SCIM thing
from accessdrift.schemas.models import CloudAuditEvent, DirectoryChange


def unwrap(document: Any) -> list[Any]:
    return list(document) if isinstance(document, list) else [document]


def _active_change(body: Mapping[str, Any]) -> bool | None:
    """``active`` as set by a PUT body or a PATCH's operations, if it is set."""
    if isinstance(body.get("active"), bool):
        return bool(body["active"])
    for operation in listed(body.get("Operations")):
        if not isinstance(operation, Mapping):
            continue
        value = operation.get("value")
        if operation.get("path") == "active" and isinstance(value, bool):
            return value
        if isinstance(value, Mapping) and isinstance(value.get("active"), bool):
            return bool(value["active"])
    return None


def _resource(path: str) -> tuple[str, str | None]:
    """``/scim/v2/Users/2819c223`` -> ("Users", "2819c223")."""
    parts = [part for part in path.split("?", 1)[0].split("/") if part]
    for index, part in enumerate(parts):
        if part in ("Users", "Groups"):
            return part, parts[index + 1] if index + 1 < len(parts) else None
    raise RecordError(f"SCIM path {path!r} names neither Users nor Groups")


def _email(body: Mapping[str, Any]) -> str | None:
    emails = body.get("emails")
    if isinstance(emails, list):
        objects = [item for item in emails if isinstance(item, Mapping)]
        primary = [item for item in objects if item.get("primary")]
        if primary or objects:
            return text((primary or objects)[0].get("value"))
    user_name = text(body.get("userName"))
    return user_name if user_name and "@" in user_name else None


SOURCE_FEED = ScimFeed()  # the default feed: requests into the source of truth


def normalize(
    raw: Any,
    feed: ScimFeed = SOURCE_FEED,
    limit: int = MAX_RECORDS_PER_MESSAGE,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
) -> Normalized:
    request = require_object(raw, "SCIM")
    method = (text(request.get("method")) or "").upper()
    path = text(request.get("path"))
    if not method or path is None:
        raise RecordError("SCIM record without method or path")
    event_time = parse_time(request.get("time"), "time")
    status = request.get("status")
    if isinstance(status, int) and status >= 400:
        return Normalized.ignore("scim request that failed")
    body = mapping(request.get("body"))
    resource, resource_id = _resource(path)
    user_id = (
        resource_id
        or text(body.get("id"))
        or text(body.get("externalId"))
        or text(body.get("userName"))
    )
    event_id = text(request.get("id")) or stable_id("scim", request)
    active = _active_change(body)
    if method == "POST":
        change = "joiner"
    elif method == "DELETE":
        change = "leaver"
    elif method in ("PATCH", "PUT"):
        change = {False: "leaver", True: "reactivate", None: "mover"}[active]
    else:
        return Normalized.ignore("scim read request")

    if feed.side == "source":
        if resource == "Groups":
            return Normalized.ignore("scim groups request on the source side")
        identity = text(body.get("externalId")) or user_id
        if identity is None:
            raise RecordError("SCIM user request names no user")
        attributes = {
            key: str(value)
            for key, value in (
                ("title", body.get("title")),
                (
                    "department",
                    dig(
                        body,
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                        "department",
                    ),
                ),
            )
            if value
        }
        return Normalized(
            [
                DirectoryChange(
                    event_id=event_id,
                    event_time=event_time,
                    source="scim",
                    identity_id=identity,
                    identity_kind="human",
                    change_type=change,
                    email=_email(body),
                    attributes=attributes or None,
                )
            ]
        )

    actor = f"{feed.system}:scim-client"
    common = {
        "event_time": event_time,
        "system": feed.system,
        "account_id": actor,
        "action": f"SCIM {method} {resource}",
        "outcome": "success",
    }
    if resource == "Groups":
        if resource_id is None and method != "POST":
            return Normalized.ignore("scim groups request that names no group")
        group = resource_id or text(body.get("id")) or text(body.get("externalId"))
        entitlement = f"scim:group/{group}" if group else None

        # A group of 60,000 members is one request: past the message's cap, the members
        # are counted (and dead-lettered by the registry), not made into events.
        events = bounded(
            member_changes(event_id, method, body),
            lambda change: CloudAuditEvent(
                event_id=change[0],
                kind=change[1],
                target_account_id=f"{feed.system}:{change[2]}",
                **common,
                **entitlement_fields(change[1], entitlement, patterns),
            ),
            limit,
        )
        if events.records or events.dropped:
            return events
        return Normalized.ignore("scim groups request without members")
    if user_id is None:
        raise RecordError("SCIM user request names no user")
    kind = {
        "joiner": "account_created",
        "leaver": "account_deleted" if method == "DELETE" else "account_disabled",
        "reactivate": "account_created",
        "mover": "permission_granted",
    }[change]
    return Normalized(
        [
            CloudAuditEvent(
                event_id=event_id, kind=kind, target_account_id=f"{feed.system}:{user_id}", **common
            )
        ]
    )


# Okta removes a member with a filter in the path, not a value: members[value eq "<id>"].
MEMBER_FILTER = re.compile(r'\s*members\s*\[\s*value\s+eq\s+"([^"]+)"\s*\]\s*', re.IGNORECASE)


def _member_ids(value: Any) -> Iterator[tuple[int, str]]:
    """(index, member id) of a list of SCIM member objects (``{"value": id}``)."""
    members: list[Any] = value if isinstance(value, list) else []
    for index, member in enumerate(members):
        member_id = text(member.get("value")) if isinstance(member, Mapping) else None
        if member_id:
            yield index, member_id


def member_changes(
    event_id: str, method: str, body: Mapping[str, Any]
) -> Iterator[tuple[str, str, str]]:
    """(event id, kind, member id) of each member a Groups request adds or removes.

    A PATCH says it per operation: ``add`` (and ``replace``) of ``members`` grant the
    members listed, ``remove`` revokes them, or the one its path's filter names. A PUT
    or POST sends the whole group: its listed members hold it. A member a ``replace`` or
    a PUT leaves out lost it, which the request does not say: no event."""
    if method in ("PUT", "POST"):
        for member_index, member_id in _member_ids(body.get("members")):
            yield f"{event_id}#0.{member_index}", "permission_granted", member_id
        return
    for index, operation in enumerate(listed(body.get("Operations"))):
        if not isinstance(operation, Mapping):
            continue
        op = str(operation.get("op") or "").lower()
        kind = "permission_revoked" if op == "remove" else "permission_granted"
        path = str(operation.get("path") or "")
        value = operation.get("value")
        filtered = MEMBER_FILTER.fullmatch(path)
        if filtered is not None:
            if op == "remove":
                yield f"{event_id}#{index}.0", kind, filtered.group(1).strip()
            continue
        if path.strip().lower() not in ("", "members"):
            continue
        if not path.strip() and isinstance(value, Mapping):
            value = value.get("members")  # {"op": "add", "value": {"members": [...]}}
        for member_index, member_id in _member_ids(value):
            yield f"{event_id}#{index}.{member_index}", kind, member_id


def _normalize_from_feed(request: Any, limit: int, context: MessageContext) -> Normalized:
    """A request as its feed sees it: the feed named by the message's FEED_HEADER, or the
    deployment's one SCIM feed."""
    feed_name = context.headers.get(FEED_HEADER, b"").decode(errors="replace")
    feed = context.config.scim_feeds.get(feed_name, context.config.scim_feed)
    return normalize(request, feed, limit, context.config.privileged_patterns)


FORMAT = RawFormat(
    name="scim",
    summary="SCIM 2.0 provisioning requests (RFC 7644) -> DirectoryChange or CloudAuditEvent",
    order=60,
    unwrap=unwrap,
    normalize=_normalize_from_feed,
)
