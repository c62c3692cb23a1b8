"""No secret in a canonical record: per format, on real published records with a secret put
where vendors let one through (a user agent, a request path, an HR or SCIM attribute),
while every identifier detection joins on stays exactly as it was (issue 23, item 2)."""

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accessdrift.canonical import parse_line
from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS
from accessdrift.normalizers import scim
from accessdrift.normalizers import scrub as scrub_module
from accessdrift.normalizers.registry import CSV_HEADER, normalize_message
from accessdrift.normalizers.scrub import ID_SHAPED, scrub
from accessdrift.redact import redact_value
from accessdrift.schemas.codec import encode
from accessdrift.schemas.models import CANONICAL_INPUTS, CloudAuditEvent, Record, SecretUsageEvent
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import raw_messages
from accessdrift.simulate.vendors import CANONICAL, HR_HEADER
from tests.unit.samples import http_requests, lines, panther, whole
from tests.unit.test_simulation import to_the_end

VAULT_TOKEN = "hvs.CAESIJlWh2ExampleVaultServiceToken0123456789abcdef"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjaS1ib3QiLCJhdWQiOiJhcGkifQ."
    "c2lnbmF0dXJlLW9mLWEtcmVhbC1sb29raW5nLXRva2Vu"
)
OKTA_API_TOKEN = "00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BEARER = f"python-requests/2.31 Authorization: Bearer {JWT}"
SECRETS = (VAULT_TOKEN, JWT, OKTA_API_TOKEN)


def records_of(format_name: str, message: bytes, headers: dict[str, bytes] | None = None) -> Any:
    outcomes = normalize_message(format_name, message, headers)
    assert all(outcome.error is None for outcome in outcomes), [o.error for o in outcomes]
    return [record for outcome in outcomes for record in outcome.records]


def assert_no_secret(records: list[Record]) -> None:
    assert records, "the record was normalized"
    for record in records:
        encoded = encode(record)
        dumped = record.model_dump_json()
        for secret in SECRETS:
            # The whole secret, and any long piece of it (a token cut in two is still a token).
            for piece in (secret, secret[-16:], secret[:16]):
                assert piece.encode() not in encoded, (piece, record)
                assert piece not in dumped, (piece, record)


def same_except(clean: list[Record], dirty: list[Record], *free_text: str) -> None:
    """Every field but the free text the secret went into is exactly as without it."""
    assert [type(record) for record in clean] == [type(record) for record in dirty]
    for before, after in zip(clean, dirty, strict=True):
        keep = before.model_dump(exclude=set(free_text))
        assert after.model_dump(exclude=set(free_text)) == keep


def json_case(
    format_name: str, document: dict[str, Any], put: Callable[[dict[str, Any]], None]
) -> tuple[list[Any], list[Any]]:
    clean = records_of(format_name, json.dumps(document).encode())
    dirty_document = json.loads(json.dumps(document))
    put(dirty_document)
    dirty = records_of(format_name, json.dumps(dirty_document).encode())
    return clean, dirty


def first_panther(name: str, matches: Callable[[dict[str, Any]], bool], format_name: str) -> Any:
    for message in panther(name):
        document = json.loads(message)
        if not matches(document):
            continue
        outcomes = normalize_message(format_name, message)
        if all(outcome.error is None and outcome.records for outcome in outcomes):
            return document
    raise AssertionError(f"no such record in {name}")


def test_cloudtrail_user_agent_with_a_bearer_token() -> None:
    document = json.loads(whole("elastic-beats/delete-access-key-json.log"))

    def put(record: dict[str, Any]) -> None:
        record["userAgent"] = BEARER

    clean, dirty = json_case("cloudtrail", document, put)
    assert_no_secret(dirty)
    same_except(clean, dirty, "user_agent")
    assert dirty[0].user_agent.startswith("python-requests/2.31 Authorization: ")
    assert dirty[0].target_credential_id == f"aws:{document['requestParameters']['accessKeyId']}"


def test_cloudtrail_secrets_manager_read_of_a_secret_named_with_a_token() -> None:
    document = json.loads(
        whole(
            "zmallen-cloudtrail2sightings/aws.credential-access.secretsmanager-retrieve-secrets.json"
        )
    )["Records"][0]

    def put(record: dict[str, Any]) -> None:
        record["requestParameters"]["secretId"] = f"ci/deploy?token={VAULT_TOKEN}"

    clean, dirty = json_case("cloudtrail", document, put)
    assert isinstance(dirty[0], SecretUsageEvent)
    assert_no_secret(dirty)
    same_except(clean, dirty, "secret_ref")


