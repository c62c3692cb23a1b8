"""Google Cloud Audit Logs (LogEntry with an AuditLog protoPayload) -> CloudAuditEvent.

Rules:
- No ``protoPayload.methodName``: not an audit log entry, dead-lettered.
- No ``authenticationInfo.principalEmail`` (nor a workload identity ``principalSubject``):
  dead-lettered, there is nobody to attribute it to.
- The credential is ``gcp:key/<id>`` from ``serviceAccountKeyName`` when present.
- ``status.code`` other than 0, or an authorization that was not granted: failure.
- Service-account and key lifecycle methods, and IAM policy deltas (one event per
  member added or removed), are lifecycle kinds; every other method is a use.
- A short-lived credential made by the Service Account Credentials API
  (``iamcredentials.googleapis.com``: GenerateAccessToken, GenerateIdToken, SignJwt,
  SignBlob) is a ``credential_created`` by the caller, who holds it: the token
  ``gcp:token/<insertId>`` (no token id is logged), acting as the service account
  ``gcp:<email>`` in ``target_account_id`` (``resource.labels.email_id``, else the email
  ``request.name`` or ``resourceName`` names; a unique id alone names none). Denied or
  failed, nothing was made: a use.
- Google Workspace admin activity shared into Cloud Audit Logs
  (``google.admin.AdminService.*``, ``metadata.event[]``): user creation, suspension,
  deletion and group membership of the ``USER_EMAIL`` parameter are lifecycle kinds
  on ``gcp:<that email>`` (one event per admin event); other admin events are uses.
- Per-member and per-admin-event records stop at the message's cap
  (``ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE``); the rest is dead-lettered with the count.
- Entitlements (docs/entitlements.md): a binding delta grants or revokes
  ``gcp:<resource>#<role>`` (the entry's ``resourceName``, else the project, folder or
  organization of its ``resource.labels``) to ``gcp:<member email>`` (``user:`` and
  ``serviceAccount:`` members; groups, domains and ``allUsers`` are no account); a
  Workspace group membership is ``gcp:group/<group email>`` and a Workspace admin role
  ``gcp:admin/<ROLE_NAME>`` (``_SEED_ADMIN_ROLE`` is the super admin).
- Event ids: a binding delta's is ``<insertId>#<index of the delta>``, one delta or
  several; a Workspace admin event's is the ``insertId`` when the entry holds one event,
  ``<insertId>#<index>`` when several. Both as they have always been: a re-read of old
  logs replaces its events, never adds them again.
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
    fanned_id,
    listed,
    parse_time,
    require_object,
    stable_id,
    text,
)
from accessdrift.schemas.models import CloudAuditEvent

IAM = "google.iam.admin.v1."
ACCOUNT_LIFECYCLE = {
    f"{IAM}CreateServiceAccount": "account_created",
    f"{IAM}DeleteServiceAccount": "account_deleted",
    f"{IAM}DisableServiceAccount": "account_disabled",
}
KEY_LIFECYCLE = {
    f"{IAM}CreateServiceAccountKey": "credential_created",
    f"{IAM}DeleteServiceAccountKey": "credential_revoked",
    f"{IAM}DisableServiceAccountKey": "credential_revoked",
}

# The IAM Service Account Credentials API: a caller makes a short-lived credential of a
# service account (an OAuth token, an ID token, a JWT or a blob signed with its key).
CREDENTIALS_SERVICE = "iamcredentials.googleapis.com"
CREDENTIALS_API = "google.iam.credentials."
TOKEN_METHODS = {"GenerateAccessToken", "GenerateIdToken", "SignJwt", "SignBlob"}
MAX_EMAIL = 254  # RFC 5321's longest address
MAX_RESOURCE_NAME = 1024
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}", re.ASCII)

# Workspace admin event names (Admin SDK Reports "admin" application) -> kind.
WORKSPACE_ADMIN_EVENTS = {
    "CREATE_USER": "account_created",
    "UNSUSPEND_USER": "account_created",
    "SUSPEND_USER": "account_disabled",
    "ARCHIVE_USER": "account_disabled",
    "DELETE_USER": "account_deleted",
    "ADD_GROUP_MEMBER": "permission_granted",
    "REMOVE_GROUP_MEMBER": "permission_revoked",
    "ASSIGN_ROLE": "permission_granted",
    "UNASSIGN_ROLE": "permission_revoked",
}
# The parameter of a Workspace admin event that names what it grants, and its namespace.
WORKSPACE_ENTITLEMENTS = {
    "ADD_GROUP_MEMBER": ("GROUP_EMAIL", "gcp:group/"),
    "REMOVE_GROUP_MEMBER": ("GROUP_EMAIL", "gcp:group/"),
    "ASSIGN_ROLE": ("ROLE_NAME", "gcp:admin/"),
    "UNASSIGN_ROLE": ("ROLE_NAME", "gcp:admin/"),
}
# resource.labels -> the resource name a policy is set on, when the entry names none.
RESOURCE_LABELS = (
    ("project_id", "projects/"),
    ("folder_id", "folders/"),
    ("organization_id", "organizations/"),
)


def unwrap(document: Any) -> list[Any]:
    if isinstance(document, list):
        return list(document)
    if isinstance(document, Mapping) and isinstance(document.get("entries"), list):
        return list(document["entries"])
    return [document]


def member_account(member: str) -> str | None:
    """``user:alice@x.com`` / ``serviceAccount:sa@p.iam.gserviceaccount.com`` -> ``gcp:...``."""
    kind, _, email = member.partition(":")
    if kind in ("user", "serviceAccount") and email:
        return f"gcp:{email}"
    return None


def service_account_of(resource_name: str | None) -> str | None:
    """``projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k`` -> ``gcp:sa@...``."""
    if not resource_name or "/serviceAccounts/" not in resource_name:
        return None
    account = resource_name.split("/serviceAccounts/", 1)[1].split("/", 1)[0]
    return f"gcp:{account}" if account else None


def key_of(name: str | None) -> str | None:
    if not name:
        return None
    key = name.rstrip("/").rsplit("/", 1)[-1]
    return f"gcp:key/{key}" if key else None


def normalize(
    raw: Any, limit: int = MAX_RECORDS_PER_MESSAGE, patterns: Sequence[str] = DEFAULT_PATTERNS
) -> Normalized:
    entry = require_object(raw, "GCP audit")
    payload = entry.get("protoPayload")
    method = text(dig(entry, "protoPayload", "methodName"))
    if not isinstance(payload, Mapping) or method is None:
        raise RecordError("not a Cloud Audit Log entry: no protoPayload.methodName")
    event_time = parse_time(entry.get("timestamp") or entry.get("receiveTimestamp"), "timestamp")
    # Workload identity federation names a principalSubject instead of an email.
    email = text(dig(payload, "authenticationInfo", "principalEmail")) or text(
        dig(payload, "authenticationInfo", "principalSubject")
    )
    if email is None:
        raise RecordError(f"GCP {method} without authenticationInfo.principalEmail")
    account = f"gcp:{email}"
    credential = key_of(text(dig(payload, "authenticationInfo", "serviceAccountKeyName")))
    status_code = dig(payload, "status", "code")
    denied = any(
        isinstance(item, Mapping) and item.get("granted") is False
        for item in listed(payload.get("authorizationInfo"))
    )
    outcome = "failure" if (status_code not in (None, 0, "0") or denied) else "success"
    event_id = text(entry.get("insertId")) or stable_id("gcp", entry)
    common = {
        "event_time": event_time,
        "system": "gcp",
        "account_id": account,
        "credential_id": credential,
        "action": method,
        "outcome": outcome,
        "source_ip": text(dig(payload, "requestMetadata", "callerIp")),
        "user_agent": text(dig(payload, "requestMetadata", "callerSuppliedUserAgent")),
    }
    resource = text(payload.get("resourceName"))

    if method in ACCOUNT_LIFECYCLE:
        target = service_account_of(resource) or _created_account(payload)
        if target:
            return _one(event_id, common, ACCOUNT_LIFECYCLE[method], target_account_id=target)
    if method in KEY_LIFECYCLE:
        key_name = (
            text(dig(payload, "response", "name"))
            if method.endswith("CreateServiceAccountKey")
            else resource
        )
        target_key = key_of(key_name)
        if target_key:
            return _one(
                event_id,
                common,
                KEY_LIFECYCLE[method],
                target_account_id=service_account_of(key_name) or service_account_of(resource),
                target_credential_id=target_key,
            )
    if _issues_token(method, payload) and outcome == "success":
        # The token is the caller's, acting as the service account: the account it
        # acts as is the target, and the token (never logged) is named by its entry.
        token_entry = text(entry.get("insertId")) or event_id.removeprefix("gcp:")
        return _one(
            event_id,
            common,
            "credential_created",
            target_account_id=_token_service_account(payload, entry),
            target_credential_id=f"gcp:token/{token_entry}",
        )
    deltas = dig(payload, "serviceData", "policyDelta", "bindingDeltas") or dig(
        payload, "metadata", "datasetChange", "bindingDeltas"
    )
    admin_events = dig(payload, "metadata", "event")
    if method.startswith("google.admin.AdminService.") and isinstance(admin_events, list):
        workspace = _workspace_admin(event_id, common, admin_events, limit, patterns)
        if workspace.records or workspace.dropped:
            return workspace
    if method.endswith("SetIamPolicy") and isinstance(deltas, list) and deltas:
        on = resource or _labelled_resource(entry)
        granted = bounded(
            _member_deltas(deltas),
            lambda delta: CloudAuditEvent(
                # Always suffixed, one delta or several: the ids policy deltas have had
                # since they were first mapped (the note above base.fanned_id).
                event_id=f"{event_id}#{delta[0]}",
                kind=delta[1],
                target_account_id=delta[2],
                **common,
                **entitlement_fields(
                    delta[1], f"gcp:{on}#{delta[3]}" if on and delta[3] else None, patterns
                ),
            ),
            limit,
        )
        if granted.records or granted.dropped:
            return granted
    return _one(event_id, common, "usage")


def _issues_token(method: str, payload: Mapping[str, Any]) -> bool:
    """A call of the IAM Service Account Credentials API that makes a short-lived
    credential of a service account: ``GenerateAccessToken`` as its methodName is
    logged, or the full ``google.iam.credentials.v1.IAMCredentials.GenerateAccessToken``."""
    if payload.get("serviceName") != CREDENTIALS_SERVICE and not method.startswith(CREDENTIALS_API):
        return False
    return method.rsplit(".", 1)[-1] in TOKEN_METHODS


def _token_service_account(payload: Mapping[str, Any], entry: Mapping[str, Any]) -> str | None:
    """``gcp:<email>`` of the service account a token is made for: the email Google
    resolved it to (``resource.labels.email_id``; the request may name it by its unique
    id, and ``resourceName`` always does), else the one the request names."""
    if dig(entry, "resource", "type") == "service_account":
        labelled = _service_account_email(dig(entry, "resource", "labels", "email_id"))
        if labelled:
            return f"gcp:{labelled}"
    for name in (dig(payload, "request", "name"), payload.get("resourceName")):
        if isinstance(name, str) and len(name) <= MAX_RESOURCE_NAME:
            account = service_account_of(name)
            email = _service_account_email(account.removeprefix("gcp:") if account else None)
            if email:
                return f"gcp:{email}"
    return None


def _service_account_email(value: Any) -> str | None:
    """The value when it reads as an email address (a unique id, a scrubbed ``...`` or a
    hostile blob names no account)."""
    if not isinstance(value, str) or len(value) > MAX_EMAIL:
        return None
    email = value.strip()
    return email if EMAIL.fullmatch(email) else None


def _labelled_resource(entry: Mapping[str, Any]) -> str | None:
    """The project, folder or organization an entry's ``resource.labels`` name."""
    labels = dig(entry, "resource", "labels")
    if not isinstance(labels, Mapping):
        return None
    for label, prefix in RESOURCE_LABELS:
        value = text(labels.get(label))
        if value:
            return f"{prefix}{value}"
    return None


