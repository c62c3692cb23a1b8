"""`make demo`: the whole pipeline on a simulated organisation, embedded defaults, bounded in time.

Starts a worker (its own data folder, .accessdrift/demo), produces a seeded
organisation's events to the local Kafka, shows progress while they flow
through the detection into ClickHouse, then prints what was found and how it
compares with the ground truth, and stops the worker.
"""

import json
import os
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from accessdrift.commands.evaluate import ALERTS_SQL, DUPLICATES_SQL, LAGS_SQL, by_system, evaluate
from accessdrift.commands.worker_client import WorkerClient, WorkerProcess
from accessdrift.durations import format_duration
from accessdrift.kafka.admin import delete_topics
from accessdrift.settings import Settings
from accessdrift.simulate.organisation import SimulationOptions, simulate
from accessdrift.simulate.output import send_to_kafka, write_truth

# Relative to the working directory, like the data folder's default (``make demo`` runs
# from the clone's root: its .accessdrift/demo). Never derived from this file's place: an
# installed package lives in site-packages, which is no place for data.
DEMO_DATA = Path(".accessdrift") / "demo"
WEB_PORT = 6067
TIME_LIMIT_SECONDS = 600
QUIET_SECONDS = 6
# The simulated days are two: a mover SLA of 7 days (the setting's default) would judge
# no mover in them. The worker is told the same SLAs as the simulation (``worker_env``).
OPTIONS = SimulationOptions(mover_sla=timedelta(hours=12))


WORKER = WorkerClient(f"http://127.0.0.1:{WEB_PORT}")


def _query(sql: str) -> list[dict[str, Any]]:
    return WORKER.query(sql)


def _stages() -> dict[str, int]:
    return WORKER.stages()


def _progress_line(text: str) -> None:
    sys.stdout.write(f"\r\033[K{text}")
    sys.stdout.flush()


def worker_env(options: SimulationOptions) -> dict[str, str]:
    """The settings the ground truth was derived with, for the worker."""
    return {
        "ACCESSDRIFT_DEPROVISION_SLA": format_duration(options.sla),
        "ACCESSDRIFT_MOVER_SLA": format_duration(options.mover_sla),
        "ACCESSDRIFT_GRACE": format_duration(options.grace),
        "ACCESSDRIFT_LOOKBACK": format_duration(options.lookback),
    }


def main(raw: bool = False) -> None:
    """``raw``: the organisation as its systems' own logs, through the normalizers."""
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    run_id = str(int(time.time()))
    options = OPTIONS
    env = dict(os.environ)
    env.update(
        ACCESSDRIFT_DATA_DIR=str(DEMO_DATA / run_id),
        ACCESSDRIFT_TOPIC_PREFIX=f"demo{run_id}.",
        ACCESSDRIFT_WORKER_WEB_PORT=str(WEB_PORT),
        **worker_env(options),
    )
    settings = Settings(
        data_dir=DEMO_DATA / run_id, topic_prefix=f"demo{run_id}.", worker_web_port=WEB_PORT
    )
    (DEMO_DATA / run_id).mkdir(parents=True, exist_ok=True)
    log_path = DEMO_DATA / run_id / "worker.log"
    print(
        f"demo: a simulated organisation of {options.identities} identities over "
        f"{options.days:g} days (seed {options.seed}; deprovision SLA "
        f"{format_duration(options.sla)}, mover SLA {format_duration(options.mover_sla)})"
    )
    simulation = simulate(options)
    truth_path = DEMO_DATA / run_id / "truth.json"
    write_truth(simulation, options, truth_path)
    print(
        f"demo: {len(simulation.events)} events, {len(simulation.malformed)} malformed; "
        f"ground truth {len(simulation.lags)} lag pairs and {len(simulation.alerts)} findings"
    )
    print(f"demo: starting the worker (log: {log_path})")
    worker = WorkerProcess(env, WEB_PORT, log_path)
    try:
        try:
            worker.wait_ready(timeout=deadline - time.monotonic())
        except RuntimeError as error:
            raise SystemExit(f"demo: the worker did not start; see {log_path}") from error

        started = time.monotonic()
        sent = send_to_kafka(
            simulation,
            settings,
            progress=lambda done, total: _progress_line(
                f"demo: produced {done}/{total} {'vendor log lines' if raw else 'events'}"
            ),
            raw=raw,
        )
        print()
        if raw:
            for topic, count in sorted(sent.items()):
                print(f"demo: {count:>6} -> {topic.removeprefix(settings.topic_prefix)}")
        # Every simulated record reaches the resolver once, from either format.
        expected_inputs = sum(sent.values()) - len(simulation.malformed)
        # Findings judged at a deadline (an overdue, a stale key) come when the worker's
        # event time passes it: the end of the data, less the allowed lateness.
        data_end = (
            max(fields["event_time"] for _, _, fields in simulation.events)
            - settings.allowed_lateness
        )
        judged_until = int(data_end.timestamp() * 1_000_000)
        last_change = time.monotonic()
        last_counts: tuple[int, ...] = ()
        while time.monotonic() < deadline:
            stages = _stages()
            counts = (
                stages.get("resolver:records", 0),
                stages.get("identity:messages_done", 0),
                stages.get("findings:alerts", 0),
                stages.get("findings:lags", 0),
            )
            if counts != last_counts:
                last_change, last_counts = time.monotonic(), counts
            _progress_line(
                f"demo: {counts[0]}/{expected_inputs} events through detection, "
                f"{counts[2]} alerts and {counts[3]} lag rows emitted "
                f"({time.monotonic() - started:.0f}s)"
            )
            drained = (
                counts[0] >= expected_inputs
                and counts[1] >= stages.get("identity:messages_sent", 0)
                and stages.get("identity:watermark_us", 0) >= judged_until
            )
            if drained and time.monotonic() - last_change > QUIET_SECONDS:
                break
            time.sleep(0.5)
        print()
        elapsed = time.monotonic() - started
        alerts = _query(ALERTS_SQL)
        lags = _query(LAGS_SQL)
        duplicates = int(_query(DUPLICATES_SQL)[0]["n"])
        truth = json.loads(truth_path.read_text())
        evaluation = evaluate(truth, alerts, lags, duplicates)
        # Sinks flush every 200 ms: let the last findings land before reading them.
        time.sleep(2)
        alerts = _query(ALERTS_SQL)
        lags = _query(LAGS_SQL)
        duplicates = int(_query(DUPLICATES_SQL)[0]["n"])
        evaluation = evaluate(truth, alerts, lags, duplicates)
        _summary(last_counts, elapsed, lags, evaluation.as_dict(), run_id)
    finally:
        worker.stop()
        # ClickHouse keeps the results; the demo's topics go, so that the local broker
        # does not pile up topics run after run.
        delete_topics(settings, [settings.topic_prefix])
        print("demo: worker stopped")


