"""Every normalizer on real published logs: exact counts, and specific fields of specific records.

Outcome counts are (canonical records, vendor records normalized, ignored by rule,
dead-lettered). Panther's test events include deliberately partial logs (no
eventName, "redacted" times): those must be dead-lettered, never crash. Every raw format
has at least one sample in REAL_SAMPLES (test_raw_formats checks it): a new format adds
its samples there.
"""

import hashlib
import json
from collections import Counter
from typing import Any

import pytest

from accessdrift.normalizers.registry import Outcome, normalize_message
from accessdrift.schemas.models import CloudAuditEvent, DirectoryChange, SecretUsageEvent
from tests.unit.samples import (
    Message,
    http_requests,
    lines,
    markdown_json,
    panther,
    raw_csv_lines,
    whole,
)


def tally(format_name: str, messages: list[Message]) -> tuple[int, int, int, int]:
    counts: Counter[str] = Counter()
    for message in messages:
        value, headers = message if isinstance(message, tuple) else (message, {})
        for outcome in normalize_message(format_name, value, headers):
            if outcome.error is not None:
                counts["dead"] += 1
            elif outcome.ignored is not None:
                counts["ignored"] += 1
            else:
                counts["normalized"] += 1
                counts["records"] += len(outcome.records)
    return counts["records"], counts["normalized"], counts["ignored"], counts["dead"]


def only(outcomes: list[Outcome]) -> Any:
    (outcome,) = outcomes
    assert outcome.error is None, outcome.error
    (record,) = outcome.records
    return record


# Every raw format has a sample here: (format, its messages, the outcome counts).
REAL_SAMPLES = [
    pytest.param(
        "cloudtrail",
        lambda: panther("aws-cloudtrail.jsonl"),
        (437, 437, 2, 98),
        id="panther-cloudtrail",
    ),
    pytest.param(
        "gcp-audit", lambda: panther("gcp-auditlog.jsonl"), (122, 122, 0, 290), id="panther-gcp"
    ),
    pytest.param(
        # Two privilege grants list two administrator roles each: an event per role.
        "okta",
        lambda: panther("okta-systemlog.jsonl"),
        (19, 17, 0, 57),
        id="panther-okta",
    ),
    pytest.param(
        "entra-audit", lambda: panther("azure-audit.jsonl"), (47, 47, 0, 0), id="panther-entra"
    ),
    pytest.param(
        "cloudtrail",
        lambda: lines("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json"),
        (98, 98, 5, 0),
        id="otrf-cloudtrail",
    ),
    pytest.param(
        "vault",
        lambda: lines("elastic-integrations/hashicorp_vault__test-audit.log"),
        (4, 4, 9, 0),
        id="elastic-vault",
    ),
    pytest.param(
        # An AppRole login's request and response, and a later request: the response.
        "vault",
        lambda: lines("kawsark-awx-approle-ansible/README__example-audit-entries.log"),
        (1, 1, 2, 0),
        id="kawsark-vault-approle",
    ),
    pytest.param(
        "entra-audit",
        lambda: lines("elastic-integrations/azure_auditlogs__test-audit-logs-sample.log"),
        (3, 3, 0, 0),
        id="elastic-entra-audit",
    ),
    pytest.param(
        "entra-audit",
        lambda: lines("elastic-integrations/azure_provisioning__test-provisioninglogs-raw.log"),
        (2, 2, 1, 0),
        id="elastic-entra-provisioning",
    ),
    pytest.param(
        "entra-audit",
        lambda: lines("otrf-security-datasets/AADAuditEvents.json"),
        (4, 4, 0, 0),
        id="otrf-entra",
    ),
    pytest.param(
        "gcp-audit",
        lambda: lines("elastic-integrations/gcp_audit__test-iamcredentials-googleapis-com.log"),
        (1, 1, 0, 0),
        id="elastic-gcp",
    ),
    pytest.param(
        "cloudtrail",
        lambda: [
            whole(
                "zmallen-cloudtrail2sightings/aws.credential-access.secretsmanager-retrieve-secrets.json"
            )
        ],
        (10, 10, 0, 0),
        id="zmallen-secrets",
    ),
    pytest.param(
        "cloudtrail",
        lambda: [whole("zmallen-cloudtrail2sightings/aws.defense-evasion.cloudtrail-delete.json")],
        (1, 1, 0, 0),
        id="zmallen-trail",
    ),
    pytest.param(
        "cloudtrail",
        lambda: [
            whole("zmallen-cloudtrail2sightings/aws.exfiltration.ec2-share-ebs-snapshot.json")
        ],
        (1, 1, 0, 0),
        id="zmallen-snapshot",
    ),
    pytest.param(
        "cloudtrail",
        lambda: [whole("zmallen-cloudtrail2sightings/aws.execution.ec2-user-data.json")],
        (0, 0, 0, 1),
        id="zmallen-malformed",
    ),
    # A SCIM collector's records of the requests the SCIM 2.0 reference shows.
    pytest.param(
        "scim",
        lambda: [
            json.dumps(request).encode()
            for request in http_requests("okta-developer-docs/reference__scim__scim-20__index.md")
        ],
        (4, 4, 11, 0),
        id="okta-scim-reference",
    ),
    # HR exports are no published log: the export of tests/fixtures/raw, line by line.
    pytest.param("hr-csv", lambda: raw_csv_lines("hr-export.csv"), (2, 2, 0, 1), id="hr-export"),
]


