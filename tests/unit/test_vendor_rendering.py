"""The simulation in the vendors' raw formats: every line normalizes back to its record.

What may differ, and why (each is what the vendor's log says):
- Vault event ids carry the normalizer's ``vault:`` prefix on the request id.
- Vault revoke-accessor names the token, not its entity: no target account.
- HR rows come from the ``hr-csv`` source.
- Actions are the vendors' own names (``GetObject`` for the simulation's ``ReadResource``).
"""

import json
from pathlib import Path
from typing import Any

import pytest

from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS
from accessdrift.normalizers import hr_csv
from accessdrift.normalizers.registry import CSV_HEADER, normalize_message, split_for_replay
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import BROKEN_RAW, raw_messages, write_raw_files
from accessdrift.simulate.vendors import CANONICAL, FILE_OF_FORMAT, HR_HEADER, render
from schemas.models import CANONICAL_INPUTS

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
    engine.tick(index + 10**13)
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
