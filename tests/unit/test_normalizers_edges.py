"""Edges the published samples miss, each normalizer with positive and negative cases."""

import json
from pathlib import Path
from typing import Any

import pytest

from accessdrift.errors import RecordError
from accessdrift.normalizers import cloudtrail, entra, gcp, hr_csv, okta, scim, vault
from accessdrift.normalizers.registry import (
    CSV_HEADER,
    FEED_HEADER,
    NormalizerConfig,
    normalize_message,
)
from accessdrift.schemas.models import SecretUsageEvent

USER = {
    "type": "IAMUser",
    "arn": "arn:aws:iam::111122223333:user/eng/alice",
    "accountId": "111122223333",
    "accessKeyId": "AKIAALICE00000000001",
    "userName": "alice",
}


def trail(
    name: str = "GetObject", source: str = "s3.amazonaws.com", **extra: Any
) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": USER,
        "eventTime": "2026-03-02T09:00:00Z",
        "eventSource": source,
        "eventName": name,
        "sourceIPAddress": "203.0.113.9",
        "eventID": f"id-{name}",
        "recipientAccountId": "111122223333",
        **extra,
    }


def one(result: Any) -> Any:
    (record,) = result.records
    return record


# -- CloudTrail ------------------------------------------------------------------------------


def test_iam_path_is_dropped_from_the_principal() -> None:
    event = one(cloudtrail.normalize(trail()))
    assert event.account_id == "aws:111122223333:user/alice"
    assert event.credential_id == "aws:AKIAALICE00000000001"


