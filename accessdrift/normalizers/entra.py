"""Microsoft Entra ID audit, sign-in and provisioning logs -> CloudAuditEvent.

Accepted shapes: Azure Monitor diagnostic records (``category`` + ``properties``), and
the bare Graph / Log Analytics rows (``activityDisplayName``, ``activityDateTime``...).

Rules:
- Audit logs: "Add user" creates, "Disable account" disables, "Delete user" and "Hard
  delete user" delete the target user; member added to or removed from a group or role
  grants or revokes; service principal and application credentials added or removed
  create or revoke ``entra:key/<KeyIdentifier>`` for the target (one event per key, up
  to the message's cap, ``ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE``; the rest is
  dead-lettered with the count); other activities are uses by the initiator (user or app).
- Sign-in logs: a use by ``entra:<userId>`` (or the service principal); a non-zero
  error code is a failure (50057: the account is disabled, an attempted use).
- Provisioning logs: the provisioning service acting on the target system's account
  ``entra-provisioning:<target system>:<target id>``; skipped entries are ignored.
- No time or no actor: dead-lettered.
- Entitlements (docs/entitlements.md): a directory role is ``entra:role/<template id>``
  (``Role.TemplateId`` of the member's modified properties: the new value when added,
  the old one when removed), a group ``entra:group/<object id>`` (``Group.ObjectID``, else
  the target of type Group), an app role ``entra:app/<app id>#<app role id>``
  (``ServicePrincipal.AppId``, else the app id among ``TargetId.ServicePrincipalNames``,
  else the object id of the application's service principal; ``AppRole.Id``). A grant
  and a revoke read the same fields in the same order (the new value of a grant, the
  old one of a revoke), and ids of the GUID shape are lower-cased wherever they come
  from: the ledger closes a grant with the revoke that names the same entitlement. The
  grantee is the member (the User or ServicePrincipal target; for an app role
  assignment, ``User.ObjectID`` or the User target, not the application's service
  principal). Target types are read whatever their case (Graph's documentation writes
  ``Type``).
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from accessdrift import jsontext
from accessdrift.errors import DecodeError, RecordError
from accessdrift.normalizers.base import (
    DEFAULT_PATTERNS,
    MAX_RECORDS_PER_MESSAGE,
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
from accessdrift.schemas.models import CloudAuditEvent

ACCOUNT_ACTIVITIES = {
    "add user": "account_created",
    "disable account": "account_disabled",
    "delete user": "account_deleted",
    "hard delete user": "account_deleted",
    "add member to group": "permission_granted",
    "remove member from group": "permission_revoked",
    "add member to role": "permission_granted",
    "remove member from role": "permission_revoked",
    "add app role assignment to user": "permission_granted",
    "add app role assignment grant to user": "permission_granted",
    "remove app role assignment from user": "permission_revoked",
}
ROLE_ACTIVITIES = {"add member to role", "remove member from role"}
GROUP_ACTIVITIES = {"add member to group", "remove member from group"}
APP_ROLE_ACTIVITIES = {
    "add app role assignment to user",
    "add app role assignment grant to user",
    "remove app role assignment from user",
}
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CREDENTIAL_ACTIVITIES = {
    "add service principal credentials": "credential_created",
    "remove service principal credentials": "credential_revoked",
}
KEY_IDENTIFIER = re.compile(r"KeyIdentifier=([0-9a-fA-F-]{8,})")
SIGN_IN_CATEGORIES = {
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
}
PROVISIONING_ACTIONS = {
    "create": "account_created",
    "disable": "account_disabled",
    "delete": "account_deleted",
    "update": "permission_granted",
}


def unwrap(document: Any) -> list[Any]:
    if isinstance(document, Mapping):
        for key in ("records", "value"):
            if isinstance(document.get(key), list):
                return list(document[key])
    if isinstance(document, list):
        return list(document)
    return [document]


def normalize(
    raw: Any, limit: int = MAX_RECORDS_PER_MESSAGE, patterns: Sequence[str] = DEFAULT_PATTERNS
) -> Normalized:
    record = require_object(raw, "Entra")
    properties = mapping(record.get("properties")) or record
    category = text(record.get("category")) or text(record.get("Category")) or ""
    if category == "ProvisioningLogs" or "provisioningAction" in properties:
        return _provisioning(record, properties)
    if category in SIGN_IN_CATEGORIES or (
        "appDisplayName" in properties and "status" in properties
    ):
        return _sign_in(record, properties, category)
    return _audit(record, properties, limit, patterns)


def _time(record: Mapping[str, Any], properties: Mapping[str, Any]) -> Any:
    return parse_time(
        properties.get("activityDateTime")
        or properties.get("createdDateTime")
        or record.get("time")
        or record.get("TimeGenerated"),
        "activityDateTime",
    )


def _initiator(properties: Mapping[str, Any]) -> str | None:
    initiated = properties.get("initiatedBy") or properties.get("InitiatedBy")
    if isinstance(initiated, str):
        try:
            initiated = jsontext.loads(initiated)
        except DecodeError:
            return None
    user = dig(initiated, "user", "id") if isinstance(initiated, Mapping) else None
    app = dig(initiated, "app", "servicePrincipalId") if isinstance(initiated, Mapping) else None
    actor = text(user) or text(app)
    return f"entra:{actor}" if actor else None


def _targets(properties: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    targets = properties.get("targetResources") or properties.get("TargetResources") or []
    if isinstance(targets, str):
        try:
            targets = jsontext.loads(targets)
        except DecodeError:
            return []
        if not isinstance(targets, list):
            return []
    return [target for target in listed(targets) if isinstance(target, Mapping)]


def _type(target: Mapping[str, Any]) -> str:
    """A target's type, whatever the case of its key and value (``type``/``Type``)."""
    return str(target.get("type") or target.get("Type") or "").lower()