def _summary(
    counts: tuple[int, ...],
    elapsed: float,
    lags: list[dict[str, Any]],
    figures: dict[str, Any],
    run_id: str,
) -> None:
    print(f"\n== accessdrift demo: {counts[0]} events processed in {elapsed:.1f}s")
    print("\nprovisioning lag of closed pairs, per system (minutes):")
    for system, values in sorted(by_system(lags).items()):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(
            f"  {system:<7} n={len(values):<4} p50={statistics.median(values) / 60:7.1f}  "
            f"p95={p95 / 60:7.1f}"
        )
    print("\nfindings against the ground truth:")
    print(f"  {'kind':<30} {'expected':>8} {'found':>6} {'precision':>9} {'recall':>7}")
    for kind, row in figures["alerts"].items():
        print(
            f"  {kind:<30} {row['expected']:>8} {row['detected']:>6} {row['precision']:>9.3f} "
            f"{row['recall']:>7.3f}"
        )
    lag = figures["lags"]
    print(
        f"  {'provisioning lag pairs':<30} {lag['expected']:>8} {lag['detected']:>6} "
        f"{lag['precision']:>9.3f} {lag['recall']:>7.3f}"
    )
    retained = lag["groups"].get("entitlement")
    if retained is not None:
        print(
            f"  {'  of them retained entitlements':<30} {retained['expected']:>8} "
            f"{retained['detected']:>6} {retained['precision']:>9.3f} {retained['recall']:>7.3f}"
        )
    print(
        f"  lag error max {lag['max_error_seconds']}s, duplicates {figures['duplicates']}, "
        f"all exact: {figures['perfect']}"
    )
    data = DEMO_DATA / run_id
    # The demo's deployment: its prefix names its database in that folder; its port keeps
    # a query from opening the folder that a worker started on it holds.
    env = (
        f"ACCESSDRIFT_DATA_DIR={data} ACCESSDRIFT_TOPIC_PREFIX=demo{run_id}. "
        f"ACCESSDRIFT_WORKER_WEB_PORT={WEB_PORT}"
    )
    slas = " ".join(f"{name}={value}" for name, value in worker_env(OPTIONS).items())
    command = command_name()
    print(
        "\nwhere to look next (the worker is stopped; the embedded database stays):\n"
        f"  {env} {command} query "
        '"SELECT kind, severity, identity_id, credential_id, seconds_after FROM alerts FINAL"\n'
        f"  {env} {command} query "
        '"SELECT * FROM lag_quantiles_hourly ORDER BY hour LIMIT 20"\n'
        f"  {env} {command} query "
        '"SELECT * FROM access_retained_after_move"\n'
        f"  {env} {command} evaluate {data}/truth.json\n"
        "\nthe dashboard: start a worker on the demo's data (with the local Kafka up; Ctrl-C "
        "stops it)\n"
        f"  {env} {slas} {command} worker\n"
        f"then open http://127.0.0.1:{WEB_PORT}/dashboard/"
    )


def command_name() -> str:
    """How to run accessdrift from where the demo ran: the command on PATH, else the
    clone's virtualenv (``make install``), else this interpreter's module."""
    if shutil.which("accessdrift"):
        return "accessdrift"
    venv = Path(".venv") / "bin" / "accessdrift"
    if venv.is_file():
        return str(venv)
    return f"{sys.executable} -m accessdrift.cli"


if __name__ == "__main__":
    main(raw="--raw" in sys.argv[1:])