@pytest.mark.parametrize(
    "identity, expected",
    [
        (
            {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Deploy/alice-session"},
            "aws:1:assumed-role/Deploy/alice-session",
        ),
        ({"type": "Root", "arn": "arn:aws:iam::1:root"}, "aws:1:root"),
        (
            {"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/bob"},
            "aws:1:federated-user/bob",
        ),
        (
            {"type": "SAMLUser", "userName": "carol@example.com", "accountId": "1"},
            "aws:1:saml-user/carol@example.com",
        ),
        ({"type": "IdentityCenterUser", "userName": "dave"}, "aws:identitystore:dave"),
    ],
)
def test_principals(identity: dict[str, Any], expected: str) -> None:
    assert one(cloudtrail.normalize(trail(userIdentity=identity))).account_id == expected


def test_an_unknown_action_by_a_known_principal_is_a_use() -> None:
    event = one(cloudtrail.normalize(trail("BrandNewApiCall2031", "newservice.amazonaws.com")))
    assert event.kind == "usage" and event.action == "BrandNewApiCall2031"


def test_error_code_is_a_failed_use() -> None:
    assert one(cloudtrail.normalize(trail(errorCode="AccessDenied"))).outcome == "failure"
    login = trail(
        "ConsoleLogin", "signin.amazonaws.com", responseElements={"ConsoleLogin": "Failure"}
    )
    assert one(cloudtrail.normalize(login)).outcome == "failure"


@pytest.mark.parametrize(
    "record, rule",
    [
        (
            {"digestStartTime": "2026-03-02T08:00:00Z", "digestPublicKeyFingerprint": "x"},
            "cloudtrail digest file",
        ),
        (
            {**trail(), "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
            "cloudtrail action by an AWS service",
        ),
    ],
)
def test_ignored_by_rule(record: dict[str, Any], rule: str) -> None:
    assert cloudtrail.normalize(record).ignored == rule


@pytest.mark.parametrize(
    "record, message",
    [
        ({k: v for k, v in trail().items() if k != "eventName"}, "without eventName"),
        ({**trail(), "eventTime": "yesterday"}, "unreadable eventTime"),
        ({**trail(), "userIdentity": {"type": "Unknown"}}, "names no principal"),
        ({k: v for k, v in trail().items() if k != "userIdentity"}, "without userIdentity"),
        ("a string", "not a JSON object"),
    ],
)
def test_dead_lettered_with_a_reason(record: Any, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        cloudtrail.normalize(record)


def test_session_issuers_and_reactivated_keys() -> None:
    session = trail(
        "GetSessionToken",
        "sts.amazonaws.com",
        responseElements={"credentials": {"accessKeyId": "ASIASESSION000000001"}},
    )
    event = one(cloudtrail.normalize(session))
    assert (
        event.kind == "credential_created"
        and event.target_credential_id == "aws:ASIASESSION000000001"
    )
    assert event.target_account_id is None
    active = trail(
        "UpdateAccessKey",
        "iam.amazonaws.com",
        requestParameters={"accessKeyId": "AKIAOLD", "status": "Active"},
    )
    assert one(cloudtrail.normalize(active)).kind == "usage"


def test_attaching_aws_deny_all_disables_the_user_other_policies_grant() -> None:
    def attach(policy: str) -> Any:
        record = {
            "eventVersion": "1.08",
            "eventTime": "2026-03-02T10:00:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": "AttachUserPolicy",
            "eventID": f"attach-{policy[-8:]}",
            "recipientAccountId": "111122223333",
            "userIdentity": {
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/admin",
                "accountId": "111122223333",
            },
            "requestParameters": {"userName": "bob", "policyArn": policy},
        }
        (outcome,) = normalize_message("cloudtrail", json.dumps(record).encode())
        (event,) = outcome.records
        return event

    disabled = attach("arn:aws:iam::aws:policy/AWSDenyAll")
    granted = attach("arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert (disabled.kind, disabled.target_account_id) == (
        "account_disabled",
        "aws:111122223333:user/bob",
    )
    assert (granted.kind, granted.target_account_id) == (
        "permission_granted",
        "aws:111122223333:user/bob",
    )


def test_login_profiles_are_password_credentials() -> None:
    created = one(
        cloudtrail.normalize(
            trail("CreateLoginProfile", "iam.amazonaws.com", requestParameters={"userName": "bob"})
        )
    )
    deleted = one(
        cloudtrail.normalize(
            trail("DeleteLoginProfile", "iam.amazonaws.com", requestParameters={"userName": "bob"})
        )
    )
    assert created.kind == "credential_created" and deleted.kind == "credential_revoked"
    assert (
        created.target_credential_id
        == deleted.target_credential_id
        == "aws:111122223333:login-profile/bob"
    )
    assert created.target_account_id == "aws:111122223333:user/bob"


def test_a_records_file_is_unwrapped_and_ids_are_stable_without_event_id() -> None:
    record = {k: v for k, v in trail().items() if k != "eventID"}
    outcomes = normalize_message("cloudtrail", json.dumps({"Records": [record, record]}).encode())
    ids = [outcome.records[0].event_id for outcome in outcomes]
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0].startswith("cloudtrail:")


def test_malformed_json_is_a_decode_error() -> None:
    (outcome,) = normalize_message("cloudtrail", b'{"Records": [')
    assert outcome.error is not None and outcome.error.error_type == "decode"


# -- GCP ---------------------------------------------------------------------------------------

SA = "deployer@proj.iam.gserviceaccount.com"


def audit(method: str, **payload: Any) -> dict[str, Any]:
    return {
        "insertId": f"i-{method}",
        "timestamp": "2026-03-02T09:00:00.123456789Z",
        "protoPayload": {
            "methodName": method,
            "authenticationInfo": {"principalEmail": "admin@example.com"},
            "requestMetadata": {"callerIp": "198.51.100.1"},
            **payload,
        },
    }


def test_gcp_key_lifecycle() -> None:
    created = one(
        gcp.normalize(
            audit(
                "google.iam.admin.v1.CreateServiceAccountKey",
                resourceName=f"projects/-/serviceAccounts/{SA}",
                response={"name": f"projects/proj/serviceAccounts/{SA}/keys/3f2a"},
            )
        )
    )
    assert created.kind == "credential_created"
    assert (created.target_account_id, created.target_credential_id) == (
        f"gcp:{SA}",
        "gcp:key/3f2a",
    )
    assert created.event_time.microsecond == 123456
    deleted = one(
        gcp.normalize(
            audit(
                "google.iam.admin.v1.DeleteServiceAccountKey",
                resourceName=f"projects/proj/serviceAccounts/{SA}/keys/3f2a",
            )
        )
    )
    assert deleted.kind == "credential_revoked" and deleted.target_credential_id == "gcp:key/3f2a"
    disabled = one(
        gcp.normalize(
            audit(
                "google.iam.admin.v1.DisableServiceAccount",
                resourceName=f"projects/proj/serviceAccounts/{SA}",
            )
        )
    )
    assert disabled.kind == "account_disabled" and disabled.target_account_id == f"gcp:{SA}"


def test_gcp_key_use_and_denied_use() -> None:
    use = one(
        gcp.normalize(
            audit(
                "storage.objects.get",
                authenticationInfo={
                    "principalEmail": SA,
                    "serviceAccountKeyName": f"//iam.googleapis.com/projects/proj/serviceAccounts/{SA}/keys/3f2a",
                },
            )
        )
    )
    assert use.credential_id == "gcp:key/3f2a" and use.account_id == f"gcp:{SA}"
    denied = one(
        gcp.normalize(
            audit("storage.objects.get", status={"code": 7, "message": "PERMISSION_DENIED"})
        )
    )
    assert denied.outcome == "failure"


def test_gcp_policy_deltas_are_one_event_per_member() -> None:
    result = gcp.normalize(
        audit(
            "SetIamPolicy",
            serviceData={
                "policyDelta": {
                    "bindingDeltas": [
                        {
                            "action": "ADD",
                            "role": "roles/owner",
                            "member": "user:alice@example.com",
                        },
                        {
                            "action": "REMOVE",
                            "role": "roles/viewer",
                            "member": f"serviceAccount:{SA}",
                        },
                        {"action": "ADD", "role": "roles/viewer", "member": "allUsers"},
                    ]
                }
            },
        )
    )
    assert [(r.kind, r.target_account_id) for r in result.records] == [
        ("permission_granted", "gcp:alice@example.com"),
        ("permission_revoked", f"gcp:{SA}"),
    ]


def workspace_admin(*events: tuple[str, str | None]) -> dict[str, Any]:
    return {
        "insertId": "w1",
        "timestamp": "2026-03-02T10:00:00.123456Z",
        "protoPayload": {
            "methodName": f"google.admin.AdminService.{events[0][0].lower()}",
            "authenticationInfo": {"principalEmail": "admin@corp.example"},
            "metadata": {
                "event": [
                    {
                        "eventName": name,
                        "eventType": "USER_SETTINGS",
                        "parameter": []
                        if user is None
                        else [{"name": "USER_EMAIL", "value": user}],
                    }
                    for name, user in events
                ]
            },
        },
    }


@pytest.mark.parametrize(
    "event_name, kind",
    [
        ("CREATE_USER", "account_created"),
        ("SUSPEND_USER", "account_disabled"),
        ("DELETE_USER", "account_deleted"),
        ("ADD_GROUP_MEMBER", "permission_granted"),
        ("REMOVE_GROUP_MEMBER", "permission_revoked"),
    ],
)
def test_workspace_user_lifecycle_targets_the_user_email(event_name: str, kind: str) -> None:
    (outcome,) = normalize_message(
        "gcp-audit", json.dumps(workspace_admin((event_name, "Bob@Corp.example"))).encode()
    )
    (event,) = outcome.records
    assert (event.kind, event.account_id, event.target_account_id, event.event_id) == (
        kind,
        "gcp:admin@corp.example",
        "gcp:bob@corp.example",
        "w1",
    )


def test_workspace_admin_events_without_a_user_or_unknown_are_uses_by_the_admin() -> None:
    for events in ((("CHANGE_PASSWORD", "bob@corp.example"),), (("SUSPEND_USER", None),)):
        (outcome,) = normalize_message("gcp-audit", json.dumps(workspace_admin(*events)).encode())
        (event,) = outcome.records
        assert (event.kind, event.target_account_id) == ("usage", None)
    (outcome,) = normalize_message(
        "gcp-audit",
        json.dumps(
            workspace_admin(
                ("SUSPEND_USER", "bob@corp.example"), ("DELETE_USER", "eve@corp.example")
            )
        ).encode(),
    )
    assert [(event.kind, event.event_id) for event in outcome.records] == [
        ("account_disabled", "w1#0"),
        ("account_deleted", "w1#1"),
    ]


def test_gcp_entries_that_are_not_audit_logs_are_dead_lettered() -> None:
    with pytest.raises(RecordError, match="not a Cloud Audit Log"):
        gcp.normalize({"textPayload": "hello", "timestamp": "2026-03-02T09:00:00Z"})


# -- Okta, Entra, Vault -----------------------------------------------------------------------


def okta_event(
    event_type: str, result: str = "SUCCESS", target: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "uuid": f"u-{event_type}",
        "published": "2026-03-02T09:00:00.000Z",
        "eventType": event_type,
        "actor": {"id": "00uadmin", "type": "User"},
        "outcome": {"result": result},
        "client": {"ipAddress": "198.51.100.2"},
        "target": target or [],
    }


@pytest.mark.parametrize(
    "event_type, kind",
    [
        ("user.lifecycle.create", "account_created"),
        ("user.lifecycle.deactivate", "account_disabled"),
        ("user.lifecycle.suspend", "account_disabled"),
        ("user.lifecycle.delete.initiated", "account_deleted"),
        ("group.user_membership.remove", "permission_revoked"),
        ("user.lifecycle.unsuspend", "usage"),
    ],
)
def test_okta_lifecycle(event_type: str, kind: str) -> None:
    event = one(okta.normalize(okta_event(event_type, target=[{"id": "00ubob", "type": "User"}])))
    assert event.kind == kind
    if kind != "usage":
        assert event.target_account_id == "okta:00ubob"


def test_okta_denied_sign_in_is_a_failed_use() -> None:
    event = one(okta.normalize(okta_event("user.session.start", result="FAILURE")))
    assert (event.kind, event.outcome, event.account_id) == ("usage", "failure", "okta:00uadmin")


def test_entra_sign_in_to_a_disabled_account_is_an_attempted_use() -> None:
    record = {
        "time": "2026-03-02T09:00:00Z",
        "category": "SignInLogs",
        "resultType": "50057",
        "properties": {
            "id": "s1",
            "userId": "obj-1",
            "createdDateTime": "2026-03-02T09:00:00Z",
            "appDisplayName": "Azure Portal",
            "status": {"errorCode": 50057},
            "ipAddress": "203.0.113.5",
        },
    }
    event = one(entra.normalize(record))
    assert (event.account_id, event.outcome, event.kind) == ("entra:obj-1", "failure", "usage")


@pytest.mark.parametrize(
    "activity, kind",
    [
        ("Disable account", "account_disabled"),
        ("Delete user", "account_deleted"),
        ("Add member to group", "permission_granted"),
    ],
)
def test_entra_audit_account_activities(activity: str, kind: str) -> None:
    record = {
        "activityDisplayName": activity,
        "activityDateTime": "2026-03-02T09:00:00Z",
        "id": "a1",
        "result": "success",
        "initiatedBy": {"user": {"id": "admin-1"}},
        "targetResources": [{"id": "obj-2", "type": "User"}],
    }
    event = one(entra.normalize(record))
    assert (event.kind, event.target_account_id, event.account_id) == (
        kind,
        "entra:obj-2",
        "entra:admin-1",
    )


def vault_line(path: str, **extra: Any) -> dict[str, Any]:
    return {
        "time": "2026-03-02T09:00:00.123456789Z",
        "type": "response",
        "auth": {"accessor": "hmac-sha256:abc", "entity_id": "ent-1"},
        "request": {
            "id": f"r-{path}",
            "operation": "update",
            "path": path,
            "remote_address": "10.0.0.5",
        },
        **extra,
    }


def test_vault_login_issues_a_token_owned_by_the_entity() -> None:
    line = vault_line(
        "auth/approle/login",
        auth={},
        response={"auth": {"accessor": "hmac-sha256:new", "entity_id": "ent-9"}},
    )
    event = one(vault.normalize(line))
    assert event.kind == "credential_created"
    assert (event.target_credential_id, event.target_account_id) == (
        "vault:accessor/hmac-sha256:new",
        "vault:entity/ent-9",
    )


def entity_write(path: str, operation: str, data: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "time": "2026-03-02T10:00:00.5Z",
        "type": "response",
        "auth": {"accessor": "hmac-sha256:admin", "entity_id": "admin"},
        "request": {"id": "r-entity", "operation": operation, "path": path, "data": data},
        "response": {},
    }


@pytest.mark.parametrize(
    "path, operation, data, kind",
    [
        ("identity/entity/name/bob", "create", {"disabled": False}, "account_created"),
        ("identity/entity/id/bob", "update", {"disabled": True}, "account_disabled"),
        ("identity/entity/id/bob", "update", {"policies": ["hmac-sha256:x"]}, "permission_granted"),
        ("identity/entity/id/bob", "delete", None, "account_deleted"),
    ],
)
def test_vault_entity_writes_change_the_entity(
    path: str, operation: str, data: dict[str, Any] | None, kind: str
) -> None:
    (outcome,) = normalize_message(
        "vault", json.dumps(entity_write(path, operation, data)).encode()
    )
    (event,) = outcome.records
    assert (event.kind, event.account_id, event.target_account_id) == (
        kind,
        "vault:entity/admin",
        "vault:entity/bob",
    )


@pytest.mark.parametrize(
    "path, operation, data",
    [
        ("identity/entity/id/bob", "read", None),
        ("identity/entity/id/bob", "update", {"disabled": "hmac-sha256:true"}),
        ("identity/entity/id/bob/extra", "delete", None),
        ("identity/entity/id/", "delete", None),
    ],
)
def test_vault_entity_reads_and_unclear_writes_are_uses(
    path: str, operation: str, data: dict[str, Any] | None
) -> None:
    (outcome,) = normalize_message(
        "vault", json.dumps(entity_write(path, operation, data)).encode()
    )
    (event,) = outcome.records
    assert isinstance(event, SecretUsageEvent)


def test_vault_revoke_accessor_revokes_the_named_token() -> None:
    line = vault_line("auth/token/revoke-accessor")
    line["request"]["data"] = {"accessor": "hmac-sha256:old"}
    event = one(vault.normalize(line))
    assert (event.kind, event.target_credential_id) == (
        "credential_revoked",
        "vault:accessor/hmac-sha256:old",
    )


def test_vault_error_is_a_failed_read_and_unknown_types_are_dead_lettered() -> None:
    read = one(vault.normalize(vault_line("secret/data/db", error="permission denied")))
    assert (read.outcome, read.credential_id, read.account_id) == (
        "failure",
        "vault:accessor/hmac-sha256:abc",
        "vault:entity/ent-1",
    )
    with pytest.raises(RecordError, match="unknown type"):
        vault.normalize({**vault_line("x"), "type": "mystery"})


# -- SCIM and HR CSV ---------------------------------------------------------------------------


def test_scim_feed_side_is_chosen_per_feed_header() -> None:
    request = {
        "id": "s1",
        "time": "2026-03-02T09:00:00Z",
        "method": "DELETE",
        "path": "/scim/v2/Users/u-7",
    }
    config = NormalizerConfig(scim_feeds={"dropbox": scim.ScimFeed("downstream", "dropbox")})
    (source,) = normalize_message("scim", json.dumps(request).encode(), {}, config)
    (downstream,) = normalize_message(
        "scim", json.dumps(request).encode(), {FEED_HEADER: b"dropbox"}, config
    )
    assert source.records[0].change_type == "leaver"
    assert (downstream.records[0].kind, downstream.records[0].target_account_id) == (
        "account_deleted",
        "dropbox:u-7",
    )


def test_scim_failed_requests_are_ignored_and_groups_grant_per_member() -> None:
    failed = {
        "time": "2026-03-02T09:00:00Z",
        "method": "POST",
        "path": "/Users",
        "status": 409,
        "body": {"userName": "x"},
    }
    assert scim.normalize(failed).ignored == "scim request that failed"
    patch = {
        "time": "2026-03-02T09:00:00Z",
        "method": "PATCH",
        "path": "/Groups/g1",
        "body": {
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]},
                {"op": "remove", "path": "members", "value": [{"value": "u-3"}]},
            ]
        },
    }
    result = scim.normalize(patch, scim.ScimFeed("downstream", "acme"))
    assert [(r.kind, r.target_account_id) for r in result.records] == [
        ("permission_granted", "acme:u-1"),
        ("permission_granted", "acme:u-2"),
        ("permission_revoked", "acme:u-3"),
    ]


