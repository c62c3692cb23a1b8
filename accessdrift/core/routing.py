"""Canonical records in, messages for the identity stage out (through the resolver).

On a partitioned resolver a record goes to the partition of each subject it names
(``subjects_of``), and each partition does the part of the routing that is about
its own subjects (``Resolver.owns``): a claim where the claimed subject lives, a
fact where its subject lives, a directory change's own message where the
identity's id would live.
"""

from collections.abc import Mapping
from typing import Any

from accessdrift.core.entitlements import listed_entitlements
from accessdrift.core.messages import (
    AssumedMessage,
    ChangeMessage,
    ClaimMessage,
    DirectoryMessage,
    Fact,
    UseMessage,
)
from accessdrift.core.resolver import CREATED, LINK, USED, Outbound, Resolver, is_session_credential
from accessdrift.core.timeutil import to_micros

ACCOUNT_CHANGES = frozenset(
    {
        "account_created",
        "account_disabled",
        "account_deleted",
        "permission_granted",
        "permission_revoked",
    }
)
CREDENTIAL_CHANGES = frozenset({"credential_created", "credential_revoked"})


def subjects_of(record_name: str, record: Mapping[str, Any]) -> set[str]:
    """The keys whose resolver partitions must see the record."""
    if record_name == "DirectoryChange":
        keys = {record["identity_id"], *(record.get("accounts") or [])}
        if record.get("email"):
            keys.add(f"email:{record['email'].strip().lower()}")
        return keys
    names: tuple[str | None, ...]
    if record_name == "IdentityLink":
        names = (record.get("account_id"), record.get("credential_id"))
    elif record_name == "CloudAuditEvent":
        names = (
            record["account_id"],
            record.get("credential_id"),
            record.get("target_account_id"),
            record.get("target_credential_id"),
        )
    else:
        names = (record["credential_id"],)
    return {name for name in names if name}


def _addressed(
    resolver: Resolver, subject: str, message: Fact, is_credential: bool
) -> list[Outbound]:
    if not resolver.owns(subject):
        return []
    return resolver.address(subject, message, is_credential)


def route_directory_change(resolver: Resolver, record: Mapping[str, Any]) -> list[Outbound]:
    identity_id = record["identity_id"]
    kind = record["identity_kind"]
    time_us = to_micros(record["event_time"])
    out: list[Outbound] = []
    shared: list[Outbound] = []
    email = record.get("email")
    if resolver.link_by_email and email and resolver.owns(f"email:{email.strip().lower()}"):
        node = f"email:{email.strip().lower()}"
        if resolver.claim(node, LINK, identity_id, True, kind, time_us, source=record["source"]):
            out += resolver.reroute(node)
    for account in record.get("accounts") or []:
        if not resolver.owns(account):
            continue
        if resolver.claim(account, LINK, identity_id, True, kind, time_us, source=record["source"]):
            out += resolver.reroute(account)
        resolver.route(account)
        shared += resolver.record_link(account, identity_id, kind, time_us, False, False)
    message: DirectoryMessage = {
        "t": "dir",
        "id": record["event_id"],
        "ts": time_us,
        "src": record["source"],
        "ik": kind,
        "fb": False,
        "ct": record["change_type"],
        "accounts": list(record.get("accounts") or []),
        "owner": record.get("owner_id"),
    }
    listed = listed_entitlements(record.get("attributes"))
    if listed is not None:
        message["ents"] = sorted(listed)
    if resolver.owns(identity_id):
        out.append(Outbound(identity_id, message))
    # After the change itself: on one partition the later claimer hears of its claim
    # before it hears that the subject was shared.
    return out + shared


def route_identity_link(resolver: Resolver, record: Mapping[str, Any]) -> list[Outbound]:
    identity_id = record["identity_id"]
    kind = record["identity_kind"]
    time_us = to_micros(record["event_time"])
    removed = bool(record.get("removed"))
    out: list[Outbound] = []
    for subject in (record.get("account_id"), record.get("credential_id")):
        if not subject or not resolver.owns(subject):
            continue
        if resolver.claim(
            subject,
            LINK,
            identity_id,
            True,
            kind,
            time_us,
            removed=removed,
            source=record["source"],
        ):
            out += resolver.reroute(subject)
        is_credential = subject == record.get("credential_id")
        resolved = resolver.route(subject, is_credential)
        shared = resolver.record_link(subject, identity_id, kind, time_us, removed, is_credential)
        if not removed and resolved is not None and resolved.identity_id != identity_id:
            # A link that lost to a later one: the subject is not this identity's, and
            # telling it otherwise would make what it holds depend on arrival order.
            out += shared
            continue
        claim: ClaimMessage = {
            "t": "claim",
            "ts": time_us,
            "ik": kind,
            "fb": False,
            "s": subject,
            "cred": is_credential,
            "acc": record.get("account_id") if is_credential else None,
            "removed": removed,
        }
        out.append(Outbound(identity_id, claim))
        out += shared
    return out


