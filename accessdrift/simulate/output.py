"""Writing a simulation: canonical JSON lines to a file, or records straight to Kafka."""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from accessdrift.canonical import record_key
from accessdrift.kafka_admin import ensure_topics
from accessdrift.producer import CheckedProducer
from accessdrift.simulate.organisation import Simulation, SimulationOptions
from schemas.codec import encode
from schemas.models import CANONICAL_INPUTS
from streams import topics
from streams.settings import Settings


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def lines(simulation: Simulation) -> Iterator[tuple[datetime, str, bytes | None]]:
    """(arrival time, record name or "malformed", canonical JSON line) in arrival order."""
    events = [(arrival, name, fields) for arrival, name, fields in simulation.ordered()]
    malformed = sorted(simulation.malformed)
    position = 0
    for arrival, name, fields in events:
        while position < len(malformed) and malformed[position][0] <= arrival:
            yield malformed[position][0], "malformed", malformed[position][1].encode()
            position += 1
        yield arrival, name, json.dumps({"record": name, **fields}, default=_json_default).encode()
    for when, line in malformed[position:]:
        yield when, "malformed", line.encode()


def write_truth(simulation: Simulation, options: SimulationOptions, path: Path) -> None:
    truth = {
        "options": {key: str(value) for key, value in asdict(options).items()},
        "events": len(simulation.events),
        "malformed": len(simulation.malformed),
        "start": simulation.ordered()[0][0].isoformat() if simulation.events else None,
        "end": simulation.end.isoformat(),
        "lags": simulation.lags,
        "alerts": simulation.alerts,
    }
    path.write_text(json.dumps(truth, indent=1, default=_json_default))


def write_file(simulation: Simulation, output: IO[bytes]) -> int:
    count = 0
    for _, _, line in lines(simulation):
        output.write((line or b"") + b"\n")
        count += 1
    return count


def send_to_kafka(
    simulation: Simulation,
    settings: Settings,
    speed: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Produce every record to its canonical topic; malformed ones as bytes that are not Avro.

    ``speed`` None sends as fast as possible; 1.0 follows event time at its real pace;
    60.0 plays a minute per second.
    """
    ensure_topics(settings)
    sent: dict[str, int] = {}
    everything = list(lines(simulation))
    first_arrival = everything[0][0] if everything else None
    started = time.monotonic()
    with CheckedProducer(settings) as producer:
        for index, (arrival, name, line) in enumerate(everything):
            if speed and first_arrival is not None:
                due = (arrival - first_arrival).total_seconds() / speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            if name == "malformed":
                topic = settings.topic(topics.CLOUD_AUDIT)
                producer.send(topic, line or b"", key=b"malformed")
            else:
                payload = json.loads(line or b"{}")
                payload.pop("record")
                record = CANONICAL_INPUTS[name].model_validate(payload)
                topic = settings.topic(topics.CANONICAL_TOPIC_OF_RECORD[name])
                producer.send(topic, encode(record), key=record_key(record).encode())
            sent[topic] = sent.get(topic, 0) + 1
            if progress and index % 1000 == 0:
                progress(index, len(everything))
    if progress:
        progress(len(everything), len(everything))
    return sent