HEADER = b"employee_id,action,effective_date,email,department,title,worker_type,accounts"


@pytest.mark.parametrize(
    "line, change_type, when",
    [
        (
            b"E1,Hire,2026-03-02,alice@example.com,payments,engineer,,aws:1:user/alice;okta:00u1",
            "joiner",
            "2026-03-02T00:00:00+00:00",
        ),
        (b"E1,Termination,2026-03-20T17:30:00+01:00,,,,,", "leaver", "2026-03-20T16:30:00+00:00"),
        (b"E1,Transfer,2026-03-10,,risk,analyst,,", "mover", "2026-03-10T00:00:00+00:00"),
    ],
)
def test_hr_csv_rows(line: bytes, change_type: str, when: str) -> None:
    (outcome,) = normalize_message("hr-csv", line, {CSV_HEADER: HEADER})
    change = outcome.records[0]
    assert (change.change_type, change.event_time.isoformat()) == (change_type, when)
    assert change.identity_id == "E1" and change.source == "hr-csv"


def test_hr_csv_mapping_file_renames_columns_and_words(tmp_path: Path) -> None:
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(
        "columns: {identity_id: Worker ID, change_type: Event, event_time: Effective}\n"
        "change_types: {Separation: leaver}\ntimezone: Europe/Paris\neffective_time: '18:00'\n"
    )
    mapping = hr_csv.HrMapping.load(mapping_file)
    row = hr_csv.parse_row(b"W-9,Separation,2026-03-20", b"Worker ID,Event,Effective")
    change = hr_csv.normalize(row, mapping).records[0]
    assert change.identity_id == "W-9" and change.change_type == "leaver"
    assert change.event_time.isoformat() == "2026-03-20T17:00:00+00:00", "18:00 in Paris"


