"""The simulated organisation: deterministic, and its ground truth is what the core finds."""

import json
from typing import Any

import pytest

from accessdrift.canonical import parse_line, record_key
from accessdrift.commands.evaluate import evaluate
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS, to_micros
from accessdrift.errors import RecordError
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import lines

OPTIONS = SimulationOptions(seed=5, identities=150, days=2.0, events_per_second=0.05)


def keyed_records(options: SimulationOptions) -> list[tuple[str, str, dict[str, Any]]]:
    """(record name, the contract's message key, fields) of each valid simulated line."""
    out = []
    for _, _kind, line in lines(simulate(options)):
        try:
            record = parse_line(line or b"").record
        except RecordError:
            continue
        out.append((type(record).__name__, record_key(record), record.model_dump()))
    return out


def records(options: SimulationOptions) -> list[tuple[str, dict[str, Any]]]:
    return [(name, fields) for name, _key, fields in keyed_records(options)]


def run(events: list[tuple[str, dict[str, object]]], real_pace: bool) -> Engine:
    """Real pace: the wall clock follows the arrival of each event. Full speed: it barely moves."""
    engine = Engine(DetectionConfig(), allowed_lateness_us=30 * MICROS)
    wall = 0
    for index, (name, record) in enumerate(events):
        wall = to_micros(record["event_time"]) if real_pace else index  # type: ignore[arg-type]
        engine.feed(name, record, wall)
    engine.tick(wall + 10**13)
    return engine


def test_the_same_seed_gives_the_same_stream_and_truth() -> None:
    first, second = simulate(OPTIONS), simulate(OPTIONS)
    assert [line for _, _, line in lines(first)] == [line for _, _, line in lines(second)]
    assert first.alerts == second.alerts and first.lags == second.lags
    other = simulate(SimulationOptions(seed=6, identities=150, days=2.0, events_per_second=0.05))
    assert other.alerts != first.alerts


def test_the_stream_has_every_ingredient() -> None:
    simulation = simulate(OPTIONS)
    kinds = {alert["kind"] for alert in simulation.alerts}
    assert kinds >= {
        "used_after_deprovision",
        "attempted_after_deprovision",
        "used_after_revocation",
        "deprovision_overdue",
    }
    assert {lag["status"] for lag in simulation.lags} >= {"closed", "overdue"}
    assert simulation.malformed, "a share of malformed records"
    ids = [fields.get("event_id") for _, _, fields in simulation.events if fields.get("event_id")]
    assert len(ids) > len(set(ids)), "duplicates"
    late = [
        arrival
        for arrival, name, fields in simulation.events
        if name == "DirectoryChange" and arrival > fields["event_time"]
    ]
    assert late, "late directory changes"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_speed_replay_finds_exactly_the_ground_truth_and_the_same_as_real_pace(
    seed: int,
) -> None:
    options = SimulationOptions(seed=seed, identities=150, days=2.0, events_per_second=0.05)
    simulation = simulate(options)
    events = records(options)
    fast = run(events, real_pace=False)
    live = run(events, real_pace=True)
    assert fast.findings.comparable() == live.findings.comparable()
    truth = json.loads(
        json.dumps({"alerts": simulation.alerts, "lags": simulation.lags}, default=str)
    )
    score = evaluate(
        truth, list(fast.findings.alerts.values()), list(fast.findings.lags.values()), 0
    )
    assert score.perfect, score.as_dict()
