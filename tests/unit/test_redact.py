"""Secret material never reaches a dead letter: per format, on real-shaped records,
with the identifiers an analyst needs kept beside them."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from accessdrift.deadletter import dead_letter_bytes
from accessdrift.redact import REDACTED, is_secret_name, redact_bytes, redact_text
from accessdrift.schemas.codec import codec_for
from tests.unit.samples import http_requests, lines, panther

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = (
    "IQoJb3JpZ2luX2VjEKL//////////wEaCXVzLWVhc3QtMSJHMEUCIQDExampleSessionTokenValue0123456789"
)
VAULT_TOKEN = "hvs.CAESIJlWh2ExampleVaultServiceToken0123456789abcdef"


def assume_role() -> dict[str, Any]:
    """Panther's AssumeRole event, with the secret a real response carries added."""
    for message in panther("aws-cloudtrail.jsonl"):
        event = json.loads(message)
        if event.get("eventName") == "AssumeRole" and "credentials" in (
            event.get("responseElements") or {}
        ):
            credentials = event["responseElements"]["credentials"]
            credentials.update(secretAccessKey=AWS_SECRET, sessionToken=SESSION)
            event["eventTime"] = "not a time"  # what sent it to the dead letters
            return event
    raise AssertionError("no AssumeRole sample")


def vault_response() -> dict[str, Any]:
    """Elastic's Vault audit line, as Vault writes it with HMAC off."""
    event = json.loads(lines("elastic-integrations/hashicorp_vault__test-audit.log")[1])
    event["auth"]["client_token"] = VAULT_TOKEN
    return event


def scim_user() -> dict[str, Any]:
    """Okta's SCIM 2.0 create-user request, as the SCIM collector records it."""
    for request in http_requests("okta-developer-docs/reference__scim__scim-20__index.md"):
        if "password" in request["body"]:
            return request
    raise AssertionError("no SCIM body with a password in the sample")


CASES: list[tuple[str, Any, list[str], list[str]]] = [
    # format, record, secrets that must go, identifiers that must stay
    ("cloudtrail", assume_role(), [AWS_SECRET, SESSION], ["accessKeyId", "AssumeRole"]),
    ("vault", vault_response(), [VAULT_TOKEN], ["accessor", "client_token_accessor"]),
    ("scim", scim_user(), [], ["userName"]),
    (
        "entra-audit",
        {
            "activityDisplayName": "Add service principal credentials",
            "targetResources": [{"id": "sp-1", "type": "ServicePrincipal"}],
            "passwordCredentials": [{"keyId": "k-1", "secretText": "Abc8Q~Zx.Example-Secret_Text"}],
        },
        ["Abc8Q~Zx.Example-Secret_Text"],
        ["keyId", "k-1", "sp-1"],
    ),
    (
        "gcp-audit",
        {
            "protoPayload": {
                "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
                "response": {
                    "name": "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/abc",
                    "privateKeyData": "ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsCn0=",
                    "privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE",
                },
            }
        },
        ["ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsCn0="],
        ["TYPE_GOOGLE_CREDENTIALS_FILE", "keys/abc"],
    ),
    (
        "okta",
        {
            "eventType": "event_hook.delivery",
            "debugContext": {
                "debugData": {"requestHeaders": "Authorization: SSWS 00QCjAl4MlV-WPXM"}
            },
            "target": [{"displayName": "Authorization Code", "id": "SDFSFJL", "type": "code"}],
        },
        ["00QCjAl4MlV-WPXM"],
        ["Authorization Code", "SDFSFJL"],
    ),
]


