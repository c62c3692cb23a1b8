"""Grants and revokes name their entitlement (docs/entitlements.md): every normalizer, on
the published samples where one exists, on hand-written records where none was found
(each says so), and on hostile ones.

Each mapping has its negative: a failed grant keeps its failure, a record that names
no grantee is a use, a policy name full of markup or a token is an id like any other
(scrub digests the one that holds a secret), and no other kind carries an entitlement.
"""

import csv
import io
import json
from typing import Any

import pytest

from accessdrift.canonical import parse_line
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, listed_entitlements
from accessdrift.core.timeutil import MICROS
from accessdrift.normalizers import cloudtrail, entra, gcp, okta, scim, vault
from accessdrift.normalizers.base import Normalized
from accessdrift.normalizers.config import NormalizerConfig, ScimFeed
from accessdrift.normalizers.registry import CSV_HEADER, normalize_message
from accessdrift.schemas.models import CloudAuditEvent, DirectoryChange
from accessdrift.settings import Settings
from accessdrift.simulate.vendors import HR_COLUMNS, HR_HEADER
from accessdrift.streams.normalize import normalizer_config
from tests.unit.samples import http_requests, lines, whole
from tests.unit.test_normalizers_real_samples import REAL_SAMPLES

GRANTS = ("permission_granted", "permission_revoked")


def records(
    format_name: str,
    message: bytes,
    config: NormalizerConfig | None = None,
    headers: dict[str, bytes] | None = None,
) -> list[Any]:
    outcomes = normalize_message(format_name, message, headers, config=config)
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
    return [record for outcome in outcomes for record in outcome.records]


def only(format_name: str, message: bytes, config: NormalizerConfig | None = None) -> Any:
    (record,) = records(format_name, message, config)
    return record


def granted(event: Any) -> tuple[str, str | None, str | None, bool | None]:
    return event.kind, event.target_account_id, event.entitlement, event.privileged


def panther_log(name: str, source_file: str, test_name: str) -> bytes:
    """One of Panther's rule test events, by its rule file and test name."""
    path = whole(f"panther-analysis-events/{name}").decode().splitlines()
    for line in path:
        sample = json.loads(line)
        if sample["source_file"].endswith(source_file) and sample["test_name"] == test_name:
            return json.dumps(sample["log"]).encode()
    raise AssertionError(f"no {test_name!r} in {source_file}")


# -- Every record of every real sample ----------------------------------------------------


@pytest.mark.parametrize("format_name, messages, expected", REAL_SAMPLES)
def test_only_grants_and_revokes_carry_an_entitlement_and_each_is_judged(
    format_name: str, messages: Any, expected: Any
) -> None:
    for message in messages():
        value, headers = message if isinstance(message, tuple) else (message, {})
        for outcome in normalize_message(format_name, value, headers):
            for record in outcome.records:
                if not isinstance(record, CloudAuditEvent):
                    continue
                if record.kind in GRANTS:
                    assert isinstance(record.privileged, bool), record
                else:
                    assert (record.entitlement, record.privileged) == (None, None), record


# -- AWS CloudTrail -------------------------------------------------------------------------


def test_a_real_administrator_access_attachment_is_a_privileged_managed_policy() -> None:
    admin = only(
        "cloudtrail",
        panther_log(
            "aws-cloudtrail.jsonl",
            "aws_iam_attach_admin_user_policy.yml",
            "IAM User Policy Attached with Administrator Access",
        ),
    )
    read_only = only(
        "cloudtrail",
        panther_log(
            "aws-cloudtrail.jsonl",
            "aws_iam_attach_admin_user_policy.yml",
            "IAM User Policy Attached without Administrator Access",
        ),
    )
    assert granted(admin) == (
        "permission_granted",
        "aws:123456789012:user/new-user",
        "aws:policy/AdministratorAccess",
        True,
    )
    assert granted(read_only)[2:] == ("aws:policy/ReadOnlyAccess", False)


def test_a_real_role_policy_attachment_targets_the_role_and_a_failed_one_stays_failed() -> None:
    role = only(
        "cloudtrail",
        panther_log(
            "aws-cloudtrail.jsonl",
            "aws_iam_attach_admin_role_policy.yml",
            "IAM Role Policy Attached with Administrator Access",
        ),
    )
    assert granted(role) == (
        "permission_granted",
        "aws:123456789012:role/new-role",
        "aws:policy/AdministratorAccess",
        True,
    )
    failed = only(
        "cloudtrail",
        panther_log(
            "aws-cloudtrail.jsonl", "aws_iam_anything_changed.yml", "Error Making IAM Change"
        ),
    )
    # NoSuchEntity: the grant did not happen; the ledger only takes successful ones.
    assert (failed.kind, failed.outcome, failed.entitlement) == (
        "permission_granted",
        "failure",
        "aws:policy/example-policy",
    )


def test_real_group_and_attachment_samples_of_other_publishers() -> None:
    added = only("cloudtrail", whole("elastic-beats/add-user-to-group-json.log"))
    assert granted(added) == (
        "permission_granted",
        "aws:123456789012:user/Bob",
        "aws:group/admin",
        False,
    )
    backdoor = only(
        "cloudtrail", whole("elastic-integrations/aws_cloudtrail__test-attach-user-policy-json.log")
    )
    assert granted(backdoor)[2:] == ("aws:policy/AdministratorAccess", True)


def test_a_real_inline_deny_all_is_not_privileged_and_a_put_without_parameters_is_a_use() -> None:
    deny = only(
        "cloudtrail",
        panther_log(
            "aws-cloudtrail.jsonl", "aws_iam_compromised_key_quarantine.yml", "PutUserPolicy-false"
        ),
    )
    # Effect Deny on everything takes access away: not an administrator's policy.
    assert granted(deny) == (
        "permission_granted",
        "aws:123456789012:user/test-user",
        "aws:inline/TestUserDenyAll",
        False,
    )
    nothing = only(
        "cloudtrail",
        panther_log("aws-cloudtrail.jsonl", "aws_key_compromised.yml", "Request Param is null"),
    )
    assert granted(nothing) == ("usage", None, None, None)


def test_real_trust_policy_updates_that_name_no_role_are_uses() -> None:
    for test_name in (
        "IAM Role Policy Updated to Allow Internet Access",
        "IAM Role Policy Updated With No Policy Document",
    ):
        event = only(
            "cloudtrail",
            panther_log("aws-cloudtrail.jsonl", "aws_iam_backdoor_role.yml", test_name),
        )
        assert granted(event) == ("usage", None, None, None)


