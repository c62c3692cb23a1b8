"""AWS CloudTrail records -> CloudAuditEvent / SecretUsageEvent.

Rules (the README's normalizer table repeats them):
- A record without ``eventName`` or ``eventTime`` (``@timestamp`` when shipped by
  Logstash) is dead-lettered.
- Digest files, Insights events and actions taken by AWS services themselves
  (``userIdentity.type`` AWSService) are ignored by rule.
- The acting principal comes from ``userIdentity``: its ARN without IAM path
  (``aws:<account>:user/<name>``, ``aws:<account>:assumed-role/<role>/<session>``,
  ``aws:<account>:root``), or the user name a SAML, web-identity, Identity Center or
  unknown user carries. No principal at all: dead-lettered.
- ``userIdentity.accessKeyId`` is the credential (``aws:<key id>``).
- ``errorCode`` (or a ConsoleLogin ``Failure``) makes the outcome a failure.
- A session issued by STS is a ``credential_created`` of its key by the caller, who owns
  it; AssumeRole, AssumeRoleWithSAML and AssumeRoleWithWebIdentity name the role it acts
  as in ``target_account_id`` (``aws:<account>:role/<role>`` from ``roleArn``, no IAM
  path; a roleArn that names no IAM role leaves it null). GetSessionToken and
  GetFederationToken act as their caller: no target account.
- IAM and STS lifecycle actions become lifecycle kinds with their target; every other
  action, known or not, is a use by its principal. IAM users cannot be disabled: the
  usual quarantine, attaching the AWS managed ``AWSDenyAll`` policy, counts as
  ``account_disabled``. Secrets Manager reads with a key
  are secret usage.
- Grants and revokes name their entitlement (docs/entitlements.md): a managed policy
  attached or detached is ``aws:policy/<name>`` (AWS managed) or
  ``aws:<account>:policy/<name>`` (customer managed, IAM path left out), an inline policy
  put or deleted ``aws:inline/<policy name>`` (privileged when its document allows
  Action ``*`` on Resource ``*``), a group joined or left ``aws:group/<group name>``, and
  a role's new trust policy ``aws:trust/<role name>`` granted to the role (privileged
  when it lets any principal, ``*``, assume it). A trust policy is replaced whole: the
  log does not say whom the old one trusted, so a trust is never revoked.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from accessdrift import jsontext
from accessdrift.errors import DecodeError, RecordError
from accessdrift.normalizers.base import (
    DEFAULT_PATTERNS,
    Normalized,
    RawFormat,
    dig,
    entitlement_fields,
    mapping,
    parse_time,
    require_object,
    stable_id,
    text,
)
from accessdrift.schemas.models import CloudAuditEvent, SecretUsageEvent

# Real keys are AKIA/ASIA + 16 characters; published samples scrub them to placeholders
# (EXAMPLE_KEY_ID, ABCDEFG), which are kept: they are what the log says.
KEY_ID = re.compile(r"^[A-Za-z0-9_]{1,128}$")
SESSION_ISSUERS = {
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
}
# The session issuers that act as a role (requestParameters.roleArn); GetSessionToken
# and GetFederationToken act as their caller.
ROLE_ASSUMPTIONS = {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"}
# IAM caps an ARN at 2,048 characters and a role name at 64; what is longer, or not a
# role of IAM, names no role, whatever a hostile record claims.
MAX_ARN = 2048
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
ACCOUNT_NUMBER = re.compile(r"[\w-]{1,64}", re.ASCII)
SECRET_READS = {"GetSecretValue", "BatchGetSecretValue"}
DENY_ALL_POLICY = "arn:aws:iam::aws:policy/AWSDenyAll"

# eventName -> (kind, what the target is)
IAM_LIFECYCLE: dict[str, tuple[str, str]] = {
    "CreateUser": ("account_created", "user"),
    "DeleteUser": ("account_deleted", "user"),
    "CreateLoginProfile": ("credential_created", "login-profile"),
    "DeleteLoginProfile": ("credential_revoked", "login-profile"),
    "CreateAccessKey": ("credential_created", "access-key"),
    "DeleteAccessKey": ("credential_revoked", "access-key"),
    "AttachUserPolicy": ("permission_granted", "user"),
    "PutUserPolicy": ("permission_granted", "user"),
    "DetachUserPolicy": ("permission_revoked", "user"),
    "DeleteUserPolicy": ("permission_revoked", "user"),
    "AddUserToGroup": ("permission_granted", "user"),
    "RemoveUserFromGroup": ("permission_revoked", "user"),
    "AttachGroupPolicy": ("permission_granted", "group"),
    "PutGroupPolicy": ("permission_granted", "group"),
    "DetachGroupPolicy": ("permission_revoked", "group"),
    "DeleteGroupPolicy": ("permission_revoked", "group"),
    "CreateRole": ("account_created", "role"),
    "CreateServiceLinkedRole": ("account_created", "role"),
    "DeleteRole": ("account_deleted", "role"),
    "DeleteServiceLinkedRole": ("account_deleted", "role"),
    "AttachRolePolicy": ("permission_granted", "role"),
    "PutRolePolicy": ("permission_granted", "role"),
    "UpdateAssumeRolePolicy": ("permission_granted", "role"),
    "DetachRolePolicy": ("permission_revoked", "role"),
    "DeleteRolePolicy": ("permission_revoked", "role"),
}
# Grants and revokes by what names their entitlement in requestParameters.
POLICY_ATTACHMENTS = {
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
}
INLINE_POLICIES = {
    "PutUserPolicy",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "DeleteGroupPolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
}
GROUP_MEMBERSHIPS = {"AddUserToGroup", "RemoveUserFromGroup"}
# IAM caps an inline policy at 10,240 characters (a role's); past a generous margin a
# document is not parsed at all, whatever a hostile record claims.
MAX_POLICY_DOCUMENT = 64 * 1024
IDENTITY_CENTER: dict[str, str] = {
    "CreateUser": "account_created",
    "DeleteUser": "account_deleted",
    "DisableUser": "account_disabled",
    "CreateGroupMembership": "permission_granted",
    "DeleteGroupMembership": "permission_revoked",
}


def unwrap(document: Any) -> list[Any]:
    """A ``{"Records": [...]}`` file, a list of records, or one record."""
    if isinstance(document, Mapping) and isinstance(document.get("Records"), list):
        return list(document["Records"])
    if isinstance(document, list):
        return list(document)
    return [document]


def normalize(raw: Any, patterns: Sequence[str] = DEFAULT_PATTERNS) -> Normalized:
    record = require_object(raw, "CloudTrail")
    if "digestStartTime" in record or "digestPublicKeyFingerprint" in record:
        return Normalized.ignore("cloudtrail digest file")
    if record.get("eventType") == "AwsCloudTrailInsight":
        return Normalized.ignore("cloudtrail insights event")
    name = text(record.get("eventName"))
    if name is None:
        raise RecordError("CloudTrail record without eventName")
    # Logstash-shipped records carry the event time as @timestamp instead.
    event_time = parse_time(record.get("eventTime") or record.get("@timestamp"), "eventTime")
    identity = record.get("userIdentity")
    if not isinstance(identity, Mapping):
        raise RecordError(f"CloudTrail {name} without userIdentity")
    if identity.get("type") == "AWSService":
        return Normalized.ignore("cloudtrail action by an AWS service")
    account_number = (
        text(record.get("recipientAccountId")) or text(identity.get("accountId")) or "unknown"
    )
    if identity.get("userName") == HIDDEN_USER:
        # AWS hides the user name a failed console sign-in typed when no such user
        # exists: no account of anyone's, nothing to attribute.
        return Normalized.ignore("cloudtrail sign-in by a user name AWS does not know")
    principal = principal_id(identity, account_number)
    if principal is None:
        raise RecordError(f"CloudTrail {name} names no principal in userIdentity")
    key = access_key(identity.get("accessKeyId"))
    failed = (
        bool(record.get("errorCode"))
        or dig(record, "responseElements", "ConsoleLogin") == "Failure"
    )
    outcome = "failure" if failed else "success"
    event_id = text(record.get("eventID")) or stable_id("cloudtrail", record)
    source = text(record.get("eventSource")) or ""
    request = mapping(record.get("requestParameters"))
    response = mapping(record.get("responseElements"))

    if source == "secretsmanager.amazonaws.com" and name in SECRET_READS and key:
        return Normalized(
            [
                SecretUsageEvent(
                    event_id=event_id,
                    event_time=event_time,
                    store="aws-secretsmanager",
                    credential_id=key,
                    account_id=principal,
                    secret_ref=text(request.get("secretId")) or _first_secret(request),
                    operation="read",
                    outcome=outcome,
                )
            ]
        )

    kind, target_account, target_credential = "usage", None, None
    entitlement: str | None = None
    seen_privileged: bool | None = None
    if source == "iam.amazonaws.com" and name in IAM_LIFECYCLE:
        kind, target_type = IAM_LIFECYCLE[name]
        target_account, target_credential = _iam_target(
            name, target_type, request, response, principal, key, account_number
        )
        if name == "AttachUserPolicy" and text(request.get("policyArn")) == DENY_ALL_POLICY:
            kind = "account_disabled"
        else:
            entitlement, seen_privileged = iam_entitlement(name, request, target_account)
    elif source == "iam.amazonaws.com" and name == "UpdateAccessKey":
        if text(request.get("status")) == "Inactive":
            kind = "credential_revoked"
            target_credential = access_key(request.get("accessKeyId"))
            target_account = _user(request.get("userName"), account_number) or principal
    elif source == "sts.amazonaws.com" and name in SESSION_ISSUERS:
        issued = access_key(dig(response, "credentials", "accessKeyId"))
        if issued:
            # The session belongs to whoever asked for it, not to the role: the role is
            # only what the session acts as (the trust path a leaver's role is used by).
            kind, target_credential = "credential_created", issued
            if name in ROLE_ASSUMPTIONS:
                target_account = assumed_role(request.get("roleArn"))
    elif (
        source in ("identitystore.amazonaws.com", "sso-directory.amazonaws.com")
        and name in IDENTITY_CENTER
    ):
        kind = IDENTITY_CENTER[name]
        user = (
            text(request.get("userId"))
            or text(request.get("userName"))
            or text(dig(response, "user", "userId"))
        )
        target_account = f"aws:identitystore:{user}" if user else None
        if target_account is None:
            kind = "usage"
    if kind != "usage" and target_account is None and target_credential is None:
        kind = "usage"  # a lifecycle action we cannot aim: still a use by its principal

    return Normalized(
        [
            CloudAuditEvent(
                event_id=event_id,
                event_time=event_time,
                system="aws",
                account_id=principal,
                credential_id=key,
                action=name,
                kind=kind,
                target_account_id=target_account,
                target_credential_id=target_credential,
                outcome=outcome,
                source_ip=text(record.get("sourceIPAddress")),
                user_agent=text(record.get("userAgent")),
                **entitlement_fields(kind, entitlement, patterns, seen_privileged),
            )
        ]
    )


HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"


def principal_id(identity: Mapping[str, Any], account_number: str) -> str | None:
    arn = text(identity.get("arn"))
    if arn:
        parsed = arn_principal(arn)
        if parsed:
            return parsed
    kind = identity.get("type")
    user_name = text(identity.get("userName")) or text(identity.get("principalId"))
    if not user_name:
        return None
    account = text(identity.get("accountId")) or account_number
    if kind == "SAMLUser":
        return f"aws:{account}:saml-user/{user_name}"
    if kind == "WebIdentityUser":
        return f"aws:{account}:web-identity-user/{user_name}"
    if kind == "IdentityCenterUser":
        return f"aws:identitystore:{user_name}"
    if kind == "Root":
        return f"aws:{account}:root"
    return f"aws:{account}:user/{user_name.rsplit('/', 1)[-1]}"


def arn_principal(arn: str) -> str | None:
    """``arn:aws:iam::123:user/path/alice`` -> ``aws:123:user/alice`` (no IAM path)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    account, resource = parts[4], parts[5]
    if resource == "root":
        return f"aws:{account}:root"
    kind, _, rest = resource.partition("/")
    if not rest:
        return None
    if kind == "assumed-role":
        return f"aws:{account}:assumed-role/{rest}"
    if kind in ("user", "role", "group", "federated-user"):
        return f"aws:{account}:{kind}/{rest.rsplit('/', 1)[-1]}"
    return f"aws:{account}:{kind}/{rest}"