def test_gcp_caller_supplied_user_agent() -> None:
    document = json.loads(
        lines("elastic-integrations/gcp_audit__test-iamcredentials-googleapis-com.log")[0]
    )

    def put(record: dict[str, Any]) -> None:
        record["protoPayload"]["requestMetadata"]["callerSuppliedUserAgent"] = (
            f"google-api-go-client/0.5 Authorization: Bearer {JWT},gzip(gfe)"
        )

    clean, dirty = json_case("gcp-audit", document, put)
    assert_no_secret(dirty)
    same_except(clean, dirty, "user_agent")


def test_entra_audit_user_agent() -> None:
    document = json.loads(lines("otrf-security-datasets/AADAuditEvents.json")[0])

    def put(record: dict[str, Any]) -> None:
        (record.get("properties") or record)["userAgent"] = BEARER

    clean, dirty = json_case("entra-audit", document, put)
    assert_no_secret(dirty)
    same_except(clean, dirty, "user_agent")
    assert dirty[0].target_credential_id == "entra:key/59eaeebc-8a6b-44a6-9f24-7d55e64420c9"


def test_okta_raw_user_agent_with_an_ssws_token() -> None:
    document = first_panther(
        "okta-systemlog.jsonl",
        lambda event: bool((event.get("client") or {}).get("userAgent")),
        "okta",
    )
    document.setdefault("uuid", "f5a8e3b0-2c1d-11ef-9f0b-0242ac120002")  # Panther's lack one

    def put(record: dict[str, Any]) -> None:
        record["client"]["userAgent"]["rawUserAgent"] = f"okta-sdk-java/8.2 SSWS {OKTA_API_TOKEN}"

    clean, dirty = json_case("okta", document, put)
    assert_no_secret(dirty)
    same_except(clean, dirty, "user_agent")


def vault_response() -> dict[str, Any]:
    """Elastic's Vault audit response line (HMAC-ed accessor, a real entity)."""
    return dict(json.loads(lines("elastic-integrations/hashicorp_vault__test-audit.log")[1]))


@pytest.mark.parametrize(
    "path",
    [
        f"auth/token/lookup/{VAULT_TOKEN}",  # the issue's own reproduction
        f"auth/token/revoke/{VAULT_TOKEN}",  # revoke by token in the path: no accessor named
        f"sys/wrapping/unwrap/{VAULT_TOKEN}",
    ],
)
def test_vault_token_in_a_request_path(path: str) -> None:
    def put(record: dict[str, Any]) -> None:
        record["request"]["path"] = path

    document = vault_response()
    document["request"]["path"] = path.replace(VAULT_TOKEN, "placeholder")
    clean, dirty = json_case("vault", document, put)
    assert isinstance(dirty[0], SecretUsageEvent)
    assert_no_secret(dirty)
    same_except(clean, dirty, "secret_ref")
    assert dirty[0].credential_id == clean[0].credential_id
    assert dirty[0].credential_id.startswith("vault:accessor/hmac-sha256:")


def test_vault_login_path_with_a_token_is_clean_in_the_action() -> None:
    def put(record: dict[str, Any]) -> None:
        record["request"]["path"] = f"auth/approle/login/{VAULT_TOKEN}"

    document = vault_response()
    document["request"]["path"] = "auth/approle/login/placeholder"
    document["response"] = {"auth": {"accessor": "hmac-sha256:issued", "entity_id": "ent-1"}}
    clean, dirty = json_case("vault", document, put)
    assert isinstance(dirty[0], CloudAuditEvent) and dirty[0].kind == "credential_created"
    assert_no_secret(dirty)
    same_except(clean, dirty, "action")
    assert dirty[0].action.startswith("update auth/approle/login/")


def test_an_identifier_that_holds_a_token_is_hashed_the_same_wherever_it_is() -> None:
    """A Vault entity named by a token (a write to identity/entity/name/<token>): its id is
    the join key of every record about that entity, so it is replaced by a digest of
    itself, the same in each record, never by one shared placeholder."""
    document = vault_response()
    document["request"]["path"] = f"identity/entity/name/{VAULT_TOKEN}"
    document["request"]["operation"] = "delete"
    (deleted,) = records_of("vault", json.dumps(document).encode())
    document["request"]["operation"] = "create"
    document["request"]["id"] = "another-request"
    (created,) = records_of("vault", json.dumps(document).encode())
    assert_no_secret([deleted, created])
    assert deleted.kind == "account_deleted" and created.kind == "account_created"
    assert deleted.target_account_id == created.target_account_id
    assert deleted.target_account_id.startswith("vault:")
    other = vault_response()
    other["request"]["path"] = f"identity/entity/name/{VAULT_TOKEN[:-1]}X"
    other["request"]["operation"] = "delete"
    (elsewhere,) = records_of("vault", json.dumps(other).encode())
    assert elsewhere.target_account_id != deleted.target_account_id, "no two ids made one"
    assert scrub(deleted) == deleted, "scrubbing twice changes nothing"