def iam(name: str, request: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A CloudTrail IAM record in the shape of the published ones (hand-written: no
    published RemoveUserFromGroup, DetachRolePolicy or role-named UpdateAssumeRolePolicy
    with a known source was found)."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEADMIN0001",
            "arn": "arn:aws:iam::111122223333:user/admin",
            "accountId": "111122223333",
            "userName": "admin",
        },
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": request,
        "responseElements": None,
        "eventID": f"e-{name}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
        **extra,
    }


ADMIN_DOCUMENT = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
)


@pytest.mark.parametrize(
    "name, request_parameters, expected",
    [
        (
            "RemoveUserFromGroup",
            {"groupName": "Admins", "userName": "bob"},
            ("permission_revoked", "aws:111122223333:user/bob", "aws:group/Admins", False),
        ),
        (
            "DetachRolePolicy",
            {"roleName": "deploy", "policyArn": "arn:aws:iam::111122223333:policy/team/Deploy"},
            (
                "permission_revoked",
                "aws:111122223333:role/deploy",
                "aws:111122223333:policy/Deploy",
                False,
            ),
        ),
        (
            "DetachUserPolicy",
            {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"},
            ("permission_revoked", "aws:111122223333:user/bob", "aws:policy/ViewOnlyAccess", False),
        ),
        (
            "AttachUserPolicy",
            {
                "userName": "bob",
                "policyArn": "arn:aws:iam::111122223333:policy/AdministratorAccess",
            },
            (
                "permission_granted",
                "aws:111122223333:user/bob",
                "aws:111122223333:policy/AdministratorAccess",
                True,
            ),
        ),
        (
            "PutUserPolicy",
            {"userName": "bob", "policyName": "everything", "policyDocument": ADMIN_DOCUMENT},
            ("permission_granted", "aws:111122223333:user/bob", "aws:inline/everything", True),
        ),
        (
            # Older records URL-encode the document.
            "PutRolePolicy",
            {
                "roleName": "ci",
                "policyName": "star",
                "policyDocument": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C"
                "%22Action%22%3A%5B%22*%3A*%22%5D%2C%22Resource%22%3A%5B%22*%22%5D%7D%5D%7D",
            },
            ("permission_granted", "aws:111122223333:role/ci", "aws:inline/star", True),
        ),
        (
            "PutUserPolicy",
            {
                "userName": "bob",
                "policyName": "s3-everything",
                "policyDocument": '{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}',
            },
            ("permission_granted", "aws:111122223333:user/bob", "aws:inline/s3-everything", False),
        ),
        (
            "DeleteUserPolicy",
            {"userName": "bob", "policyName": "everything"},
            ("permission_revoked", "aws:111122223333:user/bob", "aws:inline/everything", False),
        ),
        (
            "UpdateAssumeRolePolicy",
            {
                "roleName": "backdoor",
                "policyDocument": '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
                '"Action":"sts:AssumeRole"}]}',
            },
            ("permission_granted", "aws:111122223333:role/backdoor", "aws:trust/backdoor", True),
        ),
        (
            "UpdateAssumeRolePolicy",
            {
                "roleName": "ec2",
                "policyDocument": '{"Statement":[{"Effect":"Allow",'
                '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
            },
            ("permission_granted", "aws:111122223333:role/ec2", "aws:trust/ec2", False),
        ),
    ],
)
def test_iam_grants_and_revokes(
    name: str, request_parameters: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    event = only("cloudtrail", json.dumps(iam(name, request_parameters)).encode())
    assert granted(event) == expected


def test_a_denied_removal_from_a_group_names_no_group_and_is_a_failed_use() -> None:
    # The shape AWS logs for an AccessDenied: requestParameters null.
    denied = iam("RemoveUserFromGroup", None, errorCode="AccessDenied")
    event = only("cloudtrail", json.dumps(denied).encode())
    assert (event.kind, event.outcome, event.entitlement) == ("usage", "failure", None)
    refused = iam(
        "RemoveUserFromGroup", {"groupName": "Admins", "userName": "bob"}, errorCode="NoSuchEntity"
    )
    event = only("cloudtrail", json.dumps(refused).encode())
    assert (event.kind, event.outcome, event.entitlement) == (
        "permission_revoked",
        "failure",
        "aws:group/Admins",
    )


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        "[]",
        '{"Statement": "Allow everything"}',
        '{"Statement": [{"Effect": "Allow", "Action": {"*": 1}, "Resource": [["*"]]}]}',
        '{"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}',
        "%7B%" * 5000,
        "[" * 5000,
        "x" * 70_000,
    ],
)
def test_a_hostile_policy_document_is_no_verdict_and_no_crash(document: str) -> None:
    put = iam("PutUserPolicy", {"userName": "bob", "policyName": "p", "policyDocument": document})
    event = only("cloudtrail", json.dumps(put).encode())
    assert granted(event) == (
        "permission_granted",
        "aws:111122223333:user/bob",
        "aws:inline/p",
        False,
    )


