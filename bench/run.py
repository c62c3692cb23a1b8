"""`make bench`: throughput, latency, memory and per-stage costs, on the real broker and worker.

Writes bench/results/<time>.json and bench/results/latest.json (see bench/README.md).
Sizes are chosen to finish in a few minutes on 2 cores; ACCESSDRIFT_BENCH_SCALE
multiplies them.
"""

import json
import os
import platform
import random
import re
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from accessdrift import catalog
from accessdrift.canonical import record_key
from accessdrift.kafka.admin import delete_topics, ensure_topics
from accessdrift.kafka.producer import CheckedProducer
from accessdrift.schemas.codec import encode
from accessdrift.schemas.models import CloudAuditEvent, DirectoryChange, IdentityLink
from accessdrift.settings import Settings
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import send_to_kafka
from bench.ledger import ledger_state
from bench.pipeline import (
    REPO,
    BenchWorker,
    directory_size_mb,
    wait_for_first_input,
    wait_until_drained,
)
from bench.stages import stage_costs
from tests.receivers import Received, Receiver, receiving

SCALE = float(os.environ.get("ACCESSDRIFT_BENCH_SCALE", "1"))
RESULTS = REPO / "bench" / "results"
WORK = REPO / ".accessdrift" / "bench"
PORT = 6071


def fresh_prefix(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}."