def _audit(
    record: Mapping[str, Any], properties: Mapping[str, Any], limit: int, patterns: Sequence[str]
) -> Normalized:
    activity = (
        text(properties.get("activityDisplayName"))
        or text(record.get("operationName"))
        or text(record.get("OperationName"))
    )
    if activity is None:
        raise RecordError("Entra record without activityDisplayName or operationName")
    event_time = _time(record, properties)
    actor = _initiator(properties)
    if actor is None:
        raise RecordError(f"Entra {activity!r} without an initiating user or app")
    result = (text(properties.get("result")) or text(properties.get("Result")) or "success").lower()
    common = {
        "event_time": event_time,
        "system": "entra",
        "account_id": actor,
        "action": activity,
        "outcome": "success" if result == "success" else "failure",
        "source_ip": text(record.get("callerIpAddress")),
        "user_agent": text(properties.get("userAgent")),
    }
    event_id = text(properties.get("id")) or text(record.get("Id")) or stable_id("entra", record)
    lowered = activity.lower()
    targets = _targets(properties)
    if lowered.startswith("update application") and "certificates and secrets" in lowered:
        # One activity for both directions: the KeyDescription diff tells which.
        rotated = bounded(
            (
                (target, kind, key)
                for target in targets
                for kind, created in (("credential_created", True), ("credential_revoked", False))
                for key in _changed_keys(target, created=created)
            ),
            lambda change: _key_event(event_id, common, *change),
            limit,
        )
        if rotated.records or rotated.dropped:
            return rotated
    if lowered in ACCOUNT_ACTIVITIES:
        kind = ACCOUNT_ACTIVITIES[lowered]
        member = _grantee(lowered, targets)
        if member is not None:
            return Normalized(
                [
                    CloudAuditEvent(
                        event_id=event_id,
                        kind=kind,
                        target_account_id=f"entra:{member}",
                        **common,
                        **entitlement_fields(
                            kind,
                            _entitlement(lowered, targets, revoked=kind == "permission_revoked"),
                            patterns,
                        ),
                    )
                ]
            )
    if lowered in CREDENTIAL_ACTIVITIES:
        kind = CREDENTIAL_ACTIVITIES[lowered]
        keys = bounded(
            (
                (target, kind, key)
                for target in targets
                for key in _changed_keys(target, created=kind == "credential_created")
            ),
            lambda change: _key_event(event_id, common, *change),
            limit,
        )
        if keys.records or keys.dropped:
            return keys
    return Normalized([CloudAuditEvent(event_id=event_id, kind="usage", **common)])