@pytest.mark.parametrize(
    "format_name, record, secrets, kept", CASES, ids=[case[0] for case in CASES]
)
def test_a_dead_letter_keeps_the_record_but_not_its_secrets(
    format_name: str, record: Any, secrets: list[str], kept: list[str]
) -> None:
    original = json.dumps(record).encode()
    letter = codec_for("DeadLetter").decode_dict(
        dead_letter_bytes(
            source_topic=f"raw.{format_name}",
            value=original,
            error=f"invalid record: {original[:2000].decode()}",
            error_type="validation",
            stage=f"normalize:{format_name}",
            failed_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    )
    stored = letter["value"] + letter["error"].encode()
    for secret in secrets:
        assert secret.encode() not in stored
    if format_name == "scim":
        assert scim_user()["body"]["password"].encode() not in stored
    for identifier in kept:
        assert identifier.encode() in letter["value"]
    assert REDACTED.encode() in letter["value"]
    json.loads(letter["value"])  # still the record, readable


def test_broken_json_and_plain_text_are_redacted_too() -> None:
    broken = (
        b'{"eventName": "AssumeRole", "responseElements": {"credentials": {"accessKeyId": '
        b'"ASIAEXAMPLE", "secretAccessKey": "' + AWS_SECRET.encode() + b'", "sessionToken": '
    )
    redacted = redact_bytes(broken)
    assert AWS_SECRET.encode() not in redacted and b"ASIAEXAMPLE" in redacted
    assert VAULT_TOKEN not in redact_text(f"token {VAULT_TOKEN} was used")
    assert "hunter2" not in redact_text("password=hunter2&user=alice")
    assert "user=alice" in redact_text("password=hunter2&user=alice")


@pytest.mark.parametrize(
    "name", ["password", "secretAccessKey", "sessionToken", "client_token", "privateKeyData",
             "secretText", "Authorization", "api_key", "refresh_token", "x-amz-signature"],
)  # fmt: skip
def test_names_that_hold_secrets(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["accessKeyId", "client_token_accessor", "accessor", "secret_ref", "credential_id",
             "tokenType", "privateKeyType", "keyId", "token_ttl", "passwordChanged", "userName"],
)  # fmt: skip
def test_names_that_only_name_or_describe_a_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_bytes_without_secrets_stay_exactly_as_they_were() -> None:
    for data in (b"\xc3\x01garbage", b'{"a":  1}', b"a,b\n\xff\xfe", b""):
        assert redact_bytes(data) == data
    assert redact_bytes(b'\xff{"password": "x"') == b'\xff{"password": "[REDACTED]"'


def test_prose_about_secrets_is_not_taken_for_a_secret() -> None:
    message = "not an Avro single-object encoded SecretUsageEvent: no C3 01 marker"
    assert redact_text(message) == message
    assert redact_text("record 3: secret_ref: missing") == "record 3: secret_ref: missing"


@pytest.mark.parametrize(
    "document, secret",
    [
        ({"headers": [{"name": "X-Api-Key", "value": "zz-api-key-1"}]}, "zz-api-key-1"),
        ({"params": [{"key": "password", "value": "hunter2"}]}, "hunter2"),
        ({"headers": [["X-Api-Key", "zz-api-key-2"]]}, "zz-api-key-2"),
        ({"headers": [{"name": "Authorization", "value": "Bearer abc"}]}, "abc"),
        ({"request": "Cookie: sid=s3ss10n\\nHost: x"}, "s3ss10n"),
        ({"line": "Authorization: Digest username=bob, response=9f86d0818"}, "9f86d0818"),
        ({"conf": "password = hunter2"}, "hunter2"),
        ({"dsn": "postgres://admin:hunter2@db:5432/app"}, "hunter2"),
        ({"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig-part"}, "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
        ({"t": "ghp_abcdefghijklmnopqrstuvwxyz0123"}, "ghp_abcdefghijklmnopqrstuvwxyz0123"),
        ({"t": "xoxb-1234567890-abcdefghij"}, "xoxb-1234567890-abcdefghij"),
        ({"body": '{"password": "in-a-string"}'}, "in-a-string"),
        ({"pwd": "short1"}, "short1"),
        ({"credentials": {"accessKeyId": "AKIA1", "secret": "zz"}}, "zz"),
    ],
)  # fmt: skip
def test_secrets_a_hostile_review_found_are_redacted(document: Any, secret: str) -> None:
    redacted = redact_bytes(json.dumps(document).encode())
    assert secret.encode() not in redacted, redacted


def test_identifiers_beside_redacted_pairs_stay() -> None:
    labels = {"labels": [{"key": "env", "value": "prod"}], "credentials": {"accessKeyId": "AKIA1"}}
    assert redact_bytes(json.dumps(labels).encode()) == json.dumps(labels).encode()