@pytest.mark.parametrize("format_name, messages, expected", REAL_SAMPLES)
def test_every_record_of_a_real_sample_has_an_outcome(
    format_name: str, messages: Any, expected: tuple[int, int, int, int]
) -> None:
    assert tally(format_name, messages()) == expected


# -- CloudTrail -----------------------------------------------------------------------


def test_a_real_delete_access_key_revokes_that_key() -> None:
    event = only(normalize_message("cloudtrail", whole("elastic-beats/delete-access-key-json.log")))
    raw = json.loads(whole("elastic-beats/delete-access-key-json.log"))
    assert isinstance(event, CloudAuditEvent)
    assert event.kind == "credential_revoked"
    assert event.target_credential_id == f"aws:{raw['requestParameters']['accessKeyId']}"
    assert event.action == "DeleteAccessKey"


def test_a_real_update_access_key_to_inactive_revokes_it() -> None:
    event = only(normalize_message("cloudtrail", whole("elastic-beats/update-access-key-json.log")))
    raw = json.loads(whole("elastic-beats/update-access-key-json.log"))
    assert raw["requestParameters"]["status"] == "Inactive"
    assert event.kind == "credential_revoked"
    assert event.target_credential_id == f"aws:{raw['requestParameters']['accessKeyId']}"


@pytest.mark.parametrize(
    "file, kind, target_user",
    [
        ("elastic-beats/create-user-json.log", "account_created", "userName"),
        ("elastic-beats/delete-user-json.log", "account_deleted", "userName"),
        ("elastic-beats/add-user-to-group-json.log", "permission_granted", "userName"),
        (
            "elastic-integrations/aws_cloudtrail__test-attach-user-policy-json.log",
            "permission_granted",
            "userName",
        ),
        ("elastic-beats/update-login-profile-json.log", "usage", None),
    ],
)
def test_real_iam_lifecycle_events(file: str, kind: str, target_user: str | None) -> None:
    raw = json.loads(whole(file))
    event = only(normalize_message("cloudtrail", whole(file)))
    assert event.kind == kind
    if target_user:
        account = raw.get("recipientAccountId") or raw["userIdentity"]["accountId"]
        assert (
            event.target_account_id == f"aws:{account}:user/{raw['requestParameters'][target_user]}"
        )


def test_a_real_session_key_stolen_from_an_instance_is_a_use_of_that_session() -> None:
    outcomes = normalize_message(
        "cloudtrail",
        lines("otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json")[0],
    )
    event = only(outcomes)
    assert event.account_id == "aws:123456789123:user/pedro"
    assert event.credential_id == "aws:ASIA5FLZVX4OI4ZDQJOL"
    assert event.action == "DescribeInstanceTypes"
    assert event.event_time.isoformat() == "2020-09-14T00:44:23+00:00"


def test_a_real_secrets_manager_read_is_secret_usage() -> None:
    outcomes = normalize_message(
        "cloudtrail",
        whole(
            "zmallen-cloudtrail2sightings/aws.credential-access.secretsmanager-retrieve-secrets.json"
        ),
    )
    records = [record for outcome in outcomes for record in outcome.records]
    secret_reads = [record for record in records if isinstance(record, SecretUsageEvent)]
    assert secret_reads, "GetSecretValue with a key becomes secret usage"
    assert all(
        read.store == "aws-secretsmanager" and read.operation == "read" for read in secret_reads
    )
    assert all(read.credential_id.startswith("aws:") for read in secret_reads)


def test_real_assume_role_examples_issue_session_keys_owned_by_the_caller() -> None:
    documents = markdown_json("awsdocs/iam-user-guide__cloudtrail-integration.md")
    assume = [doc for doc in documents if doc.get("eventName") == "AssumeRole"]
    assert len(assume) == 3
    for document in assume:
        event = only(normalize_message("cloudtrail", json.dumps(document).encode()))
        assert event.kind == "credential_created"
        assert (
            event.target_credential_id
            == f"aws:{document['responseElements']['credentials']['accessKeyId']}"
        )
        # The session is the caller's (account_id); the target is the role it acts as.
        account, role = document["requestParameters"]["roleArn"].split(":", 5)[4:]
        assert event.target_account_id == f"aws:{account}:{role}"


