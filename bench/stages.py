"""Per-stage costs in one process: where the time of one event goes."""

import tempfile
import time
from typing import Any

from accessdrift.canonical import parse_line
from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.resolver import Resolver
from accessdrift.core.routing import route_record
from accessdrift.errors import RecordError
from accessdrift.schemas.codec import codec_for, encode
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import lines
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import migrate
from accessdrift.sinks.rows import EVENT_TABLES, to_columns


def stage_costs(options: SimulationOptions) -> dict[str, Any]:
    simulation = simulate(options)
    encoded = []
    for _, _kind, line in lines(simulation):
        try:
            record = parse_line(line or b"").record
        except RecordError:
            continue
        encoded.append((type(record).__name__, encode(record)))
    totals = {"decode": 0.0, "resolve": 0.0, "detect": 0.0, "sink_rows": 0.0}
    store: dict[str, Any] = {}
    resolver = Resolver(store)
    states: dict[str, Any] = {}
    config = DetectionConfig()
    decoded = []
    clock = time.perf_counter
    for name, value in encoded:
        started = clock()
        fields = codec_for(name).decode_dict(value)
        totals["decode"] += clock() - started
        decoded.append((name, fields))
    by_table: dict[str, list[Any]] = {}
    for name, fields in decoded:
        started = clock()
        outbound = route_record(resolver, name, fields)
        totals["resolve"] += clock() - started
        started = clock()
        for item in outbound:
            states[item.identity_id], _ = identity.handle(
                item.identity_id, states.get(item.identity_id), item.message, 0, 0, config
            )
        totals["detect"] += clock() - started
        by_table.setdefault(name, []).append(fields)
    rows = {}
    started = clock()
    for name, records in by_table.items():
        rows[name] = to_columns(EVENT_TABLES[name], records)
    totals["sink_rows"] = clock() - started
    # The insert itself, into an embedded ClickHouse of this process, in 2,000-row batches.
    with tempfile.TemporaryDirectory() as folder:
        clickhouse = ClickHouse(f"chdb://{folder}", "bench")
        migrate(clickhouse)
        started = clock()
        for name, table_rows in rows.items():
            spec = EVENT_TABLES[name]
            for offset in range(0, len(table_rows), 2000):
                batch = table_rows.slice(offset, offset + 2000)
                clickhouse.insert(spec.table, batch, f"bench-{name}-{offset}")
        totals["sink_insert"] = clock() - started
        clickhouse.close()
    count = len(decoded)
    return {
        "events": count,
        "microseconds_per_event": {
            stage: round(seconds / count * 1e6, 2) for stage, seconds in totals.items()
        },
        "core_events_per_second": round(count / sum(totals.values()), 1),
    }