def test_scim_attributes_of_a_real_create_user_request() -> None:
    request = next(
        r
        for r in http_requests("okta-developer-docs/reference__scim__scim-20__index.md")
        if r["method"] == "POST" and r["path"].endswith("/Users")
    )
    request["id"] = "req-0001"  # the collector's id of the request
    clean = scim.normalize(request).records
    request = json.loads(json.dumps(request))
    request["body"]["title"] = f"SRE (on call key api_key={OKTA_API_TOKEN})"
    request["body"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = {
        "department": f"Platform Bearer {JWT}"
    }
    message = json.dumps(request).encode()
    dirty = records_of("scim", message)
    assert_no_secret(dirty)
    same_except(list(clean), dirty, "attributes")
    assert dirty[0].attributes is not None
    assert dirty[0].attributes["title"].startswith("SRE (on call key api_key=")
    assert dirty[0].attributes["department"].startswith("Platform ")


def test_hr_csv_title_with_a_token() -> None:
    data = (whole("../raw/hr-export.csv")).decode()
    header, first_row = data.splitlines()[:2]
    row = next(csv.DictReader(io.StringIO(f"{header}\n{first_row}\n")))
    row["title"] = f"engineer; password={OKTA_API_TOKEN}"
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=header.split(","), lineterminator="").writerow(row)
    headers = {CSV_HEADER: header.encode()}
    clean = records_of("hr-csv", first_row.encode(), headers)
    dirty = records_of("hr-csv", out.getvalue().encode(), headers)
    assert_no_secret(dirty)
    same_except(clean, dirty, "attributes", "event_id")  # no record_id: the id hashes the row
    assert dirty[0].attributes["title"].startswith("engineer; password=")
    assert dirty[0].attributes["department"] == clean[0].attributes["department"]


def test_a_canonical_record_replayed_is_scrubbed_too() -> None:
    """`accessdrift replay --format canonical` reads lines with parse_line: what it
    produces (record and key) has passed the same scrub."""
    line = json.dumps(
        {
            "record": "CloudAuditEvent",
            "event_id": "e-1",
            "event_time": "2026-03-02T10:00:00Z",
            "system": "aws",
            "account_id": "aws:111122223333:user/alice",
            "credential_id": "aws:AKIAEXAMPLE",
            "action": f"GetObject token={OKTA_API_TOKEN}",
            "kind": "usage",
            "outcome": "success",
            "user_agent": BEARER,
        }
    ).encode()
    routed = parse_line(line)
    assert_no_secret([routed.record])
    assert routed.key == "aws:AKIAEXAMPLE"
    secret_line = json.dumps(
        {
            "record": "SecretUsageEvent",
            "event_id": "v-1",
            "event_time": "2026-03-02T10:00:00Z",
            "store": "vault",
            "credential_id": "vault:accessor/abc",
            "secret_ref": f"auth/token/lookup/{VAULT_TOKEN}",
            "operation": "read",
            "outcome": "success",
        }
    ).encode()
    assert_no_secret([parse_line(secret_line).record])


def test_an_event_id_that_holds_a_secret_is_a_digest_of_itself() -> None:
    line = {
        "record": "SecretUsageEvent",
        "event_id": f"collector-{VAULT_TOKEN}",
        "event_time": "2026-03-02T10:00:00Z",
        "store": "vault",
        "credential_id": "vault:accessor/abc",
        "operation": "read",
        "outcome": "success",
    }
    first: Any = parse_line(json.dumps(line).encode()).record
    again: Any = parse_line(json.dumps(line).encode()).record
    assert_no_secret([first])
    assert first.event_id == again.event_id, "the dedup key stays a dedup key"
    assert first.event_id.startswith("redacted:")


@settings(max_examples=500, deadline=None)
@given(st.from_regex(ID_SHAPED, fullmatch=True))
def test_what_the_event_ids_fast_path_skips_holds_no_secret_redact_knows(value: str) -> None:
    """Event ids in the shape vendors write are not scanned: only as long as no secret
    shape of redact.py fits in one. A new shape that does fails here first."""
    assert redact_value(value) == value


@pytest.mark.parametrize(
    "event_id",
    [
        "3038ebd2-c98a-4c65-9b6e-e22506292313",  # CloudTrail eventID
        "15djrryd6bap",  # GCP insertId
        "-8x6ouse1bqa0",
        "vault:cd09708b-11cc-2985-648b-cfe262cf7e50",
        "okta:1de966eee0d60fdecc7af8917c623088",  # stable_id
        "entra-provisioning:305d11f780631a0430cee89ae80338db#2",
        "90c1ff9c-7b37-4ed3-b6a5-5a2f5e4a1f36#0.17",
    ],
)
def test_real_event_ids_take_the_fast_path(event_id: str) -> None:
    assert ID_SHAPED.fullmatch(event_id)


