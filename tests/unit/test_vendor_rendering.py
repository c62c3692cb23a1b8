"""The simulation in the vendors' raw formats: every line normalizes back to its record.

What may differ, and why (each is what the vendor's log says):
- Vault event ids carry the normalizer's ``vault:`` prefix on the request id.
- A GCP grant or revoke of an IAM binding is a SetIamPolicy entry of one binding delta:
  its event id is the entry's ``insertId`` with the delta's index, ``#0`` (as policy
  deltas have always been numbered, one or several).
- Vault revoke-accessor names the token, not its entity: no target account.
- HR rows come from the ``hr-csv`` source.
- Actions are the vendors' own names (``GetObject`` for the simulation's ``ReadResource``).
- A grant or revoke that names no entitlement comes back with the vendor's everyday one
  (``vendors.DEFAULT_ENTITLEMENT``), judged by the default patterns.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, judged
from accessdrift.core.timeutil import MICROS
from accessdrift.normalizers import hr_csv
from accessdrift.normalizers.registry import CSV_HEADER, normalize_message, split_for_replay
from accessdrift.schemas.models import CANONICAL_INPUTS, CloudAuditEvent
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import BROKEN_RAW, raw_messages, write_raw_files
from accessdrift.simulate.vendors import (
    CANONICAL,
    FILE_OF_FORMAT,
    GRANTS,
    HR_HEADER,
    UnrenderableRecord,
    entitlement_of,
    render,
)
from tests.unit.test_simulation import to_the_end

IGNORED_FIELDS = {"action", "user_agent"}


def normalized(format_name: str, message: bytes) -> list[Any]:
    headers = {CSV_HEADER: HR_HEADER} if format_name == "hr-csv" else {}
    outcomes = normalize_message(format_name, message, headers)
    errors = [outcome.error or outcome.ignored for outcome in outcomes if outcome.records == []]
    assert not errors, (format_name, errors, message[:300])
    return [record for outcome in outcomes for record in outcome.records]


def expected_after_normalizing(
    name: str, format_name: str, fields: dict[str, Any]
) -> dict[str, Any]:
    expected = {key: value for key, value in fields.items() if key not in IGNORED_FIELDS}
    if format_name == "vault":
        expected["event_id"] = f"vault:{fields['event_id']}"
        if fields.get("kind") == "credential_revoked":
            expected["target_account_id"] = None
    if name == "DirectoryChange":
        expected["source"] = "hr-csv"
    if format_name == "gcp-audit" and "#" in (entitlement_of(fields) or ""):
        expected["event_id"] = f"{fields['event_id']}#0"
    if name == "CloudAuditEvent" and fields.get("kind") in GRANTS and not fields.get("entitlement"):
        expected["entitlement"] = entitlement_of(fields)
        expected["privileged"] = judged(expected["entitlement"], None, DEFAULT_PRIVILEGED)
    return expected


@pytest.fixture(scope="module", params=[7, 12])
def simulation_records(request: pytest.FixtureRequest) -> Any:
    options = SimulationOptions(seed=request.param, identities=150)
    return options, simulate(options)


def test_every_simulated_record_comes_back_from_its_vendor_log(simulation_records: Any) -> None:
    _, simulation = simulation_records
    seen_formats: set[str] = set()
    for _, name, fields in simulation.events:
        record = CANONICAL_INPUTS[name].model_validate(fields)
        dumped = record.model_dump()
        format_name, message = render(name, dumped)
        seen_formats.add(format_name)
        if format_name == CANONICAL:
            assert name == "IdentityLink"
            continue
        (back,) = normalized(format_name, message)
        assert type(back).__name__ == name
        got = {key: value for key, value in back.model_dump().items() if key not in IGNORED_FIELDS}
        assert got == expected_after_normalizing(name, format_name, dumped), message[:400]
    assert seen_formats == set(FILE_OF_FORMAT)


def test_detection_on_the_raw_logs_finds_exactly_the_ground_truth(simulation_records: Any) -> None:
    _, simulation = simulation_records
    engine = Engine(DetectionConfig(), allowed_lateness_us=30 * MICROS)
    index = 0
    broken = 0
    for _, format_name, message, _key in raw_messages(simulation):
        if format_name == CANONICAL:
            payload = json.loads(message)
            name = payload.pop("record")
            records = [CANONICAL_INPUTS[name].model_validate(payload)]
        else:
            headers = {CSV_HEADER: HR_HEADER} if format_name == "hr-csv" else {}
            outcomes = normalize_message(format_name, message, headers)
            if any(outcome.error is not None for outcome in outcomes):
                broken += 1
                continue
            records = [record for outcome in outcomes for record in outcome.records]
        for record in records:
            engine.feed(type(record).__name__, record.model_dump(), index)
            index += 1
    # The watermark goes as far as a live run's: the end of the days.
    engine.tick(
        to_the_end(
            index, simulation.end, max(fields["event_time"] for _, _, fields in simulation.events)
        )
    )
    assert broken == len(simulation.malformed)
    truth = json.loads(
        json.dumps({"alerts": simulation.alerts, "lags": simulation.lags}, default=str)
    )
    score = evaluate(
        truth, list(engine.findings.alerts.values()), list(engine.findings.lags.values()), 0
    )
    assert score.perfect, score.as_dict()


@pytest.mark.parametrize("format_name, message", BROKEN_RAW)
def test_broken_vendor_lines_are_dead_lettered_with_a_reason(
    format_name: str, message: bytes
) -> None:
    headers = {CSV_HEADER: HR_HEADER} if format_name == "hr-csv" else {}
    (outcome,) = normalize_message(format_name, message, headers)
    assert outcome.error is not None and str(outcome.error)


def test_the_files_replay_line_for_line(tmp_path: Path) -> None:
    simulation = simulate(SimulationOptions(seed=3, identities=40, days=1.0))
    counts = write_raw_files(simulation, tmp_path)
    assert sum(counts.values()) == len(simulation.events) + len(simulation.malformed)
    for format_name, count in counts.items():
        data = (tmp_path / FILE_OF_FORMAT[format_name]).read_bytes()
        if format_name == "hr-csv":
            header, rows = hr_csv.rows_of(data)
            assert header == HR_HEADER and len(rows) == count
        elif format_name == CANONICAL:
            assert len(data.splitlines()) == count
        else:
            assert len(split_for_replay(format_name, data)) == count


def grant(system: str, target: str, entitlement: str | None, **fields: Any) -> dict[str, Any]:
    actor = {
        "aws": ("aws:111122223333:user/provisioner", "aws:AKIAPROVISIONER0001"),
        "gcp": ("gcp:provisioner@corp.iam.gserviceaccount.com", "gcp:key/provisioner"),
        "okta": ("okta:00uadmin", None),
        "entra": ("entra:admin-app", None),
        "vault": ("vault:entity/admin", "vault:accessor/admin"),
    }[system]
    record: dict[str, Any] = {
        "event_id": "ce-000042",
        "event_time": "2026-03-02T10:00:00.123456+00:00",
        "system": system,
        "account_id": actor[0],
        "credential_id": actor[1],
        "action": "permission_granted",
        "kind": "permission_granted",
        "target_account_id": target,
        "outcome": "success",
        "source_ip": "198.51.100.9",
        "entitlement": entitlement,
        "privileged": None,
        **fields,
    }
    if entitlement is not None and record["privileged"] is None:
        record["privileged"] = judged(entitlement, None, DEFAULT_PRIVILEGED)
    return CloudAuditEvent.model_validate(record).model_dump()


AWS_USER = "aws:111122223333:user/bob"
GCP_USER = "gcp:bob@corp.example"
GCP_SA = "gcp:etl@corp.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    "system, target, entitlement",
    [
        ("aws", AWS_USER, "aws:policy/AdministratorAccess"),
        ("aws", AWS_USER, "aws:policy/ReadOnlyAccess"),
        ("aws", AWS_USER, "aws:111122223333:policy/deploy-app"),
        ("aws", AWS_USER, "aws:group/developers"),
        ("aws", AWS_USER, "aws:inline/s3-reports"),
        ("aws", "aws:111122223333:role/ci", "aws:policy/IAMFullAccess"),
        ("gcp", GCP_USER, "gcp:projects/corp-prod#roles/viewer"),
        ("gcp", GCP_USER, "gcp:projects/corp-prod#roles/owner"),
        ("gcp", GCP_SA, "gcp:projects/corp-dev#roles/storage.objectViewer"),
        ("gcp", GCP_USER, "gcp:organizations/123#roles/resourcemanager.organizationAdmin"),
        ("gcp", GCP_USER, "gcp:group/admins@corp.example"),
        ("gcp", GCP_USER, "gcp:admin/_SEED_ADMIN_ROLE"),
        ("okta", "okta:00ubob", "okta:group/00g2eng7devs3x1q0h7"),
        ("okta", "okta:00ubob", "okta:app/0oa5slack9m2x0h7q1d8"),
        ("okta", "okta:00ubob", "okta:admin/SUPER_ADMIN"),
        ("okta", "okta:00ubob", "okta:admin/REPORT_ADMIN"),
        ("entra", "entra:bob", "entra:role/62e90394-69f5-4237-9190-012177145e10"),
        ("entra", "entra:bob", "entra:group/5f2c1d7e-8a3b-4c9d-9e0f-1a2b3c4d5e6f"),
        ("entra", "entra:bob", "entra:app/00000003-0000-0000-c000-000000000000#role-1"),
        ("vault", "vault:entity/bob", "vault:policy/root"),
        ("vault", "vault:entity/bob", "vault:policy/app-read"),
    ],
)
@pytest.mark.parametrize("kind", GRANTS)
def test_each_entitlement_comes_back_from_its_vendor_line(
    system: str, target: str, entitlement: str, kind: str
) -> None:
    fields = grant(system, target, entitlement, kind=kind, action=kind)
    if system == "vault" and kind == "permission_revoked":
        with pytest.raises(UnrenderableRecord, match="not what was taken away"):
            render("CloudAuditEvent", fields)
        return
    format_name, message = render("CloudAuditEvent", fields)
    (back,) = normalized(format_name, message)
    assert (back.kind, back.target_account_id, back.entitlement, back.privileged) == (
        kind,
        target,
        entitlement,
        fields["privileged"],
    ), message[:600]
    got = {key: value for key, value in back.model_dump().items() if key not in IGNORED_FIELDS}
    assert got == expected_after_normalizing("CloudAuditEvent", format_name, fields)


def test_an_inline_policy_the_simulation_calls_privileged_is_rendered_allowing_everything() -> None:
    fields = grant("aws", AWS_USER, "aws:inline/break-glass", privileged=True)
    format_name, message = render("CloudAuditEvent", fields)
    (back,) = normalized(format_name, message)
    assert (back.entitlement, back.privileged) == ("aws:inline/break-glass", True)


def test_a_failed_grant_comes_back_failed_with_its_entitlement() -> None:
    for system, target, entitlement in (
        ("aws", AWS_USER, "aws:group/admins"),
        ("gcp", GCP_USER, "gcp:projects/corp-prod#roles/owner"),
        ("okta", "okta:00ubob", "okta:admin/SUPER_ADMIN"),
        ("entra", "entra:bob", "entra:group/g-1"),
        ("vault", "vault:entity/bob", "vault:policy/root"),
    ):
        fields = grant(system, target, entitlement, outcome="failure")
        (back,) = normalized(*render("CloudAuditEvent", fields))
        assert (back.outcome, back.entitlement) == ("failure", entitlement), system


@pytest.mark.parametrize(
    "system, target, entitlement",
    [
        ("aws", AWS_USER, "aws:trust/ci"),
        ("aws", AWS_USER, "gcp:projects/p#roles/owner"),
        ("okta", "okta:00ubob", "okta:unknown/x"),
        ("entra", "entra:bob", "entra:app/no-role"),
        ("vault", "vault:entity/bob", "vault:group/ops"),
    ],
)
def test_an_entitlement_the_vendor_cannot_grant_that_account_is_a_bug_said_aloud(
    system: str, target: str, entitlement: str
) -> None:
    with pytest.raises(UnrenderableRecord):
        render("CloudAuditEvent", grant(system, target, entitlement))