def assumed_role(value: Any) -> str | None:
    """``arn:aws:iam::123:role/path/Deploy`` -> ``aws:123:role/Deploy``, the id of the role
    as its creation names it (no IAM path); None for anything else."""
    if not isinstance(value, str) or len(value) > MAX_ARN:
        return None
    parts = value.strip().split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    account, resource = parts[4], parts[5]
    if not resource.startswith("role/") or not ACCOUNT_NUMBER.fullmatch(account):
        return None
    role = resource.rsplit("/", 1)[-1]
    return f"aws:{account}:role/{role}" if ROLE_NAME.fullmatch(role) else None


def access_key(value: Any) -> str | None:
    key = text(value)
    return f"aws:{key}" if key and KEY_ID.match(key) else None


def _user(name: Any, account_number: str) -> str | None:
    user = text(name)
    return f"aws:{account_number}:user/{user}" if user else None


def _iam_target(
    name: str,
    target_type: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    principal: str,
    key: str | None,
    account_number: str,
) -> tuple[str | None, str | None]:
    """(target account, target credential) of an IAM lifecycle action."""
    if target_type == "user":
        return _user(request.get("userName"), account_number), None
    if target_type == "group":
        group = text(request.get("groupName"))
        return (f"aws:{account_number}:group/{group}" if group else None), None
    if target_type == "role":
        role = text(request.get("roleName")) or text(dig(response, "role", "roleName"))
        if not role and text(request.get("aWSServiceName")):
            role = f"AWSServiceRoleFor{request['aWSServiceName']}"
        return (f"aws:{account_number}:role/{role}" if role else None), None
    # Keys and passwords: the user named in the request, or (no name) the caller.
    user = _user(request.get("userName"), account_number) or (
        principal if ":user/" in principal else None
    )
    if target_type == "login-profile":
        if user is None:
            return None, None
        return user, f"{user.replace(':user/', ':login-profile/')}"
    if name == "CreateAccessKey":
        created = access_key(dig(response, "accessKey", "accessKeyId"))
        owner = _user(dig(response, "accessKey", "userName"), account_number) or user
        return owner, created
    return user, access_key(request.get("accessKeyId"))