def raw_consume_rate(settings: Settings, expected: int) -> float:
    """A bare Python consumer reading the same canonical topics, bytes only."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    names = [settings.topic(name) for name in catalog.INPUT_TOPICS.values()]
    metadata = consumer.list_topics(timeout=10)
    consumer.assign(
        [
            TopicPartition(name, partition, 0)
            for name in names
            for partition in metadata.topics[name].partitions
        ]
    )
    count = 0
    started = time.perf_counter()
    while count < expected:
        batch = consumer.consume(10000, timeout=1.0)
        count += sum(1 for message in batch if not message.error())
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def throughput(options: SimulationOptions) -> dict[str, Any]:
    prefix = fresh_prefix("throughput")
    settings = Settings(topic_prefix=prefix, data_dir=WORK)
    simulation = simulate(options)
    sent = send_to_kafka(simulation, settings)
    inputs = sum(sent.values()) - len(simulation.malformed)
    raw = raw_consume_rate(settings, sum(sent.values()))
    worker = BenchWorker(WORK / prefix, prefix, PORT)
    try:
        ready = time.monotonic()
        # From the first batch consumed: the Kafka group join and table recovery at
        # start are reported apart (startup_seconds), they are not a per-event cost.
        started = wait_for_first_input(worker)
        startup = started - ready
        seconds = wait_until_drained(worker, inputs, timeout=1800)
        # The inputs are also in ClickHouse: wait for the sinks too.
        while (
            sum(
                v
                for k, v in worker.stages().items()
                if k.startswith("sink:") and k not in ("sink:alerts", "sink:provisioning_lag")
            )
            < inputs
        ):
            time.sleep(0.1)
        seconds = max(seconds, time.monotonic() - started)
        stages = worker.stages()
    finally:
        worker.stop()
    return {
        "events": inputs,
        "seconds": round(seconds, 2),
        "startup_seconds": round(startup, 2),
        "throughput_eps": round(inputs / seconds, 1),
        "raw_consume_eps": round(raw, 1),
        "throughput_ratio": round(inputs / seconds / raw, 4),
        "findings": {
            "alerts": stages.get("findings:alerts", 0),
            "lags": stages.get("findings:lags", 0),
        },
    }


def aws_use(event_id: str, when: datetime, account: str, credential: str) -> CloudAuditEvent:
    """A successful S3 read with an access key: the load every phase sends."""
    return CloudAuditEvent(
        event_id=event_id,
        event_time=when,
        system="aws",
        account_id=account,
        credential_id=credential,
        action="GetObject",
        kind="usage",
        outcome="success",
    )


PROBE_LEAVERS = 100  # the probe keys belong to this many leavers, 1 in 100 of the load
LOAD_USERS = 5000  # the distinct identities of the background load


def latency(
    offered_eps: float, seconds: float, probes: int = 2000, known_load: bool = True
) -> dict[str, Any]:
    """Uses of deprovisioned identities' keys at a known time, among steady background load
    of 5,000 users; each probe raises its own alert: time to drift.alerts and to ClickHouse.

    ``known_load``: the worker has seen each of the 5,000 users' keys once before the
    clock starts, as a running deployment has (steady state). Without it, the run's
    first seconds are the worker meeting 5,000 new keys at once (a cold start)."""
    prefix = fresh_prefix("latency")
    settings = Settings(topic_prefix=prefix, data_dir=WORK)
    ensure_topics(settings)
    # The alerts also go to a local Slack-shaped receiver, at once (no group_wait):
    # the latency a person sees, less the grouping they configure.
    chat_seen: dict[str, float] = {}

    def on_chat(request: Received) -> tuple[int, str, dict[str, str]]:
        seen = time.monotonic()
        for credential in re.findall(r"aws:PROBE\d{6}", request.body.decode()):
            chat_seen.setdefault(credential, seen)
        return 200, "ok", {}

    chat = Receiver(answer=on_chat)
    stack = ExitStack()
    stack.enter_context(receiving(chat))
    WORK.mkdir(parents=True, exist_ok=True)
    routes = WORK / f"{prefix}routes.yaml"
    routes.write_text(
        "destinations:\n  chat: {type: slack, url_env: BENCH_CHAT_URL}\n"
        "routes:\n  - to: [chat]\n    group_wait: 0s\n    group_interval: 0s\n"
    )
    worker = BenchWorker(
        WORK / prefix,
        prefix,
        PORT,
        ACCESSDRIFT_ALERT_ROUTES=str(routes),
        BENCH_CHAT_URL=chat.url,
    )
    now = datetime.now(UTC)
    try:
        with CheckedProducer(settings) as producer:

            def send(record: Any) -> None:
                name = type(record).__name__
                producer.send(
                    settings.topic(catalog.INPUT_TOPICS[name]),
                    encode(record),
                    key=record_key(record).encode(),
                )

            for leaver in range(PROBE_LEAVERS):
                send(
                    DirectoryChange(
                        event_id=f"bench-leaver-{leaver}",
                        event_time=now - timedelta(hours=1),
                        source="bench",
                        identity_id=f"BENCH-LEAVER-{leaver:03d}",
                        identity_kind="human",
                        change_type="leaver",
                    )
                )
            for index in range(probes):
                send(
                    IdentityLink(
                        event_time=now - timedelta(days=1),
                        source="bench",
                        identity_id=f"BENCH-LEAVER-{index % PROBE_LEAVERS:03d}",
                        identity_kind="human",
                        credential_id=f"aws:PROBE{index:06d}",
                    )
                )
            if known_load:
                for user in range(LOAD_USERS):
                    send(
                        aws_use(
                            f"known-{user}",
                            now - timedelta(minutes=2),
                            f"aws:111122223333:user/u{user}",
                            f"aws:AKIALOAD{user:08d}",
                        )
                    )
        # The links and the leavers are through detection before the clock starts: the
        # worker has joined its group and is consuming (startup is not latency).
        wait_until_drained(
            worker, probes + PROBE_LEAVERS + (LOAD_USERS if known_load else 0), timeout=300
        )
        produced_at: dict[str, float] = {}
        alert_seen: dict[str, float] = {}
        table_seen: dict[str, float] = {}
        stop = threading.Event()

        def watch_topic() -> None:
            consumer = Consumer(
                {
                    "bootstrap.servers": settings.kafka_bootstrap,
                    "group.id": f"bench-{uuid.uuid4().hex}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                }
            )
            consumer.subscribe([settings.topic(catalog.DRIFT_ALERTS)])
            from accessdrift.schemas.codec import codec_for

            while not stop.is_set():
                message = consumer.poll(0.01)
                if message is None or message.error():
                    continue
                value = message.value()
                if value is None:
                    continue
                credential = codec_for("Alert").decode_dict(value)["credential_id"]
                alert_seen.setdefault(credential, time.monotonic())
            consumer.close()

        def watch_table() -> None:
            while not stop.is_set():
                try:
                    rows = worker.query(
                        "SELECT credential_id FROM alerts WHERE credential_id LIKE 'aws:PROBE%'"
                    )
                except OSError:
                    continue
                seen = time.monotonic()
                for row in rows:
                    table_seen.setdefault(row["credential_id"], seen)
                time.sleep(0.1)

        watchers = [threading.Thread(target=watch_topic), threading.Thread(target=watch_table)]
        for thread in watchers:
            thread.start()
        generator = random.Random(1)
        interval = 1.0 / offered_eps
        # The probes spread evenly over the run.
        probe_every = max(1, int(offered_eps * seconds / probes))
        started = time.monotonic()
        sent_events = 0
        with CheckedProducer(settings) as producer:
            while sent_events < offered_eps * seconds:
                due = started + sent_events * interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                event_time = datetime.now(UTC)
                if sent_events % probe_every == 0 and len(produced_at) < probes:
                    credential = f"aws:PROBE{len(produced_at):06d}"
                    record = aws_use(
                        f"probe-{len(produced_at)}",
                        event_time,
                        f"aws:111122223333:user/bench-leaver-{len(produced_at) % PROBE_LEAVERS}",
                        credential,
                    )
                    producer.send(
                        settings.topic(catalog.CLOUD_AUDIT), encode(record), key=credential.encode()
                    )
                    producer._producer.poll(0)
                    produced_at[credential] = time.monotonic()
                else:
                    user = generator.randrange(LOAD_USERS)
                    load_key = f"aws:AKIALOAD{user:08d}"
                    record = aws_use(
                        f"load-{sent_events}",
                        event_time,
                        f"aws:111122223333:user/u{user}",
                        load_key,
                    )
                    producer.send(
                        settings.topic(catalog.CLOUD_AUDIT), encode(record), key=load_key.encode()
                    )
                sent_events += 1
        achieved = sent_events / (time.monotonic() - started)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and (
            len(table_seen) < len(produced_at) or len(chat_seen) < len(produced_at)
        ):
            time.sleep(0.2)
        stop.set()
        for thread in watchers:
            thread.join()
    finally:
        worker.stop()
        stack.close()

    half_time = started + seconds / 2

    def summary(seen: dict[str, float], second_half: bool = False) -> dict[str, Any]:
        probes = [key for key in produced_at if not second_half or produced_at[key] >= half_time]
        values = sorted((seen[key] - produced_at[key]) * 1000 for key in probes if key in seen)
        if not values:
            return {"p50": None, "p95": None, "p99": None, "samples": 0}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 1)

        return {
            "p50": pick(0.5),
            "p95": pick(0.95),
            "p99": pick(0.99),
            "max": round(values[-1], 1),
            "samples": len(values),
            "missing": len(probes) - len(values),
        }

    return {
        "offered_eps": offered_eps,
        "achieved_offered_eps": round(achieved, 1),
        "seconds": seconds,
        "to_alert_topic_ms": summary(alert_seen),
        "to_clickhouse_ms": summary(table_seen),
        "to_chat_ms": summary(chat_seen),
        # The probes of the run's second half: the worker's caches are warm and any
        # backlog of the first seconds is gone, or it is not (then it shows here too).
        "second_half": {
            "to_alert_topic_ms": summary(alert_seen, second_half=True),
            "to_clickhouse_ms": summary(table_seen, second_half=True),
            "to_chat_ms": summary(chat_seen, second_half=True),
        },
    }


def memory(credentials: int) -> dict[str, Any]:
    """RSS and state of a worker tracking credentials (10 per identity, a link and a use each).

    Measured as a slope: RSS after a first half, then after the second half, in one
    worker, so that the worker's fixed working set (buffers, caches, the embedded
    ClickHouse) is not counted as a per-credential cost.
    """
    prefix = fresh_prefix("memory")
    settings = Settings(topic_prefix=prefix, data_dir=WORK)
    ensure_topics(settings)
    worker = BenchWorker(WORK / prefix, prefix, PORT)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    half = credentials // 2

    def feed(first: int, last: int) -> None:
        with CheckedProducer(settings) as producer:
            for index in range(first, last):
                identity = f"M{index // 10:07d}"
                link = IdentityLink(
                    event_time=start,
                    source="bench",
                    identity_id=identity,
                    identity_kind="human",
                    credential_id=f"aws:AKIAMEM{index:010d}",
                )
                producer.send(
                    settings.topic(catalog.IDENTITY_LINKS),
                    encode(link),
                    key=record_key(link).encode(),
                )
                use = aws_use(
                    f"mem-{index}",
                    start + timedelta(seconds=index % 86400),
                    f"aws:111122223333:user/m{index // 10}",
                    f"aws:AKIAMEM{index:010d}",
                )
                producer.send(
                    settings.topic(catalog.CLOUD_AUDIT), encode(use), key=record_key(use).encode()
                )

    chunk = max(1000, credentials // 20)

    def feed_drained(first: int, last: int) -> float:
        # In chunks, each drained before the next: the worker's fetch buffers never fill,
        # so what RSS shows is state and caches, not a backlog's high-water mark.
        seconds = 0.0
        for low in range(first, last, chunk):
            high = min(last, low + chunk)
            feed(low, high)
            seconds += wait_until_drained(worker, 2 * high, timeout=3600)
        return seconds

    try:
        time.sleep(2)
        baseline = worker.rss_mb()
        first_seconds = feed_drained(0, half)
        time.sleep(3)
        rss_half = worker.rss_mb()
        seconds = feed_drained(half, credentials)
        time.sleep(3)
        rss = worker.rss_mb()
        state_mb = directory_size_mb(WORK / prefix / "worker")
        clickhouse_mb = directory_size_mb(WORK / prefix / "clickhouse")
    finally:
        worker.stop()
    per_100k = (rss - rss_half) * 100_000 / (credentials - half)
    return {
        "credentials": credentials,
        "events": 2 * credentials,
        "seconds": round(first_seconds + seconds, 1),
        "rss_idle_mb": round(baseline, 1),
        "rss_after_half_mb": round(rss_half, 1),
        "rss_mb": round(rss, 1),
        "rss_mb_per_100k_credentials": round(per_100k, 1),
        "rss_mb_for_1m_credentials_extrapolated": round(
            rss + per_100k * (1_000_000 - credentials) / 100_000, 1
        ),
        "state_mb_on_disk": round(state_mb, 1),
        "state_bytes_per_credential_on_disk": round(state_mb * 1024**2 / credentials, 1),
        "clickhouse_mb_on_disk": round(clickhouse_mb, 1),
    }


def machine() -> dict[str, Any]:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    # The core in process and the worker end to end on the same organisation.
    organisation = SimulationOptions(
        seed=11, identities=int(500 * SCALE), events_per_second=0.3 * SCALE
    )
    print("bench: per-stage costs (the core in process)...", flush=True)
    stages = stage_costs(organisation)
    print(json.dumps(stages, indent=1), flush=True)
    print("bench: the access ledger's state per 100k accounts...", flush=True)
    ledger = ledger_state()
    print(json.dumps(ledger, indent=1), flush=True)
    print("bench: throughput (worker vs a bare consumer)...", flush=True)
    through = throughput(organisation)
    print(json.dumps(through, indent=1), flush=True)
    print("bench: detection latency at 2,000 events/s...", flush=True)
    late = latency(2000.0, 20.0 * min(SCALE, 3))
    print(json.dumps(late, indent=1), flush=True)
    print("bench: detection latency at 2,000 events/s from a cold start...", flush=True)
    cold = latency(2000.0, 20.0 * min(SCALE, 3), known_load=False)
    print(json.dumps(cold, indent=1), flush=True)
    print("bench: detection latency at 10,000 events/s...", flush=True)
    fast = latency(10000.0, 20.0 * min(SCALE, 3))
    print(json.dumps(fast, indent=1), flush=True)
    print(
        "bench: detection latency at 1,000 events/s (within what one worker sustains)...",
        flush=True,
    )
    sustainable = latency(1000.0, 20.0)
    print(json.dumps(sustainable, indent=1), flush=True)
    print("bench: memory at 1,000,000 tracked credentials...", flush=True)
    mem = memory(int(1_000_000 * SCALE))
    print(json.dumps(mem, indent=1), flush=True)
    core = stages["core_events_per_second"]
    result = {
        "started": started.isoformat(),
        "machine": machine(),
        "throughput_eps": through["throughput_eps"],
        "raw_consume_eps": through["raw_consume_eps"],
        "throughput_ratio": through["throughput_ratio"],
        "core_events_per_second": core,
        "core_ratio": round(through["throughput_eps"] / core, 4),
        "latency_ms": late["to_clickhouse_ms"],
        "latency_10k_ms": fast["to_clickhouse_ms"],
        "latency_cold_start_ms": cold["to_clickhouse_ms"],
        "latency_to_alert_topic_ms": late["to_alert_topic_ms"],
        "latency_to_chat_ms": late["to_chat_ms"],
        "latency_to_chat_at_1000_eps_ms": sustainable["to_chat_ms"],
        "offered_eps": late["offered_eps"],
        "achieved_offered_eps": late["achieved_offered_eps"],
        "achieved_offered_eps_10k": fast["achieved_offered_eps"],
        "rss_mb_at_1m_credentials": mem["rss_mb"] if mem["credentials"] >= 1_000_000 else None,
        "rss_mb_per_100k_credentials": mem["rss_mb_per_100k_credentials"],
        "ledger_state_mb_per_100k_accounts": ledger["state_mb_per_100k_accounts"],
        "ledger_bytes_per_account": ledger["ledger_bytes_per_account"],
        "latency_at_1000_eps_ms": sustainable["to_clickhouse_ms"],
        "latency_second_half_ms": late["second_half"]["to_clickhouse_ms"],
        "latency_at_1000_eps_second_half_ms": sustainable["second_half"]["to_clickhouse_ms"],
        "details": {
            "throughput": through,
            "latency": late,
            "latency_cold_start": cold,
            "latency_10k": fast,
            "latency_at_1000_eps": sustainable,
            "memory": mem,
            "stages": stages,
            "ledger": ledger,
        },
    }
    delete_topics(Settings(), ["bench-"])  # every phase's topics and worker topics
    text = json.dumps(result, indent=1)
    (RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"\nbench: written to {RESULTS / 'latest.json'}")
    to_table, at_10k = late["to_clickhouse_ms"], fast["to_clickhouse_ms"]
    print(
        f"throughput {result['throughput_eps']} ev/s = {result['throughput_ratio']:.1%} of a bare "
        f"consumer ({result['raw_consume_eps']} ev/s), {result['core_ratio']:.1%} of the core "
        f"in process ({core} ev/s)\n"
        f"latency to ClickHouse p50/p95/p99 {to_table['p50']}/{to_table['p95']}/"
        f"{to_table['p99']} ms at {late['achieved_offered_eps']} ev/s offered, "
        f"{at_10k['p50']}/{at_10k['p95']}/{at_10k['p99']} ms at "
        f"{fast['achieved_offered_eps']} ev/s; at 1,000 ev/s: "
        f"{sustainable['to_clickhouse_ms']['p50']}/{sustainable['to_clickhouse_ms']['p95']}/"
        f"{sustainable['to_clickhouse_ms']['p99']} ms\n"
        f"latency to a chat receiver p50/p99 {late['to_chat_ms']['p50']}/"
        f"{late['to_chat_ms']['p99']} ms at 2,000 ev/s (group_wait 0s)\n"
        f"RSS {mem['rss_mb']} MB at {mem['credentials']} tracked credentials "
        f"({mem['rss_mb_per_100k_credentials']} MB per 100k)\n"
        f"ledger state {ledger['state_mb_per_100k_accounts']} MB per 100k accounts "
        f"({ledger['ledger_bytes_per_account']} bytes of it per account, with "
        f"{ledger['entitlements_per_account']} entitlements each)"
    )


if __name__ == "__main__":
    main()
