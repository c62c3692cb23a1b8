"""What a session-issuing action acts as: the role an AWS session assumes, the service
account a GCP short-lived token is made for, the entity a Vault AppRole login's token
belongs to. The session is always its caller's (``account_id``); the role or service
account is ``target_account_id``. Real published events first, then the edges."""

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accessdrift.normalizers import cloudtrail, gcp
from accessdrift.normalizers.registry import normalize_message
from accessdrift.schemas.models import CloudAuditEvent
from tests.unit.samples import SAMPLES, lines, markdown_json, panther

ROLE_ID = re.compile(r"aws:[\w-]{1,64}:role/[\w+=,.@-]{1,128}", re.ASCII)
SERVICE_ACCOUNT_ID = re.compile(r"gcp:[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}", re.ASCII)


def event_of(format_name: str, message: bytes) -> CloudAuditEvent:
    (outcome,) = normalize_message(format_name, message)
    assert outcome.error is None, outcome.error
    (record,) = outcome.records
    assert isinstance(record, CloudAuditEvent)
    return record


def ids(event: CloudAuditEvent) -> tuple[str | None, ...]:
    return (
        event.event_id,
        event.kind,
        event.account_id,
        event.credential_id,
        event.target_account_id,
        event.target_credential_id,
    )


# -- AWS ---------------------------------------------------------------------------------

AWSDOCS = "awsdocs/iam-user-guide__cloudtrail-integration.md"


def docs_examples_with_missing_commas(name: str) -> list[dict[str, Any]]:
    """The IAM guide's AssumeRoleWithSAML and AssumeRoleWithWebIdentity examples, which
    are published with commas missing (and one too many): the commas put back, nothing
    else touched (the text without commas is the same before and after)."""
    found = []
    for block in re.findall(r"```\s*\n(.*?)```", (SAMPLES / AWSDOCS).read_text(), re.S):
        if f'"eventName": "{name}"' not in block:
            continue
        repaired = re.sub(r'(["\]}0-9e])(\s*\n\s*")', r"\1,\2", block)
        repaired = re.sub(r",(\s*[}\]])", r"\1", repaired)
        assert repaired.replace(",", "") == block.replace(",", "")
        found.append(json.loads(repaired))
    return found


def test_the_iam_guide_assume_role_examples_name_the_role_the_session_acts_as() -> None:
    assume = [doc for doc in markdown_json(AWSDOCS) if doc.get("eventName") == "AssumeRole"]
    got = [ids(event_of("cloudtrail", json.dumps(doc).encode())) for doc in assume]
    assert got == [
        (
            "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE",
            "credential_created",
            "aws:777788889999:user/JohnDoe",
            "aws:AKIAQRSTUVWXYZEXAMPLE",
            "aws:111122223333:role/EC2-dev",
            "aws:AKIAQRSTUVWXYZEXAMPLE",
        ),
        (
            "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE",
            "credential_created",
            "aws:777788889999:user/AIDAQRSTUVWXYZEXAMPLE",
            None,
            "aws:111122223333:role/EC2-dev",
            "aws:AKIAQRSTUVWXYZEXAMPLE",
        ),
        (
            # Role chaining: a session of JohnRole1 assumes JohnRole2.
            "1917948f-3042-46ec-98e2-62865EXAMPLE",
            "credential_created",
            "aws:111111111111:assumed-role/JohnDoe/JohnRole1",
            "aws:AKIAI44QH8DHBEXAMPLE",
            "aws:111111111111:role/JohnRole2",
            "aws:ASIAWHOJDLGPOEXAMPLE",
        ),
    ]


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "AssumeRoleWithSAML",
            (
                "dEXAMPLE-265a-41e0-9352-4401bEXAMPLE",
                "credential_created",
                "aws:444455556666:saml-user/SamlExample",
                None,
                "aws:444455556666:role/SAMLTestRoleShibboleth",
                "aws:AKIAIOSFODNN7EXAMPLE",
            ),
        ),
        (
            "AssumeRoleWithWebIdentity",
            (
                "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE",
                "credential_created",
                "aws:444455556666:web-identity-user/<id of user>",
                None,
                "aws:444455556666:role/FederatedWebIdentityRole",
                "aws:ASIACQRSTUVWRAOEXAMPLE",
            ),
        ),
    ],
)
def test_the_iam_guide_federated_assumptions_name_the_role(
    name: str, expected: tuple[str | None, ...]
) -> None:
    (document,) = docs_examples_with_missing_commas(name)
    assert ids(event_of("cloudtrail", json.dumps(document).encode())) == expected