def iam_entitlement(
    name: str, request: Mapping[str, Any], target_account: str | None
) -> tuple[str | None, bool | None]:
    """(entitlement, privileged as its content shows or None) of an IAM grant or revoke."""
    if name in POLICY_ATTACHMENTS:
        return policy_entitlement(text(request.get("policyArn"))), None
    if name in INLINE_POLICIES:
        policy = text(request.get("policyName"))
        seen = allows_everything(request.get("policyDocument")) if name.startswith("Put") else None
        return (f"aws:inline/{policy}" if policy else None), seen
    if name in GROUP_MEMBERSHIPS:
        group = text(request.get("groupName"))
        return (f"aws:group/{group}" if group else None), None
    if name == "UpdateAssumeRolePolicy" and target_account and ":role/" in target_account:
        role = target_account.split(":role/", 1)[1]
        return f"aws:trust/{role}", trusts_anyone(request.get("policyDocument"))
    return None, None


def policy_entitlement(arn: str | None) -> str | None:
    """``arn:aws:iam::aws:policy/job-function/ViewOnlyAccess`` -> ``aws:policy/ViewOnlyAccess``;
    ``arn:aws:iam::123:policy/team/Deploy`` -> ``aws:123:policy/Deploy`` (no IAM path: the
    name is unique in its account, as the ids of principals are)."""
    if not arn:
        return None
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    account, resource = parts[4], parts[5]
    if not resource.startswith("policy/"):
        return None
    policy = resource.rsplit("/", 1)[-1]
    if not policy or not account:
        return None
    return f"aws:policy/{policy}" if account == "aws" else f"aws:{account}:policy/{policy}"