@pytest.mark.parametrize(
    "line, message",
    [
        (b"E1,Sabbatical,2026-03-02,,,,,", "not mapped"),
        (b"E1,Hire,,,,,,", "without effective_date"),
        (b"E1,Hire,someday,,,,,", "unreadable date"),
        (b"E1,Hire", "fields, the header"),
    ],
)
def test_hr_csv_bad_rows_say_why(line: bytes, message: str) -> None:
    (outcome,) = normalize_message("hr-csv", line, {CSV_HEADER: HEADER})
    assert outcome.error is not None and message in str(outcome.error)


def test_a_csv_line_without_its_header_is_dead_lettered() -> None:
    (outcome,) = normalize_message("hr-csv", b"E1,Hire,2026-03-02")
    assert outcome.error is not None and "csv-header" in str(outcome.error)


def test_a_normalizer_crash_on_an_unforeseen_shape_becomes_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(*_: Any) -> Any:
        raise TypeError("unexpected nesting")

    monkeypatch.setattr(okta, "normalize", crash)
    (outcome,) = normalize_message("okta", b'{"eventType": "x"}')
    assert outcome.error is not None
    assert str(outcome.error) == "normalizer failed: TypeError: unexpected nesting"


def test_a_rejected_record_of_a_file_is_a_dead_letter_of_its_own_bytes() -> None:
    from accessdrift.normalizers.registry import normalize_message, rejections
    from tests.unit.samples import panther

    good = next(
        json.loads(sample)
        for sample in panther("aws-cloudtrail.jsonl")
        if all(outcome.error is None for outcome in normalize_message("cloudtrail", sample))
    )
    bad = {**good, "eventTime": "not a time"}
    message = json.dumps({"Records": [good, bad]}).encode()
    letters = rejections(normalize_message("cloudtrail", message), message)
    assert len(letters) == 1
    assert json.loads(letters[0].value) == bad, "the bad record only, not the whole file"
    assert letters[0].error.startswith("record 1: ")