def test_quarantine_with_aws_deny_all_stays_a_disabling_not_a_grant() -> None:
    quarantine = iam(
        "AttachUserPolicy", {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll"}
    )
    event = only("cloudtrail", json.dumps(quarantine).encode())
    assert granted(event) == ("account_disabled", "aws:111122223333:user/bob", None, None)


@pytest.mark.parametrize(
    "arn",
    [None, "", "AdministratorAccess", "arn:aws:s3:::bucket", "arn:aws:iam::aws:role/x", "arn:"],
)
def test_a_policy_arn_that_is_not_one_names_no_entitlement(arn: str | None) -> None:
    assert cloudtrail.policy_entitlement(arn) is None


# -- Hostile names and secrets: the scrub's rules for ids ------------------------------------


def test_a_policy_name_of_markup_and_control_characters_is_an_id_kept_as_written() -> None:
    """An inline policy name is the vendor's text made an id: it is not cleaned (two names
    must not become one), it reaches the sinks as data, which escape it where they show
    it; the normalizer neither crashes nor loses it."""
    hostile = '<script>alert(1)</script>\x00\x1b[31m=HYPERLINK("x")\u202e'
    put = iam("PutUserPolicy", {"userName": "bob", "policyName": hostile, "policyDocument": "{}"})
    event = only("cloudtrail", json.dumps(put).encode())
    assert event.entitlement == f"aws:inline/{hostile}"
    assert event.privileged is False


def test_an_entitlement_that_holds_a_secret_is_a_digest_like_any_id() -> None:
    token = "hvs.CAESIJtheRootTokenPastedAsAPolicyNameXYZ1234567890"
    put = iam("PutUserPolicy", {"userName": "bob", "policyName": token, "policyDocument": "{}"})
    event = only("cloudtrail", json.dumps(put).encode())
    assert token not in event.model_dump_json()
    assert event.entitlement is not None and event.entitlement.startswith("aws:redacted:")
    again = only("cloudtrail", json.dumps({**put, "eventID": "other"}).encode())
    assert again.entitlement == event.entitlement, "one name, one digest: grant meets revoke"


POLICY_TOKEN = "hvs.CAESIJtheRootTokenPastedAsAPolicyNameXYZ1234567890"
TOKEN_POLICY = f"vault:policy/{POLICY_TOKEN}"


def hr_mover(entitlements: str, department: str = "platform") -> list[Any]:
    """Bob's transfer as a row of an HR export (the simulator's columns), normalized."""
    out = io.StringIO()
    row = {
        "record_id": "hr-1",
        "employee_id": "E2",
        "worker_type": "employee",
        "action": "transfer",
        "effective_date": "2026-03-02T09:00:00+00:00",
        "email": "bob@corp.example",
        "accounts": "vault:entity/bob",
        "department": department,
        "entitlements": entitlements,
    }
    csv.writer(out, lineterminator="").writerow([row.get(column, "") for column in HR_COLUMNS])
    return records("hr-csv", out.getvalue().encode(), headers={CSV_HEADER: HR_HEADER})


def test_a_movers_list_names_a_secret_policy_as_its_grant_does() -> None:
    """The policy named with a token is one digest in the mover's list and in its grant
    (the list is scrubbed id by id, as an entitlement), so the new role still lists it."""
    (mover,) = hr_mover(f"{TOKEN_POLICY}, aws:group/dev")
    grant = only(
        "vault",
        json.dumps(
            vault_write("identity/entity/id/bob", "update", {"policies": [POLICY_TOKEN]})
        ).encode(),
    )
    assert grant.entitlement.startswith("vault:redacted:")
    assert listed_entitlements(mover.attributes) == frozenset({grant.entitlement, "aws:group/dev"})
    assert POLICY_TOKEN not in mover.model_dump_json()
    assert "[REDACTED]" not in mover.attributes["entitlements"]


def test_a_movers_list_without_a_secret_is_kept_as_written_and_other_attributes_stay_text() -> None:
    (clean,) = hr_mover(" aws:group/dev ,okta:group/00g1,,")
    assert clean.attributes["entitlements"] == " aws:group/dev ,okta:group/00g1,,"
    # Free text is still free text: a token in it becomes [REDACTED], not a digest.
    (dirty,) = hr_mover("aws:group/dev", department=f"platform {POLICY_TOKEN}")
    assert dirty.attributes["department"] == "platform [REDACTED]"
    assert dirty.attributes["entitlements"] == "aws:group/dev"


def test_a_replayed_canonical_mover_lists_a_secret_policy_as_its_grant_does() -> None:
    """`accessdrift replay --format canonical` scrubs as the normalizers do."""
    mover = parse_line(
        json.dumps(
            {
                "record": "DirectoryChange",
                "event_id": "d1",
                "event_time": "2026-03-02T09:00:00Z",
                "source": "hr",
                "identity_id": "E2",
                "identity_kind": "human",
                "change_type": "mover",
                "attributes": {"entitlements": f"okta:group/00g1,{TOKEN_POLICY}"},
            }
        ).encode()
    ).record
    grant = parse_line(
        json.dumps(
            {
                "record": "CloudAuditEvent",
                "event_id": "g1",
                "event_time": "2026-02-01T09:00:00Z",
                "system": "vault",
                "account_id": "vault:entity/admin",
                "action": "update identity/entity/id/bob",
                "kind": "permission_granted",
                "target_account_id": "vault:entity/bob",
                "outcome": "success",
                "entitlement": TOKEN_POLICY,
            }
        ).encode()
    ).record
    assert isinstance(mover, DirectoryChange) and isinstance(grant, CloudAuditEvent)
    assert grant.entitlement is not None and grant.entitlement.startswith("vault:redacted:")
    assert listed_entitlements(mover.attributes) == frozenset(
        {grant.entitlement, "okta:group/00g1"}
    )


@pytest.mark.parametrize("listed, retained", [(True, False), (False, True)])
def test_a_secret_policy_the_new_role_lists_is_not_retained_and_one_it_does_not_is(
    listed: bool, retained: bool
) -> None:
    """From raw lines to the detection: the grant of the token-named policy before the
    move, the mover's row listing it (or not), the deadline passed."""
    grant = only(
        "vault",
        json.dumps(
            {
                **vault_write("identity/entity/id/bob", "update", {"policies": [POLICY_TOKEN]}),
                "time": "2026-02-01T09:00:00Z",
            }
        ).encode(),
    )
    (mover,) = hr_mover(TOKEN_POLICY if listed else "aws:group/dev")
    engine = Engine(DetectionConfig(mover_sla_us=86_400 * MICROS))
    for index, record in enumerate((grant, mover)):
        engine.feed(type(record).__name__, record.model_dump(), index)
    engine.tick(10**13)
    kept = [
        alert["entitlement"]
        for alert in engine.findings.alerts.values()
        if alert["kind"] == "mover_access_retained"
    ]
    assert kept == ([grant.entitlement] if retained else [])


# -- The deployment's patterns ----------------------------------------------------------------


def test_the_settings_patterns_decide_what_is_privileged() -> None:
    settings = Settings(privileged_entitlements="aws:group/Admins")
    config = normalizer_config(settings)
    assert config.privileged_patterns == ("aws:group/Admins",)
    add = iam("AddUserToGroup", {"groupName": "Admins", "userName": "bob"})
    attach = iam(
        "AttachUserPolicy",
        {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert only("cloudtrail", json.dumps(add).encode(), config).privileged is True
    # Patterns replace the defaults unless "defaults" is among them.
    assert only("cloudtrail", json.dumps(attach).encode(), config).privileged is False
    both = normalizer_config(Settings(privileged_entitlements="defaults,aws:group/Admins"))
    assert only("cloudtrail", json.dumps(attach).encode(), both).privileged is True
    assert normalizer_config(Settings()).privileged_patterns == DEFAULT_PRIVILEGED


def test_content_seen_privileged_stays_privileged_whatever_the_patterns() -> None:
    put = iam(
        "PutUserPolicy", {"userName": "bob", "policyName": "x", "policyDocument": ADMIN_DOCUMENT}
    )
    nothing = NormalizerConfig(privileged_patterns=())
    assert only("cloudtrail", json.dumps(put).encode(), nothing).privileged is True


# -- Google Cloud -------------------------------------------------------------------------------


def test_real_policy_deltas_name_the_resource_and_role() -> None:
    gmail = only(
        "gcp-audit",
        panther_log("gcp-auditlog.jsonl", "gcp_iam_corp_email.yml", "Gmail account added"),
    )
    assert granted(gmail) == (
        "permission_granted",
        "gcp:username@gmail.com",
        "gcp:projects/western-verve-123456#roles/viewer",
        False,
    )
    assert gmail.event_id == "mrbji0dal80#0", "one delta: suffixed, as it always was"
    owner = only(
        "gcp-audit",
        panther_log("gcp-auditlog.jsonl", "gcp_iam_org_folder_changes.yml", "Terraform User Agent"),
    )
    assert granted(owner) == (
        "permission_granted",
        "gcp:backdoor@example.com",
        "gcp:organizations/888888888888#roles/owner",
        True,
    )
    removed = only(
        "gcp-audit",
        panther_log("gcp-auditlog.jsonl", "gcp_iam_org_folder_changes.yml", "Manual Change"),
    )
    assert granted(removed) == (
        "permission_revoked",
        "gcp:diana@platform.iam.gserviceaccount.com",
        "gcp:organizations/888888888888#roles/owner",
        True,
    )


def test_real_workspace_group_additions_name_the_group() -> None:
    privileged_group = only(
        "gcp-audit",
        panther_log(
            "gcp-auditlog.jsonl",
            "gcp_user_added_to_privileged_group.yml",
            "User Added to Privileged Group",
        ),
    )
    assert granted(privileged_group) == (
        "permission_granted",
        "gcp:test-user@example.com",
        "gcp:group/admins@example.com",
        False,
    )


def policy_entry(*deltas: dict[str, str], resource: str | None = "projects/p1") -> dict[str, Any]:
    """A Cloud Resource Manager SetIamPolicy entry in the shape of the published ones."""
    payload: dict[str, Any] = {
        "methodName": "SetIamPolicy",
        "authenticationInfo": {"principalEmail": "admin@corp.example"},
        "serviceData": {"policyDelta": {"bindingDeltas": list(deltas)}},
    }
    if resource:
        payload["resourceName"] = resource
    return {
        "insertId": "p1",
        "timestamp": "2026-03-02T10:00:00Z",
        "resource": {"type": "project", "labels": {"project_id": "from-labels"}},
        "protoPayload": payload,
    }


def test_several_deltas_are_suffixed_by_their_index_and_non_accounts_are_left_out() -> None:
    entry = policy_entry(
        {"action": "ADD", "role": "roles/owner", "member": "user:alice@corp.example"},
        {"action": "ADD", "role": "roles/viewer", "member": "group:all@corp.example"},
        {"action": "REMOVE", "role": "roles/editor", "member": "serviceAccount:sa@p1.iam.x"},
    )
    events = records("gcp-audit", json.dumps(entry).encode())
    assert [(e.event_id, *granted(e)) for e in events] == [
        (
            "p1#0",
            "permission_granted",
            "gcp:alice@corp.example",
            "gcp:projects/p1#roles/owner",
            True,
        ),
        (
            "p1#2",
            "permission_revoked",
            "gcp:sa@p1.iam.x",
            "gcp:projects/p1#roles/editor",
            True,
        ),
    ]


def test_a_delta_without_resource_name_takes_the_project_of_its_labels_and_one_without_role_none() -> (
    None
):
    labelled = only(
        "gcp-audit",
        json.dumps(
            policy_entry(
                {"action": "ADD", "role": "roles/viewer", "member": "user:a@corp.example"},
                resource=None,
            )
        ).encode(),
    )
    assert labelled.entitlement == "gcp:projects/from-labels#roles/viewer"
    roleless = only(
        "gcp-audit",
        json.dumps(policy_entry({"action": "ADD", "member": "user:a@corp.example"})).encode(),
    )
    assert (roleless.kind, roleless.entitlement, roleless.privileged) == (
        "permission_granted",
        None,
        False,
    )


def test_a_failed_policy_change_keeps_its_failure() -> None:
    entry = policy_entry({"action": "ADD", "role": "roles/owner", "member": "user:a@corp.example"})
    entry["protoPayload"]["status"] = {"code": 7, "message": "PERMISSION_DENIED"}
    event = only("gcp-audit", json.dumps(entry).encode())
    assert (event.outcome, event.entitlement, event.privileged) == (
        "failure",
        "gcp:projects/p1#roles/owner",
        True,
    )


def test_workspace_admin_roles_are_named_by_role_name() -> None:
    """Hand-written in the shape of the published Workspace events (the parameters are
    the Admin SDK Reports reference's for ASSIGN_ROLE)."""
    entry = {
        "insertId": "w9",
        "timestamp": "2026-03-02T10:00:00Z",
        "protoPayload": {
            "methodName": "google.admin.AdminService.assignRole",
            "authenticationInfo": {"principalEmail": "admin@corp.example"},
            "metadata": {
                "event": [
                    {
                        "eventName": "ASSIGN_ROLE",
                        "eventType": "DELEGATED_ADMIN_SETTINGS",
                        "parameter": [
                            {"name": "ROLE_NAME", "value": "_SEED_ADMIN_ROLE"},
                            {"name": "USER_EMAIL", "value": "Eve@corp.example"},
                        ],
                    }
                ]
            },
        },
    }
    event = only("gcp-audit", json.dumps(entry).encode())
    assert granted(event) == (
        "permission_granted",
        "gcp:eve@corp.example",
        "gcp:admin/_SEED_ADMIN_ROLE",
        True,
    )


# -- Okta ---------------------------------------------------------------------------------------


def test_real_admin_privilege_grants_are_one_event_per_role_type() -> None:
    org_and_apps = records(
        "okta",
        panther_log(
            "okta-systemlog.jsonl", "okta_admin_role_assigned.yml", "Admin Access Assigned"
        ),
    )
    assert [(e.event_id, *granted(e)) for e in org_and_apps] == [
        (
            "2a992f80-d1ad-4f62-900e-8c68bb72a21b",
            "permission_granted",
            "okta:00u6eup97mAJZWYmP357",
            "okta:admin/ORG_ADMIN",
            True,
        ),
        (
            "2a992f80-d1ad-4f62-900e-8c68bb72a21b#1",
            "permission_granted",
            "okta:00u6eup97mAJZWYmP357",
            "okta:admin/APP_ADMIN",
            True,
        ),
    ]
    super_and_read = records(
        "okta",
        panther_log(
            "okta-systemlog.jsonl",
            "okta_admin_role_assigned.yml",
            "Super Admin Access Assigned (High sev)",
        ),
    )
    assert [(e.entitlement, e.privileged) for e in super_and_read] == [
        ("okta:admin/SUPER_ADMIN", True),
        ("okta:admin/READ_ONLY_ADMIN", False),
    ]


def test_real_group_and_app_memberships_name_their_group_and_app() -> None:
    group, app = (
        only("okta", line) for line in lines("demisto-content/Okta__README__context-examples.jsonl")
    )
    assert granted(group) == (
        "permission_granted",
        "okta:00ued6gq9jItNhAsN0h7",
        "okta:group/00g8mo0l5wuTxmoIC0h7",
        False,
    )
    # The AppUser target is the app's account of the user; the grantee is the Okta user.
    assert granted(app) == (
        "permission_granted",
        "okta:00ued6gq9jItNhAsN0h7",
        "okta:app/0oabfkvxe1npBRdow0h7",
        False,
    )
    removed = records("okta", whole("demisto-content/Okta_v2__test_data__get_logs_response.json"))
    assert [granted(e) for e in removed] == [
        ("permission_revoked", "okta:123", "okta:group/123", False)
    ] * 2


def okta_event(event_type: str, targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Hand-written in the shape of the published System Log events (no published
    privilege revoke or app unassignment with a known source was found)."""
    return {
        "uuid": f"u-{event_type}",
        "published": "2026-03-02T09:00:00.000Z",
        "eventType": event_type,
        "actor": {"id": "00uadmin", "type": "User"},
        "outcome": {"result": "SUCCESS"},
        "target": targets,
        **extra,
    }


USER = {"id": "00ubob", "type": "User", "alternateId": "bob@corp.example"}


def test_privilege_revokes_app_removals_and_roles_named_by_target() -> None:
    revoke = okta_event(
        "user.account.privilege.revoke",
        [USER],
        debugContext={"debugData": {"privilegeRevoked": "Super administrator"}},
    )
    assert granted(only("okta", json.dumps(revoke).encode())) == (
        "permission_revoked",
        "okta:00ubob",
        "okta:admin/SUPER_ADMIN",
        True,
    )
    by_target = okta_event(
        "user.account.privilege.grant",
        [USER, {"id": "ra1", "type": "ROLE", "displayName": "Help Desk Administrator"}],
    )
    assert only("okta", json.dumps(by_target).encode()).entitlement == "okta:admin/HELP_DESK_ADMIN"
    custom = okta_event(
        "user.account.privilege.grant",
        [USER],
        debugContext={"debugData": {"privilegeGranted": "Custom: <b>auditors</b>\x07"}},
    )
    assert only("okta", json.dumps(custom).encode()).entitlement == "okta:admin/CUSTOM_B_AUDITORS_B"
    unassigned = okta_event(
        "application.user_membership.remove",
        [USER, {"id": "0oaslack", "type": "AppInstance", "displayName": "Slack"}],
    )
    assert granted(only("okta", json.dumps(unassigned).encode())) == (
        "permission_revoked",
        "okta:00ubob",
        "okta:app/0oaslack",
        False,
    )


def test_an_okta_grant_without_what_it_grants_or_failed_keeps_its_kind() -> None:
    bare = okta_event("group.user_membership.add", [USER])
    assert granted(only("okta", json.dumps(bare).encode())) == (
        "permission_granted",
        "okta:00ubob",
        None,
        False,
    )
    failed = okta_event(
        "group.user_membership.add",
        [USER, {"id": "00gadmins", "type": "UserGroup"}],
        outcome={"result": "FAILURE"},
    )
    event = only("okta", json.dumps(failed).encode())
    assert (event.outcome, event.entitlement) == ("failure", "okta:group/00gadmins")


def test_a_privilege_event_listing_a_million_roles_stops_at_the_cap() -> None:
    flood = okta_event(
        "user.account.privilege.grant",
        [USER],
        debugContext={"debugData": {"privilegeGranted": ",".join(f"r{i}" for i in range(5000))}},
    )
    (outcome,) = normalize_message(
        "okta", json.dumps(flood).encode(), config=NormalizerConfig(max_records=100)
    )
    assert len(outcome.records) == 100 and outcome.dropped == 4900


@pytest.mark.parametrize(
    "label, role_type",
    [
        ("Super administrator", "SUPER_ADMIN"),
        ("Organization administrator", "ORG_ADMIN"),
        ("Application administrator (all)", "APP_ADMIN"),
        ("Application administrator (limited)", "APP_ADMIN"),
        ("Group administrator", "USER_ADMIN"),
        ("Read only admin", "READ_ONLY_ADMIN"),
        ("API_ACCESS_MANAGEMENT_ADMIN", "API_ACCESS_MANAGEMENT_ADMIN"),
        ("  ", None),
        ("(all)", None),
    ],
)
def test_okta_role_names_become_role_types(label: str, role_type: str | None) -> None:
    assert okta.admin_role_type(label) == role_type


# -- Microsoft Entra ----------------------------------------------------------------------------


def test_real_role_and_group_memberships() -> None:
    role = only(
        "entra-audit",
        panther_log(
            "azure-audit.jsonl", "azure_role_changed_pim.yml", "Add member to role (Non PIM)"
        ),
    )
    assert granted(role) == ("permission_granted", "entra:12345", "entra:role/123415", False)
    group = only("entra-audit", whole("microsoft-graph-docs/directoryaudit-list__response.json"))
    # Graph's documentation writes "Type" and lists the group first: the member is the user.
    assert granted(group) == (
        "permission_granted",
        "entra:1f0e98f5-3161-4c6b-9b50-d488572f2bb7",
        "entra:group/ef7e527d-6c92-4234-8c6d-cf6fdfb57f95",
        False,
    )


def prop(name: str, new: str | None, old: str | None = None) -> dict[str, Any]:
    return {
        "displayName": name,
        "oldValue": None if old is None else json.dumps(old),
        "newValue": None if new is None else json.dumps(new),
    }


def entra_audit(
    activity: str, targets: list[dict[str, Any]], result: str = "success"
) -> dict[str, Any]:
    """Hand-written in the Azure Monitor shape of the published audit records, with the
    modified properties Entra logs for these activities (no published removal from a
    role or group, nor app role assignment, with a known source was found)."""
    return {
        "time": "2026-03-02T09:00:00Z",
        "category": "AuditLogs",
        "operationName": activity,
        "properties": {
            "id": f"Directory_{activity.replace(' ', '_')}",
            "activityDisplayName": activity,
            "activityDateTime": "2026-03-02T09:00:00.1234567Z",
            "result": result,
            "initiatedBy": {"user": {"id": "admin-1", "userPrincipalName": "admin@corp.example"}},
            "targetResources": targets,
        },
    }


GLOBAL_ADMIN = "62E90394-69F5-4237-9190-012177145E10"


def test_removing_a_member_from_a_role_reads_the_old_template_id() -> None:
    removal = entra_audit(
        "Remove member from role",
        [
            {
                "id": "user-7",
                "type": "User",
                "modifiedProperties": [
                    prop("Role.DisplayName", None, "Global Administrator"),
                    prop("Role.TemplateId", None, GLOBAL_ADMIN),
                ],
            }
        ],
    )
    assert granted(only("entra-audit", json.dumps(removal).encode())) == (
        "permission_revoked",
        "entra:user-7",
        f"entra:role/{GLOBAL_ADMIN.lower()}",
        True,
    )


def test_group_removals_and_app_role_assignments() -> None:
    removed = entra_audit(
        "Remove member from group",
        [
            {
                "id": "user-7",
                "type": "User",
                "modifiedProperties": [prop("Group.ObjectID", None, "g-1")],
            }
        ],
    )
    assert granted(only("entra-audit", json.dumps(removed).encode())) == (
        "permission_revoked",
        "entra:user-7",
        "entra:group/g-1",
        False,
    )
    app_id = "00000003-0000-0000-c000-000000000000"
    assignment = entra_audit(
        "Add app role assignment grant to user",
        [
            {
                "id": "sp-1",
                "type": "ServicePrincipal",
                "modifiedProperties": [
                    prop("AppRole.Id", "role-9"),
                    prop("User.ObjectID", "user-7"),
                    prop("TargetId.ServicePrincipalNames", f"{app_id};https://graph.microsoft.com"),
                ],
            },
            {"id": "user-7", "type": "User"},
        ],
    )
    event = only("entra-audit", json.dumps(assignment).encode())
    # The grantee is the user, not the application's service principal listed first.
    assert granted(event) == (
        "permission_granted",
        "entra:user-7",
        f"entra:app/{app_id}#role-9",
        False,
    )
    # Its removal, with the same properties as old values: the same entitlement, so the
    # ledger closes the grant.
    unassigned = entra_audit(
        "Remove app role assignment from user",
        [
            {
                "id": "sp-1",
                "type": "ServicePrincipal",
                "modifiedProperties": [
                    prop("AppRole.Id", None, "role-9"),
                    prop("User.ObjectID", None, "user-7"),
                    prop(
                        "TargetId.ServicePrincipalNames",
                        None,
                        f"{app_id};https://graph.microsoft.com",
                    ),
                ],
            },
            {"id": "user-7", "type": "User"},
        ],
    )
    assert granted(only("entra-audit", json.dumps(unassigned).encode())) == (
        "permission_revoked",
        "entra:user-7",
        f"entra:app/{app_id}#role-9",
        False,
    )


APP = "5bee10b5-db93-4475-ae1a-3d87e059d287"
OTHER_APP = "2c92ce28-126c-47c1-82b0-410b64502989"
APP_ROLE = "243333ab-4d21-40cb-a475-36241daa0842"
OTHER_APP_ROLE = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
SERVICE_PRINCIPAL = "79fa50fb-03bf-4001-8db8-143ccda27687"


def app_role_assignment(
    granted: bool, properties: dict[str, str], principal: str = SERVICE_PRINCIPAL
) -> bytes:
    """user-7's app role assignment added or removed, hand-written in the shape of the
    published additions (the properties on the application's service principal target;
    none of a removal was found): the given properties as new values of a grant, old
    values of a revoke."""
    values = {"User.ObjectID": "user-7", **properties}
    logged = [
        prop(name, value) if granted else prop(name, None, value) for name, value in values.items()
    ]
    activity = (
        "Add app role assignment grant to user"
        if granted
        else "Remove app role assignment from user"
    )
    targets: list[dict[str, Any]] = [
        {"id": principal, "type": "ServicePrincipal", "modifiedProperties": logged},
        {"id": "user-7", "type": "User"},
    ]
    return json.dumps(entra_audit(activity, targets)).encode()


@pytest.mark.parametrize(
    "grant, revoke, principals, same",
    [
        pytest.param(
            {"AppRole.Id": APP_ROLE.upper(), "ServicePrincipal.AppId": APP.upper()},
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP},
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            True,
            id="the app and role ids in either case",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP.upper()},
            {
                "AppRole.Id": APP_ROLE,
                "TargetId.ServicePrincipalNames": f"{APP}/corp.example;{APP};https://x.example",
            },
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            True,
            id="the app id of its property and of the service principal names",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP},
            {
                "AppRole.Id": APP_ROLE,
                "TargetId.ServicePrincipalNames": f"api://{OTHER_APP};{APP}",
            },
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            True,
            id="names beginning with another GUID: the app id is the bare one",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE},
            {"AppRole.Id": APP_ROLE},
            (SERVICE_PRINCIPAL.upper(), SERVICE_PRINCIPAL),
            True,
            id="only the service principal's object id, on both",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP},
            {"AppRole.Id": OTHER_APP_ROLE, "ServicePrincipal.AppId": APP},
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            False,
            id="another role of the same app",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP},
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": OTHER_APP},
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            False,
            id="the same role id of another app",
        ),
        pytest.param(
            {"AppRole.Id": APP_ROLE, "ServicePrincipal.AppId": APP},
            {"AppRole.Id": APP_ROLE},
            (SERVICE_PRINCIPAL, SERVICE_PRINCIPAL),
            False,
            id="an app id on one side, only the object id on the other: nothing ties them",
        ),
    ],
)
def test_an_app_role_grant_and_its_revoke_name_one_entitlement_when_the_log_lets_them(
    grant: dict[str, str], revoke: dict[str, str], principals: tuple[str, str], same: bool
) -> None:
    added = only("entra-audit", app_role_assignment(True, grant, principals[0]))
    removed = only("entra-audit", app_role_assignment(False, revoke, principals[1]))
    assert (added.kind, removed.kind) == ("permission_granted", "permission_revoked")
    assert added.target_account_id == removed.target_account_id == "entra:user-7"
    assert (added.entitlement == removed.entitlement) is same, (
        added.entitlement,
        removed.entitlement,
    )


def test_app_role_entitlements_are_lower_case_by_app_id_else_by_object_id() -> None:
    by_app = only(
        "entra-audit",
        app_role_assignment(
            False, {"AppRole.Id": APP_ROLE.upper(), "ServicePrincipal.AppId": APP.upper()}
        ),
    )
    assert by_app.entitlement == f"entra:app/{APP}#{APP_ROLE}"
    by_object = only(
        "entra-audit",
        app_role_assignment(True, {"AppRole.Id": APP_ROLE}, SERVICE_PRINCIPAL.upper()),
    )
    assert by_object.entitlement == f"entra:app/{SERVICE_PRINCIPAL}#{APP_ROLE}"
    # A role id that is no GUID is an id as written: two of them differing in case are two.
    named = only(
        "entra-audit",
        app_role_assignment(True, {"AppRole.Id": "Reader", "ServicePrincipal.AppId": APP}),
    )
    assert named.entitlement == f"entra:app/{APP}#Reader"


def test_a_failed_role_grant_keeps_its_failure_and_one_naming_nobody_is_a_use() -> None:
    failed = entra_audit(
        "Add member to role",
        [
            {
                "id": "user-7",
                "type": "User",
                "modifiedProperties": [prop("Role.TemplateId", GLOBAL_ADMIN)],
            }
        ],
        result="failure",
    )
    event = only("entra-audit", json.dumps(failed).encode())
    assert (event.kind, event.outcome, event.privileged) == ("permission_granted", "failure", True)
    nobody = entra_audit("Add member to role", [{"id": "role-1", "type": "Role"}])
    assert granted(only("entra-audit", json.dumps(nobody).encode())) == ("usage", None, None, None)


# -- HashiCorp Vault ----------------------------------------------------------------------------


def vault_write(
    path: str, operation: str, data: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    """Hand-written in the shape of the published file-audit response lines (none of
    the published ones writes to identity/): strings of request data HMAC-ed unless the
    test says they are logged raw."""
    return {
        "time": "2026-03-02T10:00:00.5Z",
        "type": "response",
        "auth": {"accessor": "hmac-sha256:admin", "entity_id": "admin", "policies": ["root"]},
        "request": {"id": "r1", "operation": operation, "path": path, "data": data},
        "response": {},
        **extra,
    }


def test_entity_policies_are_granted_one_by_one_hmac_ed_or_not() -> None:
    raw = vault_write("identity/entity/id/bob", "update", {"policies": ["root", "app-read"]})
    events = records("vault", json.dumps(raw).encode())
    assert [(e.event_id, *granted(e)) for e in events] == [
        ("vault:r1", "permission_granted", "vault:entity/bob", "vault:policy/root", True),
        ("vault:r1#1", "permission_granted", "vault:entity/bob", "vault:policy/app-read", False),
    ]
    hmaced = vault_write("identity/entity/id/bob", "update", {"policies": ["hmac-sha256:9f86d0"]})
    assert granted(only("vault", json.dumps(hmaced).encode())) == (
        "permission_granted",
        "vault:entity/bob",
        "vault:policy/hmac-sha256:9f86d0",
        False,
    )
    # A device's HMAC of "root" (sys/audit-hash) made a pattern makes it privileged.
    config = NormalizerConfig(privileged_patterns=("vault:policy/hmac-sha256:9f86d0",))
    assert only("vault", json.dumps(hmaced).encode(), config).privileged is True


def test_an_entity_created_with_policies_and_an_emptied_list() -> None:
    created = vault_write("identity/entity/name/bob", "create", {"policies": "admin,app"})
    events = records("vault", json.dumps(created).encode())
    assert [(e.event_id, *granted(e)) for e in events] == [
        ("vault:r1", "account_created", "vault:entity/bob", None, None),
        ("vault:r1#1", "permission_granted", "vault:entity/bob", "vault:policy/admin", True),
        ("vault:r1#2", "permission_granted", "vault:entity/bob", "vault:policy/app", False),
    ]
    emptied = vault_write("identity/entity/id/bob", "update", {"policies": []})
    assert granted(only("vault", json.dumps(emptied).encode())) == (
        "permission_revoked",
        "vault:entity/bob",
        None,
        False,
    )


def test_group_members_in_the_clear_are_granted_the_group() -> None:
    write = vault_write(
        "identity/group/name/ops",
        "update",
        {"member_entity_ids": ["e-1", "hmac-sha256:77aa", "e-2"], "policies": ["root"]},
    )
    events = records("vault", json.dumps(write).encode())
    assert [(e.event_id, *granted(e)) for e in events] == [
        ("vault:r1", "permission_granted", "vault:entity/e-1", "vault:group/ops", True),
        ("vault:r1#1", "permission_granted", "vault:entity/e-2", "vault:group/ops", True),
    ]
    hidden = vault_write(
        "identity/group",
        "create",
        {"name": "hmac-sha256:1", "member_entity_ids": ["hmac-sha256:2"]},
    )
    (outcome,) = normalize_message("vault", json.dumps(hidden).encode())
    assert [type(r).__name__ for r in outcome.records] == ["SecretUsageEvent"], (
        "no member in the clear: a use of the path, no grant to nobody"
    )


def test_a_denied_entity_write_keeps_its_failure() -> None:
    denied = vault_write(
        "identity/entity/id/bob", "update", {"policies": ["root"]}, error="permission denied"
    )
    event = only("vault", json.dumps(denied).encode())
    assert (event.kind, event.outcome, event.entitlement) == (
        "permission_granted",
        "failure",
        "vault:policy/root",
    )


# -- SCIM ---------------------------------------------------------------------------------------

DOWNSTREAM = NormalizerConfig(scim_feed=ScimFeed("downstream", "acme"))
GROUP = "scim:group/abf4dd94-a4c0-4f67-89c9-76b03340cb9b"


def test_okta_group_membership_requests_of_the_scim_reference() -> None:
    patch, put = http_requests(
        "okta-developer-docs/reference__scim__scim-20__index.md", nested=True
    )
    removed, added = records("scim", json.dumps(patch).encode(), DOWNSTREAM)
    assert granted(removed) == (
        "permission_revoked",
        "acme:89bb1940-b905-4575-9e7f-6f887cfb368e",
        GROUP,
        False,
    )
    assert granted(added) == (
        "permission_granted",
        "acme:23a35c27-23d3-4c03-b4c5-6443c09e7173",
        GROUP,
        False,
    )
    (listed,) = records("scim", json.dumps(put).encode(), DOWNSTREAM)
    assert granted(listed) == granted(added)
    # On the source side, group requests are no grants (directory changes come as movers).
    assert scim.normalize(patch).ignored == "scim groups request on the source side"


def test_entra_style_operations_and_requests_that_change_no_member() -> None:
    """Hand-written in the shape Entra's provisioning service sends (capitalised ops,
    a value object)."""
    request = {
        "id": "req-1",
        "time": "2026-03-02T09:00:00Z",
        "method": "PATCH",
        "path": "/scim/v2/Groups/g-7",
        "body": {
            "Operations": [
                {"op": "Add", "value": {"members": [{"value": "u-1"}]}},
                {"op": "Remove", "path": "members", "value": [{"value": "u-2"}]},
                {"op": "Replace", "path": "displayName", "value": [{"value": "not-a-member"}]},
            ]
        },
    }
    events = records("scim", json.dumps(request).encode(), DOWNSTREAM)
    assert [(e.event_id, *granted(e)) for e in events] == [
        ("req-1#0.0", "permission_granted", "acme:u-1", "scim:group/g-7", False),
        ("req-1#1.0", "permission_revoked", "acme:u-2", "scim:group/g-7", False),
    ]
    rename = {
        **request,
        "body": {"Operations": [{"op": "replace", "path": "displayName", "value": "x"}]},
    }
    assert scim.normalize(rename, ScimFeed("downstream", "acme")).ignored == (
        "scim groups request without members"
    )
    nameless = {**request, "path": "/scim/v2/Groups"}
    assert scim.normalize(nameless, ScimFeed("downstream", "acme")).ignored == (
        "scim groups request that names no group"
    )


def test_a_failed_scim_membership_change_changed_nothing() -> None:
    patch, _ = http_requests("okta-developer-docs/reference__scim__scim-20__index.md", nested=True)
    assert scim.normalize({**patch, "status": 404}, ScimFeed("downstream", "acme")).ignored == (
        "scim request that failed"
    )


# -- Event ids: a re-read of old logs must not add an event twice ------------------------------
#
# The sinks and the ledger key events by id. Each (id, kind) below marked "990d3d6" is what
# the normalizer of 990d3d6 (before entitlements were named) made of the same line; it must
# stay that event's id. Only the events that did not exist then get new ids.


def admin_roles_granted(roles: str) -> bytes:
    return json.dumps(
        okta_event(
            "user.account.privilege.grant",
            [USER],
            uuid="okta-1",
            debugContext={"debugData": {"privilegeGranted": roles}},
        )
    ).encode()


@pytest.mark.parametrize(
    "format_name, message, ids",
    [
        pytest.param(
            "gcp-audit",
            lambda: panther_log(
                "gcp-auditlog.jsonl", "gcp_iam_corp_email.yml", "Gmail account added"
            ),
            [("mrbji0dal80#0", "permission_granted")],  # 990d3d6
            id="a real SetIamPolicy of one delta",
        ),
        pytest.param(
            "gcp-audit",
            lambda: json.dumps(
                policy_entry(
                    {"action": "ADD", "role": "roles/owner", "member": "user:a@corp.example"},
                    {"action": "ADD", "role": "roles/viewer", "member": "group:g@corp.example"},
                    {"action": "REMOVE", "role": "roles/editor", "member": "user:b@corp.example"},
                )
            ).encode(),
            [("p1#0", "permission_granted"), ("p1#2", "permission_revoked")],  # 990d3d6
            id="a SetIamPolicy of several deltas",
        ),
        pytest.param(
            "okta",
            lambda: admin_roles_granted("Super administrator"),
            [("okta-1", "permission_granted")],  # 990d3d6
            id="an Okta privilege grant of one role",
        ),
        pytest.param(
            "okta",
            lambda: admin_roles_granted("Organization administrator, Read only admin"),
            [
                ("okta-1", "permission_granted"),  # 990d3d6: one event for the two roles
                ("okta-1#1", "permission_granted"),
            ],
            id="an Okta privilege grant of two roles",
        ),
        pytest.param(
            "vault",
            lambda: json.dumps(
                vault_write("identity/entity/id/bob", "update", {"policies": ["a", "b"]})
            ).encode(),
            [
                ("vault:r1", "permission_granted"),  # 990d3d6: one event for the list
                ("vault:r1#1", "permission_granted"),
            ],
            id="a Vault entity given two policies",
        ),
        pytest.param(
            "vault",
            lambda: json.dumps(
                vault_write("identity/entity/name/bob", "create", {"policies": "a,b"})
            ).encode(),
            [
                ("vault:r1", "account_created"),  # 990d3d6
                ("vault:r1#1", "permission_granted"),
                ("vault:r1#2", "permission_granted"),
            ],
            id="a Vault entity created with two policies",
        ),
    ],
)
def test_event_ids_made_before_entitlements_were_named_stay_as_they_were(
    format_name: str, message: Any, ids: list[tuple[str, str]]
) -> None:
    assert [(event.event_id, event.kind) for event in records(format_name, message())] == ids


# -- Every vendor module takes the patterns ------------------------------------------------------


def verdicts(normalized: Normalized) -> list[bool | None]:
    return [
        record.privileged for record in normalized.records if isinstance(record, CloudAuditEvent)
    ]


def test_each_normalizer_judges_with_the_patterns_it_is_given() -> None:
    none: tuple[str, ...] = ()
    admin = {"userName": "b", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert verdicts(cloudtrail.normalize(iam("AttachUserPolicy", admin), none)) == [False]
    assert verdicts(cloudtrail.normalize(iam("AttachUserPolicy", admin))) == [True]
    entry = policy_entry({"action": "ADD", "role": "roles/owner", "member": "user:a@corp.example"})
    assert verdicts(gcp.normalize(entry, patterns=none)) == [False]
    assert verdicts(gcp.normalize(entry, patterns=("gcp:projects/p1#*",))) == [True]
    member = {
        "id": "u",
        "type": "User",
        "modifiedProperties": [prop("Role.TemplateId", GLOBAL_ADMIN)],
    }
    role = entra_audit("Add member to role", [member])
    assert verdicts(entra.normalize(role, patterns=none)) == [False]
    assert verdicts(entra.normalize(role)) == [True]
    revoke = okta_event(
        "user.account.privilege.revoke",
        [USER],
        debugContext={"debugData": {"privilegeRevoked": "Super administrator"}},
    )
    assert verdicts(okta.normalize(revoke, none)) == [False]
    write = vault_write("identity/entity/id/bob", "update", {"policies": ["root"]})
    assert verdicts(vault.normalize(write, none)) == [False]
    patch, _ = http_requests("okta-developer-docs/reference__scim__scim-20__index.md", nested=True)
    feed = ScimFeed("downstream", "acme")
    assert verdicts(scim.normalize(patch, feed)) == [False, False]
    assert verdicts(scim.normalize(patch, feed, patterns=("scim:group/*",))) == [True, True]