def test_real_insights_events_are_ignored_by_rule() -> None:
    from accessdrift.normalizers import cloudtrail

    documents = markdown_json("awsdocs/aws-cloudtrail-user-guide__cloudtrail-log-file-examples.md")
    records = [record for doc in documents for record in cloudtrail.unwrap(doc)]
    insights = [doc for doc in records if doc.get("eventType") == "AwsCloudTrailInsight"]
    assert len(insights) == 2
    for document in insights:
        (outcome,) = normalize_message("cloudtrail", json.dumps(document).encode())
        assert outcome.ignored == "cloudtrail insights event"


def test_a_real_create_access_key_names_the_new_key_and_its_user() -> None:
    for message in panther("aws-cloudtrail.jsonl"):
        document = json.loads(message)
        if document.get("eventName") == "CreateAccessKey" and document.get("responseElements"):
            event = only(normalize_message("cloudtrail", message))
            key = document["responseElements"]["accessKey"]
            assert event.kind == "credential_created"
            assert event.target_credential_id == f"aws:{key['accessKeyId']}"
            assert event.target_account_id.endswith(f":user/{key['userName']}")
            return
    pytest.fail("no CreateAccessKey with a response in the sample")


# -- GCP, Okta, Entra, Vault, SCIM ---------------------------------------------------------


def test_a_real_gcp_service_account_creation() -> None:
    for message in panther("gcp-auditlog.jsonl"):
        document = json.loads(message)
        if (
            document.get("protoPayload", {}).get("methodName")
            == "google.iam.admin.v1.CreateServiceAccount"
        ):
            (outcome,) = normalize_message("gcp-audit", message)
            if outcome.records:
                event = outcome.records[0]
                assert event.kind == "account_created"
                assert event.target_account_id.startswith("gcp:")
                assert event.target_account_id.endswith(".iam.gserviceaccount.com")
                return
    pytest.fail("no normalizable CreateServiceAccount in the sample")


def test_real_workspace_group_additions_grant_the_user_named_by_user_email() -> None:
    """Panther's "User Added to Privileged Group" events: Workspace admin activity
    shared into Cloud Audit Logs; the admin acts, the added user gains a permission."""
    found = []
    for message in panther("gcp-auditlog.jsonl"):
        document = json.loads(message)
        if document.get("protoPayload", {}).get("methodName") == (
            "google.admin.AdminService.addGroupMember"
        ):
            found.append(only(normalize_message("gcp-audit", message)))
    assert len(found) == 2
    for event in found:
        assert event.kind == "permission_granted"
        assert event.account_id == "gcp:admin@example.com"
        assert event.target_account_id == "gcp:test-user@example.com"
        assert event.event_id == "285djodxlmu"


def test_real_gcp_workload_identity_token_generation_makes_the_callers_token() -> None:
    event = only(
        normalize_message(
            "gcp-audit",
            lines("elastic-integrations/gcp_audit__test-iamcredentials-googleapis-com.log")[0],
        )
    )
    assert event.kind == "credential_created"
    assert event.action == "GenerateAccessToken"
    assert event.account_id.startswith("gcp:principal://iam.googleapis.com/")
    assert event.target_account_id == "gcp:made-up-ci-account@project-id.iam.gserviceaccount.com"
    assert event.target_credential_id == "gcp:token/15djrryd6bap"


def test_real_okta_api_token_lifecycle() -> None:
    found = {}
    for message in panther("okta-systemlog.jsonl"):
        document = json.loads(message)
        if document.get("eventType") in ("system.api_token.create", "system.api_token.revoke"):
            event = only(normalize_message("okta", message))
            found[document["eventType"]] = event
            token = next(target for target in document["target"] if target["type"] == "Token")
            assert event.target_credential_id == f"okta:token/{token['id']}"
    assert found["system.api_token.create"].kind == "credential_created"
    assert found["system.api_token.revoke"].kind == "credential_revoked"


def test_a_real_okta_event_hook_deactivation_disables_the_target() -> None:
    (hook,) = markdown_json(
        "okta-developer-docs/event-hook-implementation__nodejs__event-object.md"
    )
    event = only(normalize_message("okta", json.dumps(hook).encode()))
    assert event.action == "user.lifecycle.deactivate"
    assert event.kind == "account_disabled"
    assert event.target_account_id == "okta:00u3m90rxKjGQ0G6L1d6"