def policy_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document as CloudTrail logs it: a JSON string (URL-encoded in older
    records), or already an object; None when it is none of these."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str) or len(value) > MAX_POLICY_DOCUMENT:
        return None
    document = value.strip()
    if document.startswith("%7B") or document.startswith("%7b"):
        document = unquote(document)
    try:
        parsed = jsontext.loads(document)
    except DecodeError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        return [statements]
    if isinstance(statements, list):
        return [statement for statement in statements if isinstance(statement, Mapping)]
    return []


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows_everything(value: Any) -> bool | None:
    """True when the policy allows every action on every resource (``*`` or ``*:*`` on
    ``*``): full control of the account, whatever its name says; None otherwise (the
    patterns decide)."""
    document = policy_document(value)
    if document is None:
        return None
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = _listed(statement.get("Action"))
        if any(action in ("*", "*:*") for action in actions) and "*" in _listed(
            statement.get("Resource")
        ):
            return True
    return None


def trusts_anyone(value: Any) -> bool | None:
    """True when a trust policy lets any principal (``*``, or ``{"AWS": "*"}``) assume the
    role: whoever finds it holds it; None otherwise."""
    document = policy_document(value)
    if document is None:
        return None
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if principal == "*" or (
            isinstance(principal, Mapping) and "*" in _listed(principal.get("AWS"))
        ):
            return True
    return None


def _first_secret(request: Mapping[str, Any]) -> str | None:
    ids = request.get("secretIdList")
    if isinstance(ids, list) and ids:
        return text(ids[0])
    return None


FORMAT = RawFormat(
    name="cloudtrail",
    summary="AWS CloudTrail records -> CloudAuditEvent / SecretUsageEvent",
    order=10,
    unwrap=unwrap,
    normalize=lambda record, _limit, context: normalize(record, context.config.privileged_patterns),
)
