"""A simulated record as the log line of the system that would have written it.

Each canonical record the simulation makes is rendered in its vendor's format so
that accessdrift's normalizer for that format gives the same record back
(``tests/unit/test_vendor_rendering.py`` proves it on whole organisations):

    aws   CloudAuditEvent   -> CloudTrail record (IAM, STS, S3 data events)
    gcp   CloudAuditEvent   -> Cloud Audit Log entry (IAM admin, Workspace admin, Storage)
    okta  CloudAuditEvent   -> Okta System Log event
    entra CloudAuditEvent   -> Entra audit log (lifecycle) or sign-in log (use)
    vault CloudAuditEvent,
          SecretUsageEvent  -> Vault audit device response entry
    DirectoryChange         -> a row of an HR export (CSV)
    IdentityLink            -> stays canonical: the inventory is accessdrift's own record

Times keep their microseconds in every format, so that lags computed from raw
logs equal the ground truth to the microsecond (CloudTrail writes whole seconds;
the normalizers accept both).

A grant or revoke is rendered as the vendor's own event for its entitlement
(docs/entitlements.md): ``aws:policy/X`` an AttachUserPolicy of the AWS managed policy,
``gcp:<resource>#<role>`` a SetIamPolicy binding delta, ``okta:admin/SUPER_ADMIN`` a
privilege grant, ``entra:role/<template id>`` "Add member to role"... A grant that
names no entitlement is the vendor's everyday one (``DEFAULT_ENTITLEMENT``), which
is what the normalizer reads back. Vault's audit log shows an entity's new list of
policies, never what was taken away: a revoke of a Vault policy has no line
(``UnrenderableRecord``).
"""

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

CANONICAL = "canonical"
HR_COLUMNS = (
    "record_id",
    "employee_id",
    "worker_type",
    "action",
    "effective_date",
    "email",
    "owner_id",
    "accounts",
    "department",
    "entitlements",
)
HR_HEADER = ",".join(HR_COLUMNS).encode()
HR_ACTIONS = {
    "joiner": "hire",
    "mover": "transfer",
    "leaver": "termination",
    "suspend": "leave of absence",
    "reactivate": "return from leave",
    "owner_change": "owner change",
}
FORMAT_OF_SYSTEM = {
    "aws": "cloudtrail",
    "gcp": "gcp-audit",
    "okta": "okta",
    "entra": "entra-audit",
    "vault": "vault",
}
# Where each format goes on disk, in the order a replay should take them.
FILE_OF_FORMAT = {
    CANONICAL: "inventory.jsonl",
    "hr-csv": "hr.csv",
    "cloudtrail": "cloudtrail.jsonl",
    "gcp-audit": "gcp-audit.jsonl",
    "okta": "okta.jsonl",
    "entra-audit": "entra-audit.jsonl",
    "vault": "vault.jsonl",
}
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
# The role an AssumeRole names when its record does not say which (a session whose
# record names no role, a denied request).
DENIED_ROLE = "Deploy"
GRANTS = ("permission_granted", "permission_revoked")
# What a grant that names no entitlement grants, as each vendor's line says it.
DEFAULT_ENTITLEMENT = {
    "aws": "aws:policy/ReadOnlyAccess",
    "gcp-service-account": "gcp:projects/corp#roles/viewer",
    "gcp": "gcp:group/team@corp.example",
    "okta": "okta:group/00gteam",
    "entra": "entra:group/team-group",
    "vault": "vault:policy/app",
}
# Okta's console names of its administrator roles (okta.ADMIN_ROLE_TYPES reads them back).
OKTA_ADMIN_LABELS = {
    "SUPER_ADMIN": "Super administrator",
    "ORG_ADMIN": "Organization administrator",
    "APP_ADMIN": "Application administrator (all)",
    "USER_ADMIN": "Group administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group membership administrator",
    "HELP_DESK_ADMIN": "Help desk administrator",
    "READ_ONLY_ADMIN": "Read only admin",
    "MOBILE_ADMIN": "Mobile administrator",
    "API_ACCESS_MANAGEMENT_ADMIN": "API access management administrator",
    "REPORT_ADMIN": "Report administrator",
}