def test_each_distinct_value_is_redacted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's ~15,000 events/s repeat a few user agents, actions and principals:
    redaction runs once per distinct value, not once per field of every event."""
    calls: list[str] = []
    redact = scrub_module._redacted

    def counting(value: str) -> str:
        calls.append(value)
        return redact(value)

    (template,) = records_of("cloudtrail", whole("elastic-beats/delete-access-key-json.log"))
    monkeypatch.setattr(scrub_module, "_redacted", counting)
    monkeypatch.setattr(scrub_module, "_clean", set())  # nothing remembered yet
    monkeypatch.setattr(scrub_module, "_free_text", {})
    monkeypatch.setattr(scrub_module, "_identifiers", {})
    records = [
        template.model_copy(
            update={
                "event_id": f"0000{index:04x}-0000-4000-8000-000000000000",
                "user_agent": ("aws-cli/2.13", BEARER)[index % 2],
            }
        )
        for index in range(1000)
    ]
    scrubbed = [scrub(record) for record in records]
    assert_no_secret(scrubbed)
    distinct = {
        value
        for record in records
        for value in (
            record.action,
            record.user_agent,
            record.source_ip,
            record.system,
            record.account_id,
            record.credential_id,
            record.target_account_id,
            record.target_credential_id,
        )
        if value is not None
    }
    assert len(calls) == len(distinct) <= 10, calls


# -- the simulated organisation, its raw logs carrying secrets ---------------------------------


def with_secret(format_name: str, message: bytes) -> bytes:
    """The same vendor record with a secret where that vendor lets free text through."""
    if format_name == "hr-csv":
        row = next(csv.DictReader(io.StringIO(f"{HR_HEADER.decode()}\n{message.decode()}\n")))
        row["department"] = f"{row['department']} Bearer {JWT}"
        out = io.StringIO()
        csv.DictWriter(out, fieldnames=list(row), lineterminator="").writerow(row)
        return out.getvalue().encode()
    document = json.loads(message)
    if format_name == "cloudtrail":
        document["userAgent"] = BEARER
    elif format_name == "gcp-audit":
        metadata = document["protoPayload"].setdefault("requestMetadata", {})
        metadata["callerSuppliedUserAgent"] = f"gcloud/450 Bearer {JWT}"
    elif format_name == "okta":
        document.setdefault("client", {}).setdefault("userAgent", {})["rawUserAgent"] = (
            f"okta-sdk/8 SSWS {OKTA_API_TOKEN}"
        )
    elif format_name == "entra-audit":
        (document.get("properties") or document)["userAgent"] = BEARER
    elif format_name == "vault":
        path = document["request"]["path"]
        if "/login" not in path and not path.startswith(("auth/token/revoke", "identity/")):
            document["request"]["path"] = f"{path}/{VAULT_TOKEN}"
    return json.dumps(document).encode()


def test_detection_on_raw_logs_full_of_secrets_is_exact_and_carries_none() -> None:
    simulation = simulate(SimulationOptions(seed=7, identities=150))
    engine = Engine(DetectionConfig(), allowed_lateness_us=30 * MICROS)
    index = 0
    broken = 0
    secret_messages = 0
    for _, format_name, message, _key in raw_messages(simulation):
        if format_name == CANONICAL:
            payload = json.loads(message)
            name = payload.pop("record")
            records = [CANONICAL_INPUTS[name].model_validate(payload)]
        else:
            headers = {CSV_HEADER: HR_HEADER} if format_name == "hr-csv" else {}
            try:
                dirty = with_secret(format_name, message)
            except (ValueError, KeyError, StopIteration):
                dirty = message  # the simulation's malformed records stay as they are
            secret_messages += dirty != message
            outcomes = normalize_message(format_name, dirty, headers)
            if any(outcome.error is not None for outcome in outcomes):
                broken += 1
                continue
            records = [record for outcome in outcomes for record in outcome.records]
            assert_no_secret(records)
        for record in records:
            engine.feed(type(record).__name__, record.model_dump(), index)
            index += 1
    # The watermark goes as far as a live run's: the end of the days.
    engine.tick(
        to_the_end(
            index, simulation.end, max(fields["event_time"] for _, _, fields in simulation.events)
        )
    )
    assert secret_messages > 1000
    assert broken == len(simulation.malformed)
    truth = json.loads(
        json.dumps({"alerts": simulation.alerts, "lags": simulation.lags}, default=str)
    )
    alerts = list(engine.findings.alerts.values())
    score = evaluate(truth, alerts, list(engine.findings.lags.values()), 0)
    assert score.perfect, score.as_dict()
    findings = json.dumps([alerts, list(engine.findings.lags.values())], default=str)
    for secret in SECRETS:
        assert secret not in findings, "no secret in an alert or its evidence"
