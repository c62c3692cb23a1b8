"""`make bench-soak`: a long run, to see whether the worker slows down as its state grows.

An organisation of 100,000 identities (15% workloads) over 30 days of event time:
each identity's directory record and the links of its keys first, then 10 million
uses in event-time order, with a tenth of the identities leaving on the way (and
their keys used on for a while after, as zombies are). The events are made on the
fly and produced as fast as the broker takes them while one worker consumes them;
every 10 s the worker's stage counters are read. Events/s per minute over the run,
peak RSS, and a plot go to ``bench/results/soak-<time>.json`` / ``.png``.

``ACCESSDRIFT_BENCH_SCALE`` multiplies the size (0.1: 1M events of 10,000 identities).
"""

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from accessdrift import catalog
from accessdrift.canonical import record_key
from accessdrift.kafka.admin import delete_topics, ensure_topics
from accessdrift.kafka.producer import CheckedProducer
from accessdrift.schemas.codec import codec_for, encode
from accessdrift.schemas.models import DirectoryChange, IdentityLink
from accessdrift.settings import Settings
from bench.pipeline import REPO, BenchWorker
from bench.run import machine

SCALE = float(os.environ.get("ACCESSDRIFT_BENCH_SCALE", "1"))
RESULTS = REPO / "bench" / "results"
WORK = REPO / ".accessdrift" / "bench"
PORT = 6072
DAYS = 30
KEYS_PER_IDENTITY = 2