class UnrenderableRecord(ValueError):
    """A record the vendor's log has no line for: a bug in the simulation."""


def render(name: str, fields: Mapping[str, Any]) -> tuple[str, bytes]:
    """(raw format, raw message) of one simulated record."""
    if name == "IdentityLink":
        return CANONICAL, _json({"record": name, **fields})
    if name == "DirectoryChange":
        return "hr-csv", hr_row(fields)
    if name == "SecretUsageEvent":
        return "vault", _json(_vault_read(fields))
    if name != "CloudAuditEvent":
        raise UnrenderableRecord(f"no vendor format for {name}")
    system = fields["system"]
    renderer = {
        "aws": _cloudtrail,
        "gcp": _gcp,
        "okta": _okta,
        "entra": _entra,
        "vault": _vault_change,
    }.get(system)
    if renderer is None:
        raise UnrenderableRecord(f"no vendor format for system {system!r}")
    return FORMAT_OF_SYSTEM[system], _json(renderer(fields))


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, default=_default, separators=(",", ":")).encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _time(value)
    return str(value)


def _time(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def _kind(fields: Mapping[str, Any]) -> str:
    return str(fields.get("kind") or "usage")


def entitlement_of(fields: Mapping[str, Any]) -> str | None:
    """The entitlement a rendered grant or revoke carries: its own, or the vendor's
    everyday one when it names none (``DEFAULT_ENTITLEMENT``); None for other kinds."""
    if _kind(fields) not in GRANTS:
        return None
    if fields.get("entitlement"):
        return str(fields["entitlement"])
    system = str(fields.get("system"))
    target = str(fields.get("target_account_id") or "")
    if system == "gcp" and target.endswith(".iam.gserviceaccount.com"):
        return DEFAULT_ENTITLEMENT["gcp-service-account"]
    return DEFAULT_ENTITLEMENT.get(system)


def _failed(fields: Mapping[str, Any]) -> bool:
    return fields.get("outcome") == "failure"


def _after(value: str | None, marker: str) -> str:
    if not value or marker not in value:
        raise UnrenderableRecord(f"expected {marker!r} in {value!r}")
    return value.split(marker, 1)[1]


# -- HR -------------------------------------------------------------------------------


def hr_row(fields: Mapping[str, Any]) -> bytes:
    attributes = fields.get("attributes") or {}
    row = {
        "record_id": fields["event_id"],
        "employee_id": fields["identity_id"],
        "worker_type": "service" if fields["identity_kind"] == "nhi" else "employee",
        "action": HR_ACTIONS[fields["change_type"]],
        "effective_date": _time(fields["event_time"]).replace("Z", "+00:00"),
        "email": fields.get("email") or "",
        "owner_id": fields.get("owner_id") or "",
        "accounts": ";".join(fields.get("accounts") or []),
        "department": attributes.get("department", ""),
        "entitlements": attributes.get("entitlements", ""),
    }
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([row[column] for column in HR_COLUMNS])
    return buffer.getvalue().encode()


# -- AWS CloudTrail -------------------------------------------------------------------


def _aws_identity(account_id: str, credential: str | None) -> dict[str, Any]:
    _, number, resource = account_id.split(":", 2)
    kind, _, rest = resource.partition("/")
    identity: dict[str, Any]
    if kind == "assumed-role":
        role, _, session = rest.partition("/")
        identity = {
            "type": "AssumedRole",
            "principalId": f"AROA{_digest(role)[:16].upper()}:{session}",
            "arn": f"arn:aws:sts::{number}:assumed-role/{rest}",
            "accountId": number,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{number}:role/{role}",
                    "accountId": number,
                    "userName": role,
                }
            },
        }
    elif kind == "user":
        identity = {
            "type": "IAMUser",
            "principalId": f"AIDA{_digest(rest)[:16].upper()}",
            "arn": f"arn:aws:iam::{number}:user/{rest}",
            "accountId": number,
            "userName": rest,
        }
    else:
        raise UnrenderableRecord(f"no CloudTrail principal for {account_id!r}")
    if credential:
        identity["accessKeyId"] = _after(credential, "aws:")
    return identity