def test_panthers_role_assumptions_name_the_role_and_keep_what_they_did_before() -> None:
    """Every STS event of Panther's rule tests: the three sessions issued name their
    role (a failure that still returned credentials too, as the log says); a request
    answered with no credentials stays a use and names nothing."""
    got: list[tuple[str | None, ...]] = []
    for message in panther("aws-cloudtrail.jsonl"):
        document = json.loads(message)
        if document.get("eventSource") != "sts.amazonaws.com":
            continue
        for outcome in normalize_message("cloudtrail", message):
            for record in outcome.records:
                assert isinstance(record, CloudAuditEvent)
                got.append((record.action, record.outcome, *ids(record)))
    sessions = [row for row in got if row[3] == "credential_created"]
    assert sessions == [
        (
            "AssumeRole",
            "success",
            "044e210e-6c5e-3f3e-8f04-2311a826f287",
            "credential_created",
            "aws:111122223333:user/SAMPLE_PRINCIPAL_ID:lambda-name",
            None,
            "aws:111122223333:role/SampleRole",
            "aws:SAMPLE_ACCESS_KEY",
        ),
        (
            "AssumeRole",
            "success",
            "1111",
            "credential_created",
            "aws:123456789012:user/example-user",
            "aws:1111",
            "aws:123456789012:role/FullAdminRole",
            "aws:1111",
        ),
        (
            "AssumeRole",
            "success",
            "1111",
            "credential_created",
            "aws:123456789012:user/example-user",
            "aws:1111",
            "aws:123456789012:role/example-role",
            "aws:1111",
        ),
        (
            "AssumeRole",
            "failure",
            "1111",
            "credential_created",
            "aws:123456789012:user/example-user",
            "aws:1111",
            "aws:123456789012:role/FullAdminRole",
            "aws:1111",
        ),
    ]
    others = [row for row in got if row[3] != "credential_created"]
    assert {row[0] for row in others} == {"AssumeRole", "GetSessionToken", "GetCallerIdentity"}
    assert all(row[3] == "usage" and row[6] is None and row[7] is None for row in others)


IDENTITY = {
    "type": "IAMUser",
    "arn": "arn:aws:iam::111122223333:user/eng/alice",
    "accountId": "111122223333",
    "accessKeyId": "AKIAALICE00000000001",
}


def sts(name: str, request: Any, issued: str | None = "ASIASESSION000000001") -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": IDENTITY,
        "eventTime": "2026-03-02T09:00:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": name,
        "eventID": f"id-{name}",
        "recipientAccountId": "111122223333",
        "requestParameters": request,
        "responseElements": {"credentials": {"accessKeyId": issued}} if issued else None,
    }


def one(record: dict[str, Any]) -> CloudAuditEvent:
    (event,) = cloudtrail.normalize(record).records
    assert isinstance(event, CloudAuditEvent)
    return event


@pytest.mark.parametrize(
    "name, role_arn, role",
    [
        ("AssumeRole", "arn:aws:iam::444455556666:role/Deploy", "aws:444455556666:role/Deploy"),
        # The IAM path is left out, as in the role's id when it is created.
        (
            "AssumeRole",
            "arn:aws:iam::444455556666:role/team/ci/Deploy",
            "aws:444455556666:role/Deploy",
        ),
        (
            "AssumeRoleWithSAML",
            "arn:aws-us-gov:iam::444455556666:role/Okta+Admins=x,y.z@corp-1",
            "aws:444455556666:role/Okta+Admins=x,y.z@corp-1",
        ),
        (
            "AssumeRoleWithWebIdentity",
            " arn:aws-cn:iam::444455556666:role/gh-actions ",
            "aws:444455556666:role/gh-actions",
        ),
    ],
)
def test_a_role_assumption_names_the_role_from_its_arn(name: str, role_arn: str, role: str) -> None:
    event = one(sts(name, {"roleArn": role_arn, "roleSessionName": "s"}))
    assert ids(event) == (
        f"id-{name}",
        "credential_created",
        "aws:111122223333:user/alice",
        "aws:AKIAALICE00000000001",
        role,
        "aws:ASIASESSION000000001",
    )