def _grantee(activity: str, targets: list[Mapping[str, Any]]) -> str | None:
    """The account an activity acts on: the first User or ServicePrincipal target; for an
    app role assignment, the user (the service principal target is the application)."""
    if activity in APP_ROLE_ACTIVITIES:
        user = _property(targets, "User.ObjectID") or next(
            (text(target.get("id")) for target in targets if _type(target) == "user"), None
        )
        return user
    return next(
        (
            text(target.get("id"))
            for target in targets
            if _type(target) in ("user", "serviceprincipal") and text(target.get("id"))
        ),
        None,
    )


def _unquoted(value: Any) -> str | None:
    """A modified property's value: a JSON string as Entra writes it (``"\"abc\""``), or
    the first of a JSON list of them (``["abc"]``)."""
    found = text(value)
    if found is None:
        return None
    found = found.strip().strip("[]").split(",", 1)[0].strip().strip('"').strip()
    return found or None


def _property(
    targets: list[Mapping[str, Any]], *names: str, revoked: bool = False, whole: bool = False
) -> str | None:
    """A modified property of any target: its new value, or (when revoked, or when it has
    no new one) its old value; unquoted, or with ``whole`` as logged (a list of names is
    not cut at its first)."""
    read = text if whole else _unquoted
    wanted = {name.lower() for name in names}
    for target in targets:
        for prop in listed(target.get("modifiedProperties")):
            if not isinstance(prop, Mapping):
                continue
            if str(prop.get("displayName") or "").lower() not in wanted:
                continue
            new, old = read(prop.get("newValue")), read(prop.get("oldValue"))
            value = (old or new) if revoked else (new or old)
            if value:
                return value
    return None


def _entitlement(activity: str, targets: list[Mapping[str, Any]], revoked: bool) -> str | None:
    """What a membership activity grants or revokes, by the ids its targets log."""
    if activity in ROLE_ACTIVITIES:
        template = _property(targets, "Role.TemplateId", "TemplateId", revoked=revoked)
        return f"entra:role/{template.lower()}" if template else None
    if activity in GROUP_ACTIVITIES:
        group = _property(targets, "Group.ObjectID", revoked=revoked) or next(
            (text(target.get("id")) for target in targets if _type(target) == "group"), None
        )
        return f"entra:group/{_guid_case(group)}" if group else None
    if activity in APP_ROLE_ACTIVITIES:
        role = _property(targets, "AppRole.Id", revoked=revoked)
        app = _app_id(targets, revoked)
        return f"entra:app/{app}#{_guid_case(role)}" if app and role else None
    return None


def _guid_case(value: str) -> str:
    """A GUID in lower case (Entra writes them in either case; they are one id), any
    other value as it is written."""
    return value.lower() if GUID.fullmatch(value) else value


def _app_id(targets: list[Mapping[str, Any]], revoked: bool) -> str | None:
    """The application an app role assignment is of, by the first of these the entry logs
    (the same order for a grant and a revoke, so that both name one entitlement when they
    log the same fields): ``ServicePrincipal.AppId``; the application id among
    ``TargetId.ServicePrincipalNames`` (the one listed alone: a service principal's names
    always include its bare app id, and may begin with ``api://<another GUID>``; else the
    first GUID); the object id of the application's service principal target, which every
    entry carries (docs/entitlements.md: a grant logged with an app id and a revoke logged
    with only the object id name two entitlements; the log does not tie them)."""
    app = _property(targets, "ServicePrincipal.AppId", revoked=revoked)
    if app:
        return _guid_case(app)
    names = _property(targets, "TargetId.ServicePrincipalNames", revoked=revoked, whole=True)
    if names:
        listed_names = [name.strip().strip('"[]').strip() for name in names.split(";")]
        found = next((name for name in listed_names if GUID.fullmatch(name)), None)
        if found is None:
            first = GUID.search(names)
            found = first.group(0) if first else None
        if found:
            return found.lower()
    principal = next(
        (text(target.get("id")) for target in targets if _type(target) == "serviceprincipal"),
        None,
    )
    return _guid_case(principal) if principal else None