ADMIN_POLICY_DOCUMENT = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
)
READ_POLICY_DOCUMENT = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}'
)
TRUST_DOCUMENT = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}'
)


def _aws_grant(fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(eventName, requestParameters) of an IAM grant or revoke of an entitlement to a
    user or a role."""
    granted = _kind(fields) == "permission_granted"
    entitlement = entitlement_of(fields) or ""
    target = str(fields.get("target_account_id") or "")
    principal, name = ("Role", "roleName") if ":role/" in target else ("User", "userName")
    subject = {name: _after(target, ":role/" if principal == "Role" else ":user/")}
    if entitlement.startswith("aws:policy/"):
        arn = f"arn:aws:iam::aws:policy/{_after(entitlement, 'aws:policy/')}"
        action = "Attach" if granted else "Detach"
        return f"{action}{principal}Policy", {**subject, "policyArn": arn}
    if entitlement.startswith("aws:inline/"):
        policy = _after(entitlement, "aws:inline/")
        if not granted:
            return f"Delete{principal}Policy", {**subject, "policyName": policy}
        # The normalizer judges an inline policy by what it allows: a privileged one
        # allows everything.
        document = ADMIN_POLICY_DOCUMENT if fields.get("privileged") else READ_POLICY_DOCUMENT
        return f"Put{principal}Policy", {
            **subject,
            "policyName": policy,
            "policyDocument": document,
        }
    if entitlement.startswith("aws:group/") and principal == "User":
        group = {"groupName": _after(entitlement, "aws:group/")}
        return ("AddUserToGroup" if granted else "RemoveUserFromGroup"), {**subject, **group}
    if entitlement.startswith("aws:trust/") and principal == "Role" and granted:
        return "UpdateAssumeRolePolicy", {**subject, "policyDocument": TRUST_DOCUMENT}
    account, _, policy = entitlement.removeprefix("aws:").partition(":policy/")
    if account and policy and "/" not in account:
        arn = f"arn:aws:iam::{account}:policy/{policy}"
        action = "Attach" if granted else "Detach"
        return f"{action}{principal}Policy", {**subject, "policyArn": arn}
    raise UnrenderableRecord(f"no CloudTrail event for {_kind(fields)} of {entitlement!r}")


def _cloudtrail(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(fields)
    number = fields["account_id"].split(":", 2)[1]
    target = str(fields.get("target_account_id") or "")
    # A role session's target is the role it acts as (named by roleArn below), a role
    # created the role itself.
    session = kind == "credential_created" and ":role/" in target
    role_created = kind == "account_created" and ":role/" in target
    target_user = (
        _after(target, ":user/")
        if target and kind not in GRANTS and not session and not role_created
        else None
    )
    target_key = (
        _after(fields["target_credential_id"], "aws:")
        if fields.get("target_credential_id")
        else None
    )
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    source, event_name = "iam.amazonaws.com", None
    if kind == "usage" and fields.get("action") == "AssumeRole":
        # Denied (else it would have issued a session): CloudTrail logs the request and
        # no response, and the normalizer reads no role back from it. The canonical
        # record names none, so the line names the account's everyday role.
        source, event_name = "sts.amazonaws.com", "AssumeRole"
        caller = fields["account_id"].rsplit("/", 1)[-1]
        request = {
            "roleArn": f"arn:aws:iam::{number}:role/{DENIED_ROLE}",
            "roleSessionName": caller,
            "durationSeconds": 3600,
        }
    elif kind == "usage":
        source = "s3.amazonaws.com"
        event_name = "PutObject" if fields.get("action") == "PutObject" else "GetObject"
        request = {"bucketName": "corp-data", "key": f"reports/{fields['event_id']}.csv"}
    elif kind == "credential_created" and target_key and target_key.startswith("ASIA"):
        source, event_name = "sts.amazonaws.com", "AssumeRole"
        caller = fields["account_id"].rsplit("/", 1)[-1]
        role = _after(target, ":role/") if session else DENIED_ROLE
        request = {
            "roleArn": f"arn:aws:iam::{number}:role/{role}",
            "roleSessionName": caller,
            "durationSeconds": 3600,
        }
        response = {
            "credentials": {
                "accessKeyId": target_key,
                "sessionToken": f"IQoJb3JpZ2luX2Vj{_digest(target_key)[:40]}",
                "expiration": "Jan 1, 2100 12:00:00 AM",
            },
            "assumedRoleUser": {
                "assumedRoleId": f"AROA{_digest(role)[:16].upper()}:{caller}",
                "arn": f"arn:aws:sts::{number}:assumed-role/{role}/{caller}",
            },
        }
    elif kind == "credential_created":
        event_name = "CreateAccessKey"
        request = {"userName": target_user}
        response = {
            "accessKey": {
                "userName": target_user,
                "accessKeyId": target_key,
                "status": "Active",
                "createDate": _time(fields["event_time"]),
            }
        }
    elif kind == "credential_revoked":
        event_name = "DeleteAccessKey"
        request = {"userName": target_user, "accessKeyId": target_key}
    elif role_created:
        event_name = "CreateRole"
        role = _after(target, ":role/")
        request = {"roleName": role, "assumeRolePolicyDocument": TRUST_DOCUMENT}
        response = {
            "role": {
                "roleName": role,
                "roleId": f"AROA{_digest(role)[:16].upper()}",
                "arn": f"arn:aws:iam::{number}:role/{role}",
                "createDate": _time(fields["event_time"]),
                "assumeRolePolicyDocument": TRUST_DOCUMENT,
            }
        }
    elif kind == "account_created":
        event_name = "CreateUser"
        request = {"userName": target_user}
        response = {
            "user": {
                "userName": target_user,
                "arn": f"arn:aws:iam::{number}:user/{target_user}",
                "createDate": _time(fields["event_time"]),
            }
        }
    elif kind == "account_disabled":
        event_name, request = "AttachUserPolicy", {"userName": target_user, "policyArn": DENY_ALL}
    elif kind == "account_deleted":
        event_name, request = "DeleteUser", {"userName": target_user}
    elif kind in GRANTS:
        event_name, request = _aws_grant(fields)
    else:
        raise UnrenderableRecord(f"no CloudTrail event for {kind}")
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": _aws_identity(fields["account_id"], fields.get("credential_id")),
        "eventTime": _time(fields["event_time"]),
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": fields.get("source_ip") or "198.51.100.1",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8",
        "requestParameters": request,
        "responseElements": None if _failed(fields) else response,
        "requestID": _digest("request", fields["event_id"])[:36],
        "eventID": fields["event_id"],
        "readOnly": event_name == "GetObject",
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com",
        "recipientAccountId": number,
        "eventCategory": "Data" if source == "s3.amazonaws.com" else "Management",
    }
    if _failed(fields):
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = f"User is not authorized to perform: {event_name}"
    return record


# -- Google Cloud ---------------------------------------------------------------------


def _gcp(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(fields)
    actor = _after(fields["account_id"], "gcp:")
    target = _after(fields["target_account_id"], "gcp:") if fields.get("target_account_id") else ""
    target_key = (
        _after(fields["target_credential_id"], "gcp:key/")
        if fields.get("target_credential_id")
        else None
    )
    service_account = target.endswith(".iam.gserviceaccount.com")
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "authenticationInfo": {"principalEmail": actor},
        "requestMetadata": {
            "callerIp": fields.get("source_ip") or "198.51.100.1",
            "callerSuppliedUserAgent": "google-cloud-sdk gcloud/470.0.0",
        },
    }
    if fields.get("credential_id"):
        key = _after(fields["credential_id"], "gcp:key/")
        payload["authenticationInfo"]["serviceAccountKeyName"] = (
            f"//iam.googleapis.com/projects/corp/serviceAccounts/{actor}/keys/{key}"
        )
    iam = "google.iam.admin.v1."
    resource_type = "service_account"
    if kind == "usage":
        resource_type = "gcs_bucket"
        payload |= {
            "serviceName": "storage.googleapis.com",
            "methodName": "storage.objects.get",
            "resourceName": f"projects/_/buckets/corp-data/objects/{fields['event_id']}.csv",
            "authorizationInfo": [
                {
                    "resource": "projects/_/buckets/corp-data",
                    "permission": "storage.objects.get",
                    "granted": not _failed(fields),
                }
            ],
        }
    elif kind in ("credential_created", "credential_revoked") and target_key:
        key_name = f"projects/corp/serviceAccounts/{target}/keys/{target_key}"
        created = kind == "credential_created"
        payload |= {
            "serviceName": "iam.googleapis.com",
            "methodName": iam
            + ("CreateServiceAccountKey" if created else "DeleteServiceAccountKey"),
            "resourceName": f"projects/-/serviceAccounts/{target}" if created else key_name,
        }
        if created:
            payload["response"] = {"name": key_name, "keyAlgorithm": "KEY_ALG_RSA_2048"}
    elif kind in ("account_created", "account_disabled", "account_deleted") and service_account:
        method = {
            "account_created": "CreateServiceAccount",
            "account_disabled": "DisableServiceAccount",
            "account_deleted": "DeleteServiceAccount",
        }[kind]
        payload |= {
            "serviceName": "iam.googleapis.com",
            "methodName": iam + method,
            "resourceName": f"projects/corp/serviceAccounts/{target}",
        }
    elif kind in GRANTS and "#" in (entitlement_of(fields) or ""):
        # One binding delta: the normalizer reads it back as event <insertId>#0 (policy
        # deltas are always numbered).
        resource, _, role = (entitlement_of(fields) or "").removeprefix("gcp:").partition("#")
        resource_type = resource.split("/", 1)[0].rstrip("s") or "project"
        member = f"{'serviceAccount' if service_account else 'user'}:{target}"
        payload |= {
            "serviceName": "cloudresourcemanager.googleapis.com",
            "methodName": "SetIamPolicy",
            "resourceName": resource,
            "serviceData": {
                "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
                "policyDelta": {
                    "bindingDeltas": [
                        {
                            "action": "ADD" if kind == "permission_granted" else "REMOVE",
                            "role": role,
                            "member": member,
                        }
                    ]
                },
            },
        }
    elif target:
        # People are Workspace users: their lifecycle is Workspace admin activity,
        # shared into Cloud Audit Logs.
        event_name, event_type = {
            "account_created": ("CREATE_USER", "USER_SETTINGS"),
            "account_disabled": ("SUSPEND_USER", "USER_SETTINGS"),
            "account_deleted": ("DELETE_USER", "USER_SETTINGS"),
            "permission_granted": ("ADD_GROUP_MEMBER", "GROUP_SETTINGS"),
            "permission_revoked": ("REMOVE_GROUP_MEMBER", "GROUP_SETTINGS"),
        }.get(kind, (None, None))
        if event_name is None:
            raise UnrenderableRecord(f"no GCP audit entry for {kind} of a user")
        resource_type = "audited_resource"
        parameters = [{"name": "USER_EMAIL", "value": target, "type": "TYPE_STRING"}]
        entitlement = entitlement_of(fields) or ""
        if kind in GRANTS and entitlement.startswith("gcp:admin/"):
            # A Workspace admin role: ASSIGN_ROLE / UNASSIGN_ROLE of its ROLE_NAME.
            event_name = "ASSIGN_ROLE" if kind == "permission_granted" else "UNASSIGN_ROLE"
            event_type = "DELEGATED_ADMIN_SETTINGS"
            role = _after(entitlement, "gcp:admin/")
            parameters.append({"name": "ROLE_NAME", "value": role, "type": "TYPE_STRING"})
        elif kind in GRANTS:
            group = _after(entitlement, "gcp:group/")
            parameters.append({"name": "GROUP_EMAIL", "value": group, "type": "TYPE_STRING"})
        camel = "".join(part.capitalize() for part in event_name.lower().split("_"))
        payload |= {
            "serviceName": "admin.googleapis.com",
            "methodName": f"google.admin.AdminService.{camel[0].lower()}{camel[1:]}",
            "resourceName": "organizations/123/userSettings",
            "metadata": {
                "@type": "type.googleapis.com/ccc_hosted_reporting.ActivityProto",
                "event": [
                    {"eventName": event_name, "eventType": event_type, "parameter": parameters}
                ],
            },
        }
    else:
        raise UnrenderableRecord(f"no GCP audit entry for {kind}")
    if _failed(fields):
        payload["status"] = {"code": 7, "message": "PERMISSION_DENIED"}
    return {
        "protoPayload": payload,
        "insertId": fields["event_id"],
        "resource": {"type": resource_type, "labels": {"project_id": "corp"}},
        "timestamp": _time(fields["event_time"]),
        "severity": "ERROR" if _failed(fields) else "NOTICE",
        "logName": "projects/corp/logs/cloudaudit.googleapis.com%2Factivity",
        "receiveTimestamp": _time(fields["event_time"]),
    }


# -- Okta -----------------------------------------------------------------------------

OKTA_EVENTS = {
    "usage": "user.authentication.sso",
    "account_created": "user.lifecycle.create",
    "account_disabled": "user.lifecycle.deactivate",
    "account_deleted": "user.lifecycle.delete.initiated",
    "permission_granted": "group.user_membership.add",
    "permission_revoked": "group.user_membership.remove",
}


def _okta(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(fields)
    event_type = OKTA_EVENTS.get(kind)
    if event_type is None:
        raise UnrenderableRecord(f"no Okta System Log event for {kind}")
    actor = _after(fields["account_id"], "okta:")
    debug: dict[str, Any] = {"requestId": _digest("request", fields["event_id"])[:27]}
    if kind == "usage":
        targets = [{"id": "0oacorpapp", "type": "AppInstance", "displayName": "Corp Portal"}]
    else:
        user = _after(fields["target_account_id"], "okta:")
        targets = [{"id": user, "type": "User", "alternateId": f"{user}@corp.example"}]
    if kind in GRANTS:
        granted = kind == "permission_granted"
        entitlement = entitlement_of(fields) or ""
        if entitlement.startswith("okta:group/"):
            group = _after(entitlement, "okta:group/")
            targets.append({"id": group, "type": "UserGroup", "displayName": group})
        elif entitlement.startswith("okta:app/"):
            event_type = f"application.user_membership.{'add' if granted else 'remove'}"
            app = _after(entitlement, "okta:app/")
            targets.append({"id": app, "type": "AppInstance", "displayName": app})
        elif entitlement.startswith("okta:admin/"):
            event_type = f"user.account.privilege.{'grant' if granted else 'revoke'}"
            role = _after(entitlement, "okta:admin/")
            key = "privilegeGranted" if granted else "privilegeRevoked"
            debug[key] = OKTA_ADMIN_LABELS.get(role, role)
        else:
            raise UnrenderableRecord(f"no Okta System Log event for {kind} of {entitlement!r}")
    return {
        "uuid": fields["event_id"],
        "published": _time(fields["event_time"]),
        "eventType": event_type,
        "version": "0",
        "severity": "WARN" if _failed(fields) else "INFO",
        "displayMessage": event_type,
        "actor": {"id": actor, "type": "User", "alternateId": f"{actor}@corp.example"},
        "client": {
            "ipAddress": fields.get("source_ip") or "198.51.100.1",
            "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
        },
        "outcome": {"result": "FAILURE" if _failed(fields) else "SUCCESS"},
        "target": targets,
        "transaction": {"type": "WEB", "id": _digest("transaction", fields["event_id"])[:20]},
        "debugContext": {"debugData": debug},
    }


# -- Microsoft Entra ------------------------------------------------------------------

ENTRA_ACTIVITIES = {
    "account_created": "Add user",
    "account_disabled": "Disable account",
    "account_deleted": "Delete user",
    "permission_granted": "Add member to group",
    "permission_revoked": "Remove member from group",
}


def _entra(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(fields)
    actor = _after(fields["account_id"], "entra:")
    when = _time(fields["event_time"])
    ip = fields.get("source_ip") or "198.51.100.1"
    if kind == "usage":
        code = 50126 if _failed(fields) else 0
        return {
            "time": when,
            "resourceId": "/tenants/corp/providers/Microsoft.aadiam",
            "operationName": "Sign-in activity",
            "category": "SignInLogs",
            "resultType": str(code),
            "callerIpAddress": ip,
            "properties": {
                "id": fields["event_id"],
                "createdDateTime": when,
                "userId": actor,
                "userPrincipalName": f"{actor}@corp.example",
                "appDisplayName": "Office 365 Exchange Online",
                "ipAddress": ip,
                "status": {"errorCode": code},
            },
        }
    activity = ENTRA_ACTIVITIES.get(kind)
    if activity is None:
        raise UnrenderableRecord(f"no Entra audit activity for {kind}")
    user = _after(fields["target_account_id"], "entra:")
    targets: list[dict[str, Any]] = [
        {"id": user, "type": "User", "userPrincipalName": f"{user}@corp.example"}
    ]
    if kind in GRANTS:
        activity, targets = _entra_grant(kind == "permission_granted", user, entitlement_of(fields))
    return {
        "time": when,
        "resourceId": "/tenants/corp/providers/Microsoft.aadiam",
        "operationName": activity,
        "category": "AuditLogs",
        "resultType": "Failure" if _failed(fields) else "Success",
        "callerIpAddress": ip,
        "properties": {
            "id": fields["event_id"],
            "activityDisplayName": activity,
            "activityDateTime": when,
            "category": "UserManagement" if kind.startswith("account") else "GroupManagement",
            "result": "failure" if _failed(fields) else "success",
            "loggedByService": "Core Directory",
            "initiatedBy": {"app": {"servicePrincipalId": actor, "displayName": actor}},
            "targetResources": targets,
        },
    }


def _entra_property(name: str, value: str, granted: bool) -> dict[str, Any]:
    """A modified property as Entra logs it: a JSON string, new when added, old when
    removed."""
    quoted = json.dumps(value)
    return {
        "displayName": name,
        "oldValue": None if granted else quoted,
        "newValue": quoted if granted else None,
    }


def _entra_grant(
    granted: bool, user: str, entitlement: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """(activity, targets) of a membership added or removed: the member first, with the
    ids of what it joined among its modified properties, as Entra logs them."""
    member: dict[str, Any] = {
        "id": user,
        "type": "User",
        "userPrincipalName": f"{user}@corp.example",
        "modifiedProperties": [],
    }
    entitlement = entitlement or ""
    if entitlement.startswith("entra:role/"):
        template = _after(entitlement, "entra:role/")
        member["modifiedProperties"] = [
            _entra_property("Role.ObjectID", _digest("role", template)[:32], granted),
            _entra_property("Role.DisplayName", f"role {template[:8]}", granted),
            _entra_property("Role.TemplateId", template, granted),
        ]
        activity = "Add member to role" if granted else "Remove member from role"
        return activity, [member, {"id": template, "type": "Role"}]
    if entitlement.startswith("entra:group/"):
        group = _after(entitlement, "entra:group/")
        member["modifiedProperties"] = [
            _entra_property("Group.ObjectID", group, granted),
            _entra_property("Group.DisplayName", f"group {group[:8]}", granted),
        ]
        activity = "Add member to group" if granted else "Remove member from group"
        return activity, [member, {"id": group, "type": "Group", "displayName": group}]
    if entitlement.startswith("entra:app/") and "#" in entitlement:
        app, _, role = _after(entitlement, "entra:app/").partition("#")
        principal = {
            "id": _digest("service-principal", app)[:32],
            "type": "ServicePrincipal",
            "displayName": app,
            "modifiedProperties": [
                _entra_property("AppRole.Id", role, granted),
                _entra_property("ServicePrincipal.AppId", app, granted),
                _entra_property("User.ObjectID", user, granted),
                _entra_property("User.UPN", f"{user}@corp.example", granted),
            ],
        }
        member.pop("modifiedProperties")
        activity = (
            "Add app role assignment grant to user"
            if granted
            else "Remove app role assignment from user"
        )
        return activity, [principal, member]
    raise UnrenderableRecord(f"no Entra audit activity for a grant of {entitlement!r}")


# -- HashiCorp Vault ------------------------------------------------------------------


def _vault_auth(account: str | None, credential: str | None) -> dict[str, Any] | None:
    if credential is None:
        return None
    entity = _after(account, "vault:entity/") if account else ""
    return {
        "client_token": f"hmac-sha256:{_digest('token', credential)[:32]}",
        "accessor": _after(credential, "vault:accessor/"),
        "display_name": f"userpass-{entity}",
        "policies": ["default", "app"],
        "entity_id": entity,
        "token_type": "service",
    }


def _vault_entry(
    fields: Mapping[str, Any],
    auth: dict[str, Any] | None,
    operation: str,
    path: str,
    data: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": _time(fields["event_time"]),
        "type": "response",
        "auth": auth,
        "request": {
            "id": fields["event_id"],
            "operation": operation,
            "mount_type": path.split("/", 1)[0],
            "client_token": (auth or {}).get("client_token"),
            "client_token_accessor": (auth or {}).get("accessor"),
            "namespace": {"id": "root"},
            "path": path,
            "data": data,
            "remote_address": fields.get("source_ip") or "198.51.100.1",
        },
        "response": response or {},
    }
    if _failed(fields):
        entry["error"] = "1 error occurred:\n\t* permission denied\n\n"
    return entry


def _vault_read(fields: Mapping[str, Any]) -> dict[str, Any]:
    auth = _vault_auth(fields.get("account_id"), fields["credential_id"])
    return _vault_entry(
        fields,
        auth,
        fields.get("operation") or "read",
        fields.get("secret_ref") or "secret/data/app",
        response={"data": {"data": {"password": "hmac-sha256:5f2c"}}},
    )


def _vault_change(fields: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(fields)
    auth = _vault_auth(fields["account_id"], fields.get("credential_id"))
    target = fields.get("target_account_id")
    entity = _after(target, "vault:entity/") if target else ""
    if kind == "credential_created":
        # A login: the response carries the new token, owned by the entity logging in.
        issued = _vault_auth(target, fields["target_credential_id"])
        return _vault_entry(
            fields,
            None,
            "update",
            f"auth/userpass/login/{entity}",
            data={"password": "hmac-sha256:9a1e"},
            response={"auth": issued},
        )
    if kind == "credential_revoked":
        accessor = _after(fields["target_credential_id"], "vault:accessor/")
        return _vault_entry(
            fields, auth, "update", "auth/token/revoke-accessor", data={"accessor": accessor}
        )
    if kind == "permission_revoked":
        raise UnrenderableRecord(
            "Vault's audit log shows an entity's new list of policies, not what was taken "
            f"away: no line revokes {fields.get('entitlement')!r}"
        )
    policy = _after(entitlement_of(fields), "vault:policy/") if kind in GRANTS else ""
    changes: dict[str, tuple[str, str, dict[str, Any] | None]] = {
        # Created with no policy: policies given at creation are grants of their own.
        "account_created": ("create", f"identity/entity/name/{entity}", {"disabled": False}),
        "account_disabled": ("update", f"identity/entity/id/{entity}", {"disabled": True}),
        "account_deleted": ("delete", f"identity/entity/id/{entity}", None),
        "permission_granted": ("update", f"identity/entity/id/{entity}", {"policies": [policy]}),
    }
    if kind not in changes:
        raise UnrenderableRecord(f"no Vault audit entry for {kind}")
    operation, path, data = changes[kind]
    return _vault_entry(fields, auth, operation, path, data=data)
