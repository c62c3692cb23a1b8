"""A simulated organisation in an embedded ClickHouse, without a broker.

The detection core runs in process (accessdrift.core.engine, the same functions
the Faust agents run) and its findings, with the organisation's events, go into
the tables through the sink's own row building: what the worker would have
written. The analyst views, docs/queries.md, the Grafana panels, the dashboard
and the evidence are tested against it, with the simulator's ground truth beside.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from accessdrift.canonical import parse_line, record_key
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.timeutil import MICROS
from accessdrift.errors import RecordError
from accessdrift.simulate.organisation import Simulation, SimulationOptions, simulate
from accessdrift.simulate.output import lines
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import migrate
from accessdrift.sinks.rows import ALL_TABLES, EVENT_TABLES, to_columns
from tests.unit.test_simulation import to_the_end

DEMO_OPTIONS = SimulationOptions(seed=7, identities=60, days=3)


def _micros(delta: timedelta) -> int:
    return int(delta.total_seconds() * MICROS)


@dataclass
class OrgDatabase:
    clickhouse: ClickHouse
    simulation: Simulation
    options: SimulationOptions
    engine: Engine


def build(path: Path, options: SimulationOptions = DEMO_OPTIONS) -> OrgDatabase:
    simulation = simulate(options)
    records: list[tuple[str, dict[str, Any]]] = []
    for _, _kind, line in lines(simulation):
        try:
            parsed = parse_line(line or b"").record
        except RecordError:
            continue
        record_key(parsed)
        records.append((type(parsed).__name__, parsed.model_dump()))
    # The detector judges by the simulated organisation's own SLAs, grace and lookback.
    config = DetectionConfig(
        grace_us=_micros(options.grace),
        lookback_us=_micros(options.lookback),
        deprovision_sla_us=_micros(options.sla),
        mover_sla_us=_micros(options.mover_sla),
    )
    engine = Engine(config, allowed_lateness_us=30 * MICROS)
    for index, (name, fields) in enumerate(records):
        engine.feed(name, fields, index)
    # The watermark goes as far as a live run's: the end of the simulated days.
    latest = max(fields["event_time"] for _, _, fields in simulation.events)
    engine.tick(to_the_end(len(records), simulation.end, latest))
    clickhouse = ClickHouse(f"chdb://{path}", "accessdrift")
    migrate(clickhouse)
    by_record: dict[str, list[dict[str, Any]]] = {}
    for name, fields in records:
        by_record.setdefault(name, []).append(fields)
    findings = engine.findings
    by_record["ProvisioningLag"] = list(findings.lags.values())
    by_record["Alert"] = list(findings.alerts.values())
    by_record["DeprovisionPair"] = list(findings.pairs.values())
    by_record["Ownership"] = list(findings.ownership.values())
    by_record["AccessInterval"] = list(findings.ledger.values())
    for name, rows in by_record.items():
        spec = ALL_TABLES[name]
        clickhouse.insert(spec.table, to_columns(spec, rows), f"org:{spec.table}")
    assert set(EVENT_TABLES) <= set(by_record)
    return OrgDatabase(clickhouse, simulation, options, engine)