def _key_event(
    event_id: str, common: Mapping[str, Any], target: Mapping[str, Any], kind: str, key: str
) -> CloudAuditEvent:
    return CloudAuditEvent(
        event_id=f"{event_id}#{key}",
        kind=kind,
        target_account_id=f"entra:{target['id']}" if text(target.get("id")) else None,
        target_credential_id=f"entra:key/{key}",
        **common,
    )


def _changed_keys(target: Mapping[str, Any], created: bool) -> list[str]:
    """Key ids in the new value and not the old one (added), or the reverse (removed)."""
    for prop in listed(target.get("modifiedProperties")):
        if not isinstance(prop, Mapping) or prop.get("displayName") != "KeyDescription":
            continue
        old = set(KEY_IDENTIFIER.findall(str(prop.get("oldValue") or "")))
        new = set(KEY_IDENTIFIER.findall(str(prop.get("newValue") or "")))
        return sorted(new - old) if created else sorted(old - new)
    return []


def _sign_in(record: Mapping[str, Any], properties: Mapping[str, Any], category: str) -> Normalized:
    event_time = _time(record, properties)
    user = text(properties.get("userId")) or text(properties.get("servicePrincipalId"))
    if user is None:
        raise RecordError("Entra sign-in without userId or servicePrincipalId")
    error_code = dig(properties, "status", "errorCode")
    if error_code is None:
        error_code = record.get("resultType")
    failed = str(error_code) not in ("0", "None", "")
    return Normalized(
        [
            CloudAuditEvent(
                event_id=text(properties.get("id")) or stable_id("entra-signin", record),
                event_time=event_time,
                system="entra",
                account_id=f"entra:{user}",
                action=f"sign-in {text(properties.get('appDisplayName')) or category}".strip(),
                kind="usage",
                outcome="failure" if failed else "success",
                source_ip=text(properties.get("ipAddress")) or text(record.get("callerIpAddress")),
                user_agent=text(properties.get("userAgent")),
            )
        ]
    )


def _provisioning(record: Mapping[str, Any], properties: Mapping[str, Any]) -> Normalized:
    status = (
        text(dig(properties, "provisioningStatusInfo", "status"))
        or text(dig(properties, "provisioningStatusInfo", "Status"))
        or text(record.get("resultType"))
        or ""
    ).lower()
    if status == "skipped":
        return Normalized.ignore("entra provisioning entry skipped")
    event_time = _time(record, properties)
    action = (text(properties.get("provisioningAction")) or "").lower()
    system = text(dig(properties, "targetSystem", "Name")) or text(
        dig(properties, "servicePrincipal", "Name")
    )
    target = (
        text(dig(properties, "targetIdentity", "id"))
        or text(dig(properties, "targetIdentity", "Id"))
        or text(dig(properties, "sourceIdentity", "id"))
        or text(dig(properties, "sourceIdentity", "Id"))
    )
    if system is None or target is None:
        raise RecordError("Entra provisioning entry without target system or identity")
    service = text(dig(properties, "servicePrincipal", "Id")) or "provisioning"
    return Normalized(
        [
            CloudAuditEvent(
                event_id=text(properties.get("id")) or stable_id("entra-provisioning", record),
                event_time=event_time,
                system="entra",
                account_id=f"entra:{service}",
                action=f"provisioning {action or 'other'} {system}",
                kind=PROVISIONING_ACTIONS.get(action, "usage"),
                target_account_id=f"entra-provisioning:{system}:{target}",
                outcome="success" if status in ("success", "") else "failure",
            )
        ]
    )


FORMAT = RawFormat(
    name="entra-audit",
    summary="Microsoft Entra ID audit, sign-in and provisioning logs -> CloudAuditEvent",
    order=50,
    unwrap=unwrap,
    # A credential change makes a record per key: as many as the message's cap allows.
    normalize=lambda record, limit, context: normalize(
        record, limit, context.config.privileged_patterns
    ),
)