def test_a_message_of_many_bad_records_is_one_bounded_dead_letter() -> None:
    from accessdrift.normalizers.registry import normalize_message, rejections

    bad = [{"eventTime": "not a time", "eventName": f"e{n}"} for n in range(3000)]
    message = json.dumps({"Records": bad}).encode()
    letters = rejections(normalize_message("cloudtrail", message), message)
    assert len(letters) == 1
    assert letters[0].value == message
    assert letters[0].error.startswith("3000 of 3000 records rejected: record 0: ")
    assert letters[0].error.endswith("and 2950 more")
    assert len(letters[0].error) < 20_000


def test_an_okta_sign_in_okta_could_not_tie_to_a_user_is_by_the_name_typed() -> None:
    from accessdrift.normalizers.okta import normalize

    failed = {
        "uuid": "f1",
        "published": "2026-03-02T09:00:00Z",
        "eventType": "user.session.start",
        "actor": {"id": "unknown", "type": "User", "alternateId": "Alice@Corp.example"},
        "outcome": {"result": "FAILURE", "reason": "VERIFICATION_ERROR"},
    }
    (event,) = normalize(failed).records
    assert event.account_id == "okta:alice@corp.example" and event.outcome == "failure"
    nameless = {**failed, "actor": {"id": "unknown", "alternateId": "unknown"}}
    assert normalize(nameless).ignored is not None
    success = {**failed, "actor": {"id": "00u1", "alternateId": "alice@corp.example"}}
    assert normalize(success).records[0].account_id == "okta:00u1"


def test_a_cloudtrail_sign_in_by_a_hidden_user_name_is_ignored_by_rule() -> None:
    from accessdrift.normalizers.cloudtrail import normalize

    failed = {
        "eventVersion": "1.08",
        "eventTime": "2026-03-02T09:00:00Z",
        "eventName": "ConsoleLogin",
        "eventSource": "signin.amazonaws.com",
        "userIdentity": {
            "type": "IAMUser",
            "accountId": "1",
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        },
        "responseElements": {"ConsoleLogin": "Failure"},
        "errorMessage": "No username found in supplied account",
    }
    assert normalize(failed).ignored is not None
    named = {**failed, "userIdentity": {"type": "IAMUser", "accountId": "1", "userName": "alice"}}
    (event,) = normalize(named).records
    assert event.account_id == "aws:1:user/alice" and event.outcome == "failure"