def organisation_events(
    identities: int, uses: int, seed: int = 5
) -> Iterator[DirectoryChange | IdentityLink | dict[str, Any]]:
    """Records in arrival order: setup first, then the uses (as plain fields), leavers
    among them."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    generator = random.Random(seed)
    for index in range(identities):
        kind = "nhi" if index % 7 == 0 else "human"
        yield DirectoryChange(
            event_id=f"soak-joiner-{index}",
            event_time=start - timedelta(days=1),
            source="soak",
            identity_id=f"S{index:07d}",
            identity_kind=kind,
            change_type="joiner",
            accounts=[f"aws:111122223333:user/s{index}"],
        )
        for key in range(KEYS_PER_IDENTITY):
            yield IdentityLink(
                event_time=start - timedelta(days=1),
                source="soak",
                identity_id=f"S{index:07d}",
                identity_kind=kind,
                credential_id=f"aws:AKIASOAK{index:07d}{key}",
            )
    span_us = DAYS * 86400 * 1_000_000
    leavers = {generator.randrange(identities): None for _ in range(identities // 10)}
    leave_at = {who: generator.randrange(span_us) for who in leavers}
    for number in range(uses):
        offset_us = number * span_us // uses
        when = start + timedelta(microseconds=offset_us)
        who = generator.randrange(identities)
        if who in leave_at and leave_at[who] <= offset_us:
            yield DirectoryChange(
                event_id=f"soak-leaver-{who}",
                event_time=start + timedelta(microseconds=leave_at[who]),
                source="soak",
                identity_id=f"S{who:07d}",
                identity_kind="nhi" if who % 7 == 0 else "human",
                change_type="leaver",
            )
            del leave_at[who]
        # The uses as the plain fields of a CloudAuditEvent: ten million pydantic models
        # would make the producer, not the worker, the slow side.
        yield {
            "event_id": f"soak-use-{number}",
            "event_time": when,
            "system": "aws",
            "account_id": f"aws:111122223333:user/s{who}",
            "credential_id": f"aws:AKIASOAK{who:07d}{number % KEYS_PER_IDENTITY}",
            "action": "GetObject",
            "kind": "usage",
            "target_account_id": None,
            "target_credential_id": None,
            "outcome": "success",
            "source_ip": f"198.51.100.{who % 250}",
            "user_agent": None,
        }


def produce(
    settings: Settings,
    identities: int,
    uses: int,
    done: dict[str, Any],
    stop: threading.Event,
) -> None:
    count = 0
    with CheckedProducer(settings) as producer:
        use_topic = settings.topic(catalog.CLOUD_AUDIT)
        use_codec = codec_for("CloudAuditEvent")
        for record in organisation_events(identities, uses):
            if count % 10_000 == 0 and stop.is_set():
                break
            if isinstance(record, dict):
                producer.send(
                    use_topic, use_codec.encode_dict(record), key=record["credential_id"].encode()
                )
            else:
                producer.send(
                    settings.topic(catalog.INPUT_TOPICS[type(record).__name__]),
                    encode(record),
                    key=record_key(record).encode(),
                )
            count += 1
    done["events"] = count
    done["at"] = time.monotonic()


def soak(identities: int, uses: int) -> dict[str, Any]:
    prefix = f"bench-soak-{os.getpid()}."
    settings = Settings(topic_prefix=prefix, data_dir=WORK)
    ensure_topics(settings)
    worker = BenchWorker(WORK / prefix, prefix, PORT)
    produced: dict[str, Any] = {}
    stop = threading.Event()
    producer = threading.Thread(target=produce, args=(settings, identities, uses, produced, stop))
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    producer.start()
    peak_rss = 0.0
    stopped_early = False
    try:
        while True:
            try:
                time.sleep(10)
            except KeyboardInterrupt:
                # Ctrl-C (or SIGINT): the run so far is still a result; it says so.
                stopped_early = True
                break
            stages = worker.stages()
            rss = worker.rss_mb()
            peak_rss = max(peak_rss, rss)
            records = stages.get("resolver:records", 0)
            samples.append({"seconds": time.monotonic() - started, "records": records, "rss": rss})
            say = f"soak: {records} records through the resolver, rss {rss:.0f} MB"
            print(say, flush=True)
            if "events" in produced and records >= produced["events"]:
                break
            if time.monotonic() - started > 6 * 3600:
                raise TimeoutError("the soak did not finish within 6 hours")
    finally:
        stop.set()
        producer.join()
        worker.stop()
        delete_topics(Settings(), [prefix])
    per_minute = []
    for first, last in zip(samples, samples[6:], strict=False):
        if last["seconds"] - first["seconds"] >= 59:
            per_minute.append(
                {
                    "minute_ending_s": round(last["seconds"], 1),
                    "events_per_second": round(
                        (last["records"] - first["records"]) / (last["seconds"] - first["seconds"]),
                        1,
                    ),
                }
            )
    # Whole minutes of steady input: not the last one, where the input ran out mid-minute.
    steady = per_minute[:-1] if len(per_minute) > 2 else per_minute
    minutes = steady[::6] or steady
    first_rate = minutes[0]["events_per_second"] if minutes else None
    last_rate = minutes[-1]["events_per_second"] if minutes else None
    through = samples[-1]["records"] if samples else 0
    windows = window_rates(samples)
    return {
        "identities": identities,
        "stopped_early": stopped_early,
        "events": through if stopped_early else produced.get("events", 0),
        "event_time_days": DAYS,
        "seconds": round(samples[-1]["seconds"], 1) if samples else None,
        "events_per_second": round(
            (through if stopped_early else produced.get("events", 0)) / samples[-1]["seconds"], 1
        )
        if samples
        else None,
        "peak_rss_mb": round(peak_rss, 1),
        "first_minute_eps": first_rate,
        "last_minute_eps": last_rate,
        "last_to_first": round(last_rate / first_rate, 3) if first_rate and last_rate else None,
        **windows,
        "per_minute": minutes,
        "samples": samples,
    }


def window_rates(samples: list[dict[str, float]], window_s: float = 300.0) -> dict[str, Any]:
    """Events/s over the first and the last five minutes of steady input, and over each
    third of it. One minute's rate swings by half either way (the resolver waits while
    the identity stage drains its buffer, ClickHouse merges on the other core), so one
    minute against another says little about a trend; five minutes and thirds do."""
    if len(samples) < 3:
        return {}
    end = samples[-1]["seconds"] - 60  # the last minute: the input ran out in it
    steady = [sample for sample in samples if sample["seconds"] <= end] or samples

    def rate(low: float, high: float) -> float | None:
        inside = [sample for sample in steady if low <= sample["seconds"] <= high]
        if len(inside) < 2 or inside[-1]["seconds"] <= inside[0]["seconds"]:
            return None
        moved = inside[-1]["records"] - inside[0]["records"]
        return round(moved / (inside[-1]["seconds"] - inside[0]["seconds"]), 1)

    total = steady[-1]["seconds"]
    first, last = rate(0, window_s), rate(total - window_s, total)
    return {
        "first_5min_eps": first,
        "last_5min_eps": last,
        "last_to_first_5min": round(last / first, 3) if first and last else None,
        "thirds_eps": [rate(total * i / 3, total * (i + 1) / 3) for i in range(3)],
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    figure, rate_axis = plt.subplots(figsize=(10, 5))
    minutes = result["per_minute"]
    rate_axis.plot(
        [m["minute_ending_s"] / 60 for m in minutes],
        [m["events_per_second"] for m in minutes],
        color="tab:blue",
        marker="o",
        label="events/s over the minute",
    )
    rate_axis.set_xlabel("minutes into the run")
    rate_axis.set_ylabel("events/s (resolver)", color="tab:blue")
    rate_axis.set_ylim(bottom=0)
    rss_axis = rate_axis.twinx()
    rss_axis.plot(
        [s["seconds"] / 60 for s in samples],
        [s["rss"] for s in samples],
        color="tab:red",
        label="RSS",
    )
    rss_axis.set_ylabel("worker RSS (MB)", color="tab:red")
    rss_axis.set_ylim(bottom=0)
    rate_axis.set_title(
        f"accessdrift soak: {result['events']:,} events of {result['identities']:,} identities "
        f"over {result['event_time_days']} days of event time"
        + (" (stopped early)" if result.get("stopped_early") else "")
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    identities = int(100_000 * SCALE)
    setup = identities * (1 + KEYS_PER_IDENTITY)
    result = soak(identities, max(0, int(10_000_000 * SCALE) - setup))
    result = {"started": started.isoformat(), "machine": machine(), "scale": SCALE, **result}
    name = f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "soak-latest.json").write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / f"{name}.png")
    plot(result, RESULTS / "soak-latest.png")
    print(
        f"soak: {result['events']} events in {result['seconds']} s "
        f"({result['events_per_second']} ev/s), first minute {result['first_minute_eps']} ev/s, "
        f"last {result['last_minute_eps']} ev/s ({result['last_to_first']}), "
        f"peak RSS {result['peak_rss_mb']} MB; plot {RESULTS / (name + '.png')}"
    )


if __name__ == "__main__":
    main()