@pytest.mark.parametrize("name", ["GetSessionToken", "GetFederationToken"])
def test_a_session_of_the_caller_itself_names_no_role(name: str) -> None:
    # Even a request that carries a roleArn: these sessions act as their caller.
    event = one(sts(name, {"roleArn": "arn:aws:iam::444455556666:role/Deploy", "name": "x"}))
    assert (event.kind, event.target_account_id, event.target_credential_id) == (
        "credential_created",
        None,
        "aws:ASIASESSION000000001",
    )


def test_a_refused_assumption_issues_nothing_and_names_no_role() -> None:
    record = {
        **sts("AssumeRole", {"roleArn": "arn:aws:iam::444455556666:role/Deploy"}, None),
        "errorCode": "AccessDenied",
    }
    event = one(record)
    assert (event.kind, event.outcome, event.target_account_id, event.target_credential_id) == (
        "usage",
        "failure",
        None,
        None,
    )


@pytest.mark.parametrize(
    "role_arn",
    [
        None,
        12345,
        {"arn": "arn:aws:iam::444455556666:role/Deploy"},
        ["arn:aws:iam::444455556666:role/Deploy"],
        "",
        "Deploy",
        "arn:aws:iam::444455556666:user/bob",
        "arn:aws:iam::444455556666:role/",
        "arn:aws:iam::444455556666:role/team/",
        "arn:aws:iam::444455556666:rolex/Deploy",
        "arn:aws:s3:::role/Deploy",
        "arn:aws:iam:::role/Deploy",
        "arn:aws:iam::4444 5555:role/Deploy",
        "arn:aws:iam::444455556666:role/Dep loy",
        "arn:aws:iam::444455556666:role/Dep\nloy",
        "arn:aws:iam::444455556666:role/Déploy",
        "arn:aws:iam::444455556666:role/'; DROP TABLE events; --",
        "arn:aws:iam::444455556666:role/" + "a" * 129,
        "arn:aws:iam::444455556666:role/" + "p/" * 2000 + "Deploy",
        "arn:aws:iam::444455556666:role/\x00",
    ],
)
def test_a_role_arn_that_names_no_iam_role_names_none(role_arn: Any) -> None:
    event = one(sts("AssumeRole", {"roleArn": role_arn}))
    assert (event.kind, event.target_account_id, event.target_credential_id) == (
        "credential_created",
        None,
        "aws:ASIASESSION000000001",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    role_arn=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=80),
        st.text(max_size=40).map(lambda tail: f"arn:aws:iam::444455556666:role/{tail}"),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    ),
    in_request=st.booleans(),
)
def test_any_role_arn_or_request_makes_a_role_id_or_none(role_arn: Any, in_request: bool) -> None:
    # The value as the roleArn, or as the whole requestParameters.
    event = one(sts("AssumeRole", {"roleArn": role_arn} if in_request else role_arn))
    assert event.kind == "credential_created"
    assert event.target_account_id is None or ROLE_ID.fullmatch(event.target_account_id)


# -- GCP ---------------------------------------------------------------------------------

ELASTIC_GCP = "elastic-integrations/gcp_audit__test-iamcredentials-googleapis-com.log"


def panther_gcp(test_name: str) -> bytes:
    path = SAMPLES / "panther-analysis-events" / "gcp-auditlog.jsonl"
    for line in path.read_text().splitlines():
        sample = json.loads(line)
        if sample["test_name"] == test_name and "iamcredentials" in line:
            return json.dumps(sample["log"]).encode()
    raise AssertionError(f"no {test_name!r}")