def _member_deltas(deltas: list[Any]) -> Iterator[tuple[int, str, str, str | None]]:
    """(index, kind, member account, role) of each binding delta naming a user or service
    account."""
    for index, delta in enumerate(deltas):
        member = (
            member_account(text(dig(delta, "member")) or "") if isinstance(delta, Mapping) else None
        )
        if member is None:
            continue
        kind = "permission_revoked" if dig(delta, "action") == "REMOVE" else "permission_granted"
        yield index, kind, member, text(dig(delta, "role"))


def _parameter(event: Mapping[str, Any], name: str) -> str | None:
    return next(
        (
            text(parameter.get("value"))
            for parameter in listed(event.get("parameter"))
            if isinstance(parameter, Mapping) and parameter.get("name") == name
        ),
        None,
    )


def _workspace_entitlement(event_name: str, event: Mapping[str, Any]) -> str | None:
    named = WORKSPACE_ENTITLEMENTS.get(event_name)
    if named is None:
        return None
    parameter, namespace = named
    value = _parameter(event, parameter)
    if value is None:
        return None
    # Group emails are case-insensitive, as user emails are; role names are constants.
    return f"{namespace}{value.lower() if parameter == 'GROUP_EMAIL' else value}"


def _workspace_admin(
    event_id: str,
    common: dict[str, Any],
    events: list[Any],
    limit: int,
    patterns: Sequence[str],
) -> Normalized:
    def changes() -> Iterator[tuple[str, str, str, str | None]]:
        for index, event in enumerate(events):
            if not isinstance(event, Mapping):
                continue
            event_name = text(event.get("eventName")) or ""
            kind = WORKSPACE_ADMIN_EVENTS.get(event_name)
            if kind is None:
                continue
            user = _parameter(event, "USER_EMAIL")
            if user is None:
                continue
            yield (
                fanned_id(event_id, index, len(events)),
                kind,
                f"gcp:{user.lower()}",
                _workspace_entitlement(event_name, event),
            )

    return bounded(
        changes(),
        lambda change: CloudAuditEvent(
            event_id=change[0],
            kind=change[1],
            target_account_id=change[2],
            **common,
            **entitlement_fields(change[1], change[3], patterns),
        ),
        limit,
    )


def _created_account(payload: Mapping[str, Any]) -> str | None:
    email = text(dig(payload, "response", "email"))
    if email:
        return f"gcp:{email}"
    account_id = text(dig(payload, "request", "account_id"))
    project = text(dig(payload, "request", "name"))
    if account_id and project and project.startswith("projects/"):
        return f"gcp:{account_id}@{project.split('/', 1)[1]}.iam.gserviceaccount.com"
    return None


def _one(event_id: str, common: dict[str, Any], kind: str, **targets: Any) -> Normalized:
    return Normalized([CloudAuditEvent(event_id=event_id, kind=kind, **common, **targets)])


FORMAT = RawFormat(
    name="gcp-audit",
    summary="Google Cloud Audit Logs (LogEntry with an AuditLog protoPayload) -> CloudAuditEvent",
    order=40,
    unwrap=unwrap,
    # A policy change makes a record per member delta: as many as the message's cap allows.
    normalize=lambda record, limit, context: normalize(
        record, limit, context.config.privileged_patterns
    ),
)