def route_cloud_event(resolver: Resolver, record: Mapping[str, Any]) -> list[Outbound]:
    time_us = to_micros(record["event_time"])
    account = record["account_id"]
    credential = record.get("credential_id")
    kind = record["kind"]
    action = record["action"]
    success = record["outcome"] == "success"
    out: list[Outbound] = []

    # Ownership first, so that the facts below already go to the right identity.
    for named in (account, record.get("target_account_id")):
        if named and resolver.owns(named):
            out += resolver.claim_by_email(named, time_us)
    created = record.get("target_credential_id")
    role = assumed_role(record)
    if kind == "credential_created" and success and created and resolver.owns(created):
        # A session belongs to whoever asked for it, not to the role it assumed.
        owner_account = account if role else record.get("target_account_id") or account
        if resolver.claim(created, CREATED, owner_account, False, None, time_us, source=action):
            out += resolver.reroute(created)
    if (
        credential
        and resolver.owns(credential)
        and resolver.claim(credential, USED, account, False, None, time_us, source=action)
    ):
        out += resolver.reroute(credential)

    # Every audited action is a use of the acting principal and key.
    use: UseMessage = {
        "t": "use",
        "id": record["event_id"],
        "ts": time_us,
        "sys": record["system"],
        "acc": account,
        "cred": credential,
        "act": action,
        "ok": success,
        "ip": record.get("source_ip"),
        "ua": record.get("user_agent"),
    }
    out.extend(_addressed(resolver, credential or account, use, credential is not None))

    # A lifecycle change is also a fact about what it acted on.
    if kind in ACCOUNT_CHANGES or kind in CREDENTIAL_CHANGES:
        target_credential = record.get("target_credential_id")
        target_account = record.get("target_account_id")
        if kind in CREDENTIAL_CHANGES:
            subject = target_credential or credential
            if role:
                target_account = account  # the session is the assumer's, as its owner
            target_account = target_account or (account if kind == "credential_created" else None)
        else:
            subject = target_account or account
        if subject:
            change: ChangeMessage = {
                "t": "chg",
                "id": record["event_id"],
                "ts": time_us,
                "sys": record["system"],
                "kind": kind,
                "acc": target_account if kind in CREDENTIAL_CHANGES else subject,
                "cred": subject if kind in CREDENTIAL_CHANGES else None,
                "act": action,
                "ok": success,
                "session": kind == "credential_created" and is_session_credential(subject, action),
                "by": account,
            }
            if record.get("entitlement"):
                change["ent"] = record["entitlement"]
                change["priv"] = record.get("privileged")
            out.extend(_addressed(resolver, subject, change, kind in CREDENTIAL_CHANGES))
    out += _trust_facts(resolver, record, role, time_us, success)
    return out


# A role one assumes: the session actions that name one (target_account_id), and a Vault
# AppRole login (its token's entity is the role's).
ROLE_ASSUMPTIONS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GenerateAccessToken",
        "SignJwt",
        "SignBlob",
        "GenerateIdToken",
    }
)
# Vault entities are people too: an AppRole is known by its login, not by its creation.
ROLE_HINTS = (":role/", "gserviceaccount.com")


def assumed_role(record: Mapping[str, Any]) -> str | None:
    """The role a session-issuing action assumed, if it names one."""
    if record["kind"] != "credential_created" or not record.get("target_credential_id"):
        return None
    target = record.get("target_account_id")
    action = str(record["action"])
    if not target:
        return None
    if action in ROLE_ASSUMPTIONS or action.rsplit(".", 1)[-1] in ROLE_ASSUMPTIONS:
        return str(target)
    if "auth/approle/login" in action:
        return str(target)
    return None


def _trust_facts(
    resolver: Resolver, record: Mapping[str, Any], role: str | None, time_us: int, success: bool
) -> list[Outbound]:
    """Who created a role (kept on its node), and each assumption of it: to the identity
    that holds it and to the identity of the account that created it
    (core/detectors/trust.py)."""
    target = record.get("target_account_id")
    account = record["account_id"]
    if (
        record["kind"] == "account_created"
        and success
        and target
        and target != account
        and any(hint in target for hint in ROLE_HINTS)
        and resolver.owns(target)
    ):
        return resolver.note_creator(target, account, time_us, record["event_id"])
    if role is None or not success or not resolver.owns(role):
        return []
    made = resolver.creator_of(role)
    assumed: AssumedMessage = {
        "t": "assumed",
        "id": record["event_id"],
        "ts": time_us,
        "role": role,
        "by": account,
        "cred": record.get("credential_id"),
        "ip": record.get("source_ip"),
        "via": "holder",
        "mk": made[0] if made else None,
        "mts": made[1] if made else None,
        "mid": made[2] if made else None,
    }
    out = resolver.address(role, assumed, False)
    if made:
        out += resolver.forward(made[0], {**assumed, "via": "creator"})
    else:
        resolver.note_assumption(role, assumed)
    return out


def route_secret_usage(resolver: Resolver, record: Mapping[str, Any]) -> list[Outbound]:
    time_us = to_micros(record["event_time"])
    credential = record["credential_id"]
    account = record.get("account_id")
    out: list[Outbound] = []
    if not resolver.owns(credential):
        return out
    if account and resolver.claim(credential, USED, account, False, None, time_us, source="secret"):
        out += resolver.reroute(credential)
    use: UseMessage = {
        "t": "use",
        "id": record["event_id"],
        "ts": time_us,
        "sys": record["store"],
        "acc": account,
        "cred": credential,
        "act": f"{record['operation']} {record.get('secret_ref') or ''}".strip(),
        "ok": record["outcome"] == "success",
        "ip": None,
        "ua": None,
    }
    out.extend(_addressed(resolver, credential, use, True))
    return out


ROUTERS = {
    "DirectoryChange": route_directory_change,
    "IdentityLink": route_identity_link,
    "CloudAuditEvent": route_cloud_event,
    "SecretUsageEvent": route_secret_usage,
}


def route_record(resolver: Resolver, record_name: str, record: Mapping[str, Any]) -> list[Outbound]:
    return ROUTERS[record_name](resolver, record)