def test_a_real_workload_identity_token_is_the_callers_acting_as_the_service_account() -> None:
    event = event_of("gcp-audit", lines(ELASTIC_GCP)[0])
    assert ids(event) == (
        "15djrryd6bap",
        "credential_created",
        "gcp:principal://iam.googleapis.com/projects/project-id/locations/global/workloadIdentityPools/...",
        None,
        "gcp:made-up-ci-account@project-id.iam.gserviceaccount.com",
        "gcp:token/15djrryd6bap",
    )
    assert (event.action, event.outcome) == ("GenerateAccessToken", "success")


SA = "gcp:some-project@company.iam.gserviceaccount.com"
KEY = "gcp:key/a378358365ff3d22e9c1a72fecf4605ddff76b47"


@pytest.mark.parametrize(
    "test_name, expected",
    [
        # A service account signing a JWT as itself, with its own key.
        (
            "iam.serviceAccounts.getAccessToken granted",
            ("1hu88qbef4d2o", "credential_created", SA, KEY, SA, "gcp:token/1hu88qbef4d2o"),
        ),
        (
            "JWT Signed",
            ("1hu88qbef4d2o", "credential_created", SA, KEY, SA, "gcp:token/1hu88qbef4d2o"),
        ),
        (
            "iam.serviceAccounts.signBlob granted",
            ("1hu88qbef4d2o", "credential_created", SA, KEY, SA, "gcp:token/1hu88qbef4d2o"),
        ),
        # Not granted: nothing was made, a failed use.
        (
            "iam.serviceAccounts.getAccessToken not granted",
            ("1hu88qbef4d2o", "usage", SA, KEY, None, None),
        ),
        ("JWT Not Signed", ("1hu88qbef4d2o", "usage", SA, KEY, None, None)),
        (
            "iam.serviceAccounts.signBlob not granted",
            ("1hu88qbef4d2o", "usage", SA, KEY, None, None),
        ),
        # The request names a scrubbed account (no @): the email Google resolved it to
        # is the one in the resource's labels, as the log says.
        (
            "Principal Subject Used",
            (
                "1dy9ihte4iyjz",
                "credential_created",
                "gcp:example_principal_subject",
                None,
                "gcp:sample@email.com",
                "gcp:token/1dy9ihte4iyjz",
            ),
        ),
    ],
)
def test_panthers_service_account_credentials_calls(
    test_name: str, expected: tuple[str | None, ...]
) -> None:
    assert ids(event_of("gcp-audit", panther_gcp(test_name))) == expected


def elastic_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(lines(ELASTIC_GCP)[0])
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = entry
        for parent in parents:
            node = node[parent]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return entry


def gcp_one(entry: dict[str, Any]) -> CloudAuditEvent:
    (event,) = gcp.normalize(entry).records
    assert isinstance(event, CloudAuditEvent)
    return event


@pytest.mark.parametrize(
    "method",
    [
        "GenerateIdToken",
        "SignBlob",
        "SignJwt",
        "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken",
    ],
)
def test_every_token_method_in_either_spelling_makes_a_credential(method: str) -> None:
    event = gcp_one(elastic_entry(protoPayload__methodName=method))
    assert (event.kind, event.action, event.target_account_id, event.target_credential_id) == (
        "credential_created",
        method,
        "gcp:made-up-ci-account@project-id.iam.gserviceaccount.com",
        "gcp:token/15djrryd6bap",
    )


def test_the_full_method_name_is_known_without_its_service_name() -> None:
    entry = elastic_entry(
        protoPayload__methodName="google.iam.credentials.v1.IAMCredentials.SignJwt",
        protoPayload__serviceName=None,
    )
    assert gcp_one(entry).kind == "credential_created"


@pytest.mark.parametrize(
    "changes",
    [
        # Another service's method of the same name is not a token of a service account.
        {"protoPayload__serviceName": "example.googleapis.com"},
        {"protoPayload__methodName": "GenerateAccessTokenLater"},
        {"protoPayload__status": {"code": 7, "message": "PERMISSION_DENIED"}},
    ],
)
def test_what_makes_no_token_stays_a_use(changes: dict[str, Any]) -> None:
    event = gcp_one(elastic_entry(**changes))
    assert (event.kind, event.target_account_id, event.target_credential_id) == (
        "usage",
        None,
        None,
    )