def test_real_entra_client_secret_additions_create_keys() -> None:
    event = only(
        normalize_message("entra-audit", lines("otrf-security-datasets/AADAuditEvents.json")[0])
    )
    assert event.kind == "credential_created"
    assert event.target_credential_id == "entra:key/59eaeebc-8a6b-44a6-9f24-7d55e64420c9"
    assert event.target_account_id == "entra:11b49e19-2326-4be6-93cb-7f37439bbd81"
    assert event.account_id == "entra:aead923d-498b-4f64-a66c-2af91447a8b6"
    rotation = [
        record
        for message in lines("elastic-integrations/azure_auditlogs__test-audit-logs-sample.log")
        for outcome in normalize_message("entra-audit", message)
        for record in outcome.records
        if record.kind == "credential_created"
    ]
    assert [record.target_credential_id for record in rotation] == [
        "entra:key/d747da7e-e11b-4af2-aede-0487c44067af"
    ]


def test_real_entra_provisioning_outcomes() -> None:
    outcomes = [
        normalize_message("entra-audit", message)[0]
        for message in lines(
            "elastic-integrations/azure_provisioning__test-provisioninglogs-raw.log"
        )
    ]
    assert outcomes[0].ignored == "entra provisioning entry skipped"
    assert [outcome.records[0].outcome for outcome in outcomes[1:]] == ["success", "failure"]
    assert outcomes[1].records[0].target_account_id.startswith("entra-provisioning:Dropbox:")


def test_real_vault_audit_lines() -> None:
    records = []
    ignored = Counter()
    for message in lines("elastic-integrations/hashicorp_vault__test-audit.log"):
        for outcome in normalize_message("vault", message):
            records += outcome.records
            if outcome.ignored:
                ignored[outcome.ignored] += 1
    assert ignored == {
        "vault request entry (its response is used)": 5,
        "vault kmip entry (no token involved)": 4,
    }
    assert all(isinstance(record, SecretUsageEvent) for record in records)
    accessors = [record for record in records if record.outcome == "success"]
    assert len(accessors) == 3
    assert all(
        record.credential_id.startswith("vault:accessor/hmac-sha256:") for record in accessors
    ), "HMAC-ed accessors are kept as logged"
    (denied,) = [record for record in records if record.outcome == "failure"]
    assert denied.credential_id.startswith("vault:token/hmac-sha256:db417023")
    assert denied.secret_ref == "internal-ca/issue/internal-server"


def test_real_scim_requests_on_both_sides() -> None:
    from accessdrift.normalizers import scim

    requests = http_requests("okta-developer-docs/reference__scim__scim-20__index.md")
    by_call = {
        (request["method"], request["path"].split("?")[0].count("/")): request
        for request in requests
    }
    deactivate = next(r for r in requests if r["method"] == "PATCH" and "/Users/" in r["path"])
    create = next(r for r in requests if r["method"] == "POST" and r["path"].endswith("/Users"))
    source = scim.normalize(deactivate)
    assert isinstance(source.records[0], DirectoryChange)
    assert source.records[0].change_type == "leaver"
    assert source.records[0].identity_id == "23a35c27-23d3-4c03-b4c5-6443c09e7173"
    downstream = scim.normalize(deactivate, scim.ScimFeed("downstream", "acme"))
    assert downstream.records[0].kind == "account_disabled"
    assert downstream.records[0].target_account_id == "acme:23a35c27-23d3-4c03-b4c5-6443c09e7173"
    joiner = scim.normalize(create).records[0]
    assert joiner.change_type == "joiner"
    assert joiner.email == "test.user@okta.local"
    assert by_call, "the page has request examples"
    reads = [scim.normalize(request) for request in requests if request["method"] == "GET"]
    assert reads and all(result.ignored == "scim read request" for result in reads)


def _denied_vault_line() -> dict[str, Any]:
    for message in lines("elastic-integrations/hashicorp_vault__test-audit.log"):
        entry = json.loads(message)
        if entry.get("type") == "response" and entry.get("error"):
            return dict(entry)
    raise AssertionError("no denied response in the sample")


def test_a_denied_vault_request_is_the_tokens_accessor_as_the_request_logs_it() -> None:
    """A revoked workload's token tried again: Vault logs no auth.accessor, but the
    request's client_token_accessor, which is what the token was issued under."""
    entry = _denied_vault_line()
    entry["request"] = {**entry["request"], "client_token_accessor": "hmac-sha256:acc1"}
    (denied,) = [
        r for o in normalize_message("vault", json.dumps(entry).encode()) for r in o.records
    ]
    assert denied.credential_id == "vault:accessor/hmac-sha256:acc1"
    assert denied.outcome == "failure"


def test_a_vault_token_in_the_clear_never_becomes_a_credential_id() -> None:
    entry = _denied_vault_line()
    token = "hvs.CAESIExampleRawTokenLoggedWithHmacOff"
    entry["request"] = {**entry["request"], "client_token": token}
    (denied,) = [
        r for o in normalize_message("vault", json.dumps(entry).encode()) for r in o.records
    ]
    assert token not in denied.model_dump_json()
    assert (
        denied.credential_id == "vault:token/sha256:" + hashlib.sha256(token.encode()).hexdigest()
    )
