"""Writing a simulation: canonical JSON lines or the vendors' raw logs, to files or Kafka."""

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from accessdrift import catalog
from accessdrift.canonical import record_key
from accessdrift.kafka.admin import ensure_topics
from accessdrift.kafka.producer import CheckedProducer
from accessdrift.normalizers.registry import CSV_HEADER
from accessdrift.schemas.codec import encode
from accessdrift.schemas.models import CANONICAL_INPUTS
from accessdrift.settings import Settings
from accessdrift.simulate.organisation import START, Simulation, SimulationOptions
from accessdrift.simulate.vendors import CANONICAL, FILE_OF_FORMAT, HR_HEADER, render


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def arrivals(simulation: Simulation) -> Iterator[tuple[datetime, str, dict[str, Any] | str]]:
    """(arrival time, record name or "malformed", fields or the malformed line), in
    arrival order: malformed lines fall between the records they arrive among."""
    malformed = sorted(simulation.malformed)
    position = 0
    for arrival, name, fields in simulation.ordered():
        while position < len(malformed) and malformed[position][0] <= arrival:
            yield malformed[position][0], "malformed", malformed[position][1]
            position += 1
        yield arrival, name, fields
    for when, line in malformed[position:]:
        yield when, "malformed", line


def lines(simulation: Simulation) -> Iterator[tuple[datetime, str, bytes | None]]:
    """(arrival time, record name or "malformed", canonical JSON line) in arrival order."""
    for arrival, name, item in arrivals(simulation):
        if isinstance(item, str):
            yield arrival, name, item.encode()
        else:
            yield (
                arrival,
                name,
                json.dumps({"record": name, **item}, default=_json_default).encode(),
            )


def write_truth(simulation: Simulation, options: SimulationOptions, path: Path) -> None:
    truth = {
        "options": {key: str(value) for key, value in asdict(options).items()},
        "events": len(simulation.events),
        "malformed": len(simulation.malformed),
        "start": simulation.ordered()[0][0].isoformat() if simulation.events else None,
        "end": simulation.end.isoformat(),
        "lags": simulation.lags,
        "alerts": simulation.alerts,
        # What each identity held at each of its directory changes (the access ledger's
        # rules): compare with `SELECT * FROM access_at(at = ...)` or `accessdrift access`.
        "ledger": simulation.ledger,
    }
    path.write_text(json.dumps(truth, indent=1, default=_json_default))


def write_file(simulation: Simulation, output: IO[bytes]) -> int:
    count = 0
    for _, _, line in lines(simulation):
        output.write((line or b"") + b"\n")
        count += 1
    return count


# Malformed vendor lines, as log shippers do deliver them: cut short, or missing the
# fields every record of the format has. Each must end as a dead letter.
BROKEN_RAW = (
    ("cloudtrail", b'{"eventVersion":"1.09","eventName":"GetObject","eventTime":"2026-03-0'),
    ("okta", b'{"uuid":"broken","published":"2026-03-02T00:00:00.000Z"}'),
    ("gcp-audit", b'{"insertId":"broken","timestamp":"2026-03-02T00:00:00Z"}'),
    ("hr-csv", b"broken-row"),
)


def raw_messages(simulation: Simulation) -> Iterator[tuple[datetime, str, bytes, bytes | None]]:
    """(arrival, raw format or "canonical", message, key) in arrival order."""
    broken = 0
    for arrival, name, item in arrivals(simulation):
        if isinstance(item, str):
            format_name, message = BROKEN_RAW[broken % len(BROKEN_RAW)]
            broken += 1
            yield arrival, format_name, message, None
            continue
        record = CANONICAL_INPUTS[name].model_validate(item)
        format_name, message = render(name, record.model_dump())
        yield arrival, format_name, message, record_key(record).encode()


def write_raw_files(simulation: Simulation, directory: Path) -> dict[str, int]:
    """One file per format in ``directory`` (replay each with ``--format``); line counts."""
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[str, IO[bytes]] = {}
    counts: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        for _, format_name, message, _key in raw_messages(simulation):
            handle = handles.get(format_name)
            if handle is None:
                path = directory / FILE_OF_FORMAT[format_name]
                handle = handles[format_name] = stack.enter_context(path.open("wb"))
                if format_name == "hr-csv":
                    handle.write(HR_HEADER + b"\n")
            handle.write(message + b"\n")
            counts[format_name] = counts.get(format_name, 0) + 1
    return counts


def send_to_kafka(
    simulation: Simulation,
    settings: Settings,
    speed: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    raw: bool = False,
) -> dict[str, int]:
    """Produce every record to its canonical topic, or with ``raw`` each vendor log line
    to ``raw.<format>`` (inventory links stay canonical); malformed ones as they come.

    ``speed`` None sends as fast as possible; 1.0 follows event time at its real pace;
    60.0 plays a minute per second. The organisation's history (months of it, before
    the simulated days) goes at once: the pace starts with the days.
    """
    ensure_topics(settings)
    messages = list(_raw_outbound(simulation, settings) if raw else _outbound(simulation, settings))
    sent: dict[str, int] = {}
    first_arrival = max(messages[0][0], START) if messages else None
    started = time.monotonic()
    with CheckedProducer(settings) as producer:
        for index, (arrival, topic, value, key, headers) in enumerate(messages):
            if speed and first_arrival is not None and arrival > first_arrival:
                due = (arrival - first_arrival).total_seconds() / speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, value, key=key, headers=headers)
            sent[topic] = sent.get(topic, 0) + 1
            if progress and index % 1000 == 0:
                progress(index, len(messages))
    if progress:
        progress(len(messages), len(messages))
    return sent


Outbound = tuple[datetime, str, bytes, bytes | None, list[tuple[str, str | bytes | None]] | None]


def _outbound(simulation: Simulation, settings: Settings) -> Iterator[Outbound]:
    for arrival, name, line in lines(simulation):
        if name == "malformed":
            yield arrival, settings.topic(catalog.CLOUD_AUDIT), line or b"", b"malformed", None
            continue
        yield arrival, *_canonical(name, line or b"{}", settings), None


def _canonical(name: str, line: bytes, settings: Settings) -> tuple[str, bytes, bytes]:
    payload = json.loads(line)
    payload.pop("record")
    record = CANONICAL_INPUTS[name].model_validate(payload)
    topic = settings.topic(catalog.INPUT_TOPICS[name])
    return topic, encode(record), record_key(record).encode()


def _raw_outbound(simulation: Simulation, settings: Settings) -> Iterator[Outbound]:
    for arrival, format_name, message, key in raw_messages(simulation):
        if format_name == CANONICAL:
            name = json.loads(message)["record"]
            yield arrival, *_canonical(name, message, settings), None
            continue
        headers: list[tuple[str, str | bytes | None]] | None = (
            [(CSV_HEADER, HR_HEADER)] if format_name == "hr-csv" else None
        )
        yield arrival, settings.topic(catalog.raw_topic(format_name)), message, key, headers