def test_without_labels_the_service_account_is_the_email_the_request_names() -> None:
    entry = elastic_entry(resource=None)
    assert gcp_one(entry).target_account_id == (
        "gcp:made-up-ci-account@project-id.iam.gserviceaccount.com"
    )
    # resourceName names it by email when the caller did.
    entry = elastic_entry(
        resource=None,
        protoPayload__request=None,
        protoPayload__resourceName="projects/-/serviceAccounts/ci@p.iam.gserviceaccount.com",
    )
    assert gcp_one(entry).target_account_id == "gcp:ci@p.iam.gserviceaccount.com"


def test_a_service_account_named_only_by_its_unique_id_is_no_account() -> None:
    entry = elastic_entry(
        resource=None, protoPayload__request={"name": "projects/-/serviceAccounts/1048576"}
    )
    event = gcp_one(entry)
    # Still the caller's token: only the account it acts as is unknown.
    assert (event.kind, event.target_account_id, event.target_credential_id) == (
        "credential_created",
        None,
        "gcp:token/15djrryd6bap",
    )


def test_an_entry_without_insert_id_names_its_token_by_the_entrys_stable_id() -> None:
    event = gcp_one(elastic_entry(insertId=None))
    assert event.event_id.startswith("gcp:")
    assert event.target_credential_id == f"gcp:token/{event.event_id.removeprefix('gcp:')}"
    assert gcp_one(elastic_entry(insertId=None)).target_credential_id == event.target_credential_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    labels=st.one_of(
        st.none(),
        st.text(max_size=300),
        st.integers(),
        st.lists(st.text(max_size=5), max_size=2),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    ),
    request_name=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=60).map(lambda tail: f"projects/-/serviceAccounts/{tail}"),
        st.just("projects/-/serviceAccounts/" + "a" * 5000 + "@x.com"),
    ),
    insert_id=st.one_of(st.none(), st.text(max_size=40), st.integers()),
)
def test_any_labels_request_or_insert_id_make_an_account_id_or_none(
    labels: Any, request_name: Any, insert_id: Any
) -> None:
    entry = elastic_entry(
        resource__labels={"email_id": labels},
        protoPayload__request={"name": request_name},
        insertId=insert_id,
    )
    event = gcp_one(entry)
    assert event.kind == "credential_created"
    assert event.target_credential_id and event.target_credential_id.startswith("gcp:token/")
    target = event.target_account_id
    assert target is None or (SERVICE_ACCOUNT_ID.fullmatch(target) and len(target) <= 258)


# -- Vault -------------------------------------------------------------------------------

APPROLE = "kawsark-awx-approle-ansible/README__example-audit-entries.log"


def test_a_real_approle_login_issues_a_token_owned_by_the_approles_entity() -> None:
    """The response of an AppRole login (role ``ansible``): the token is the AppRole's
    entity's, which is also what logged in; the request entries are left to their
    responses."""
    request, response, later_request = lines(APPROLE)
    for entry in (request, later_request):
        (outcome,) = normalize_message("vault", entry)
        assert outcome.ignored == "vault request entry (its response is used)"
    assert json.loads(response)["response"]["auth"]["metadata"] == {"role_name": "ansible"}
    event = event_of("vault", response)
    entity = "vault:entity/a4db4ab3-7605-f51c-cf0c-344245782f98"
    assert ids(event) == (
        "vault:977a96c1-095c-2c5a-6637-5dc584b823f1",
        "credential_created",
        entity,
        None,
        entity,
        "vault:accessor/hmac-sha256:99174d26d1c642d81b72d29b57b43bab40e02e2122ecd04acca57c093545482e",
    )
    assert (event.action, event.outcome, event.source_ip) == (
        "update auth/approle/login",
        "success",
        "172.18.0.5",
    )
