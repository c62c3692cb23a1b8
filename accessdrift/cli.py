"""The one entry point: `accessdrift COMMAND`."""

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from accessdrift.catalog import RAW_FORMATS
from accessdrift.errors import (
    EXIT_UNAVAILABLE,
    AccessDriftError,
    ConfigError,
    UsageError,
    exit_code,
)

if TYPE_CHECKING:
    from accessdrift.settings import Settings

app = typer.Typer(
    help="accessdrift: catch credentials that outlive the identities they belong to.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="A local single-node Apache Kafka (KRaft) for development and CI.")
app.add_typer(kafka_app, name="kafka")
alerts_app = typer.Typer(help="Alerts to people: the routing file and the deliveries.")
app.add_typer(alerts_app, name="alerts")


def _print_version(wanted: bool) -> None:
    if wanted:
        from accessdrift import __version__

        typer.echo(f"accessdrift {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # Only for --version: a Typer app takes options of its own through its callback.
    pass


@contextmanager
def _progress(verb: str, unit: str) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on stderr while a terminal shows it; None when stderr is piped or a
    file (a log gets no escape sequences). ``unit`` "bytes" shows sizes and a rate; any
    other counts. A total of None (standard input) leaves the bar pulsing."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counted: tuple[ProgressColumn, ...] = (
        (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    )
    with Progress(
        f"{verb}",
        BarColumn(),
        *counted,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(verb, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


T = TypeVar("T")


def _option(name: str, parse: Callable[[], T]) -> T:
    """A command-line value parsed by the code that reads it: its refusal is a usage
    error naming the option (status 2), not the configuration's (78)."""
    try:
        return parse()
    except (ConfigError, ValueError, OverflowError) as error:
        raise UsageError(f"{name}: {error}") from error


# What a message may show of a value: text read from a topic or a file is hostile, and a
# terminal runs the escape sequences it is sent (Click strips them only into a pipe).
_MESSAGE_CHARS = 2000


def _printable(text: str, limit: int = _MESSAGE_CHARS) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown)} characters)"


def _settings() -> "Settings":
    from accessdrift.settings import load_settings

    return load_settings()


@kafka_app.command("up")
def kafka_up(
    brokers: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="1: a single node; N: a KRaft cluster of N nodes on loopback (fault tests)",
        ),
    ] = 1,
) -> None:
    """Fetch the broker jars if needed, start the broker(s), wait until they answer."""
    from accessdrift.kafka.cluster import LocalCluster
    from accessdrift.kafka.local import LocalKafka

    settings = _settings()
    if brokers == 1:
        if LocalCluster.present(settings) and LocalCluster(
            settings, LocalCluster.present(settings)
        ).status().count("running"):
            raise AccessDriftError("a local cluster runs on these ports: `accessdrift kafka down`")
        typer.echo(LocalKafka(settings).up())
    else:
        typer.echo(LocalCluster(settings, brokers).up())


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker, or every node of the local cluster."""
    from accessdrift.kafka.cluster import LocalCluster
    from accessdrift.kafka.local import LocalKafka

    settings = _settings()
    typer.echo(LocalKafka(settings).down())
    if LocalCluster.present(settings):
        typer.echo(LocalCluster(settings, LocalCluster.present(settings)).down())


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker (or each node of the local cluster) runs and answers."""
    from accessdrift.kafka.cluster import LocalCluster
    from accessdrift.kafka.local import LocalKafka

    settings = _settings()
    nodes = LocalCluster.present(settings)
    if nodes and LocalKafka(settings).pid() is None:
        status = LocalCluster(settings, nodes).status()
        typer.echo(status)
        if "stopped" in status or "not answering" in status:
            raise typer.Exit(1)
        return
    status = LocalKafka(settings).status()
    typer.echo(status)
    if not status.startswith(("running", "a broker")):
        raise typer.Exit(1)


@app.command()
def migrate(
    print_only: Annotated[
        bool,
        typer.Option(
            "--print",
            help="Print the statements that create the schema (on ACCESSDRIFT_CLICKHOUSE_CLUSTER "
            "if set) without connecting or running them.",
        ),
    ] = False,
) -> None:
    """Create or upgrade the ClickHouse schema; safe to run twice."""
    from accessdrift.sinks.clickhouse import ClickHouse
    from accessdrift.sinks.migrate import apply_retention, schema_script
    from accessdrift.sinks.migrate import migrate as apply_migrations

    settings = _settings()
    if print_only:
        typer.echo(schema_script(settings.database, settings.clickhouse_cluster), nl=False)
        return
    cluster = settings.clickhouse_cluster
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.database, cluster=cluster)
    applied = apply_migrations(clickhouse, cluster)
    retention = apply_retention(clickhouse, settings.event_ttl, settings.finding_ttl, cluster)
    clickhouse.close()
    where = f"{settings.clickhouse_display} database {settings.database}"
    if applied:
        typer.echo(f"applied {', '.join(applied)} to {where}")
    else:
        typer.echo(f"{where} is up to date")
    for change in retention:
        typer.echo(f"retention: {change}")


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command()
def worker(
    loglevel: Annotated[
        LogLevel, typer.Option("--loglevel", "-l", case_sensitive=False)
    ] = LogLevel.info,
) -> None:
    """Run the Faust worker with every agent."""
    from accessdrift.streams.worker import run_worker

    run_worker(_settings(), loglevel.value)


@app.command()
def notify() -> None:
    """The alert notifier alone (the worker runs one already unless
    ACCESSDRIFT_WORKER_NOTIFIES=false)."""
    import os

    from accessdrift.streams.notify_alone import run_notifier

    logging.getLogger().setLevel(logging.WARNING)
    raise typer.Exit(run_notifier(_settings(), dict(os.environ)))


REPLAY_FORMATS = ("canonical", *RAW_FORMATS)
# The choices of ``replay --format``, from the catalogue: a new raw format's module adds
# one. Built from data, so mypy cannot list the members (it still types the class).
ReplayFormat = StrEnum("ReplayFormat", {name: name for name in REPLAY_FORMATS})  # type: ignore[misc]
DEFAULT_REPLAY_FORMAT = ReplayFormat("canonical")


@app.command()
def replay(
    files: Annotated[
        list[str] | None, typer.Argument(help="files, folders, .gz, or - for stdin")
    ] = None,
    format: Annotated[ReplayFormat, typer.Option("--format", "-f")] = DEFAULT_REPLAY_FORMAT,
    from_deadletters: Annotated[
        bool,
        typer.Option(
            "--from-deadletters",
            help="send what drift.deadletter holds back to the topics it came from",
        ),
    ] = False,
    topic: Annotated[
        str | None,
        typer.Option("--topic", help="with --from-deadletters: only letters from this topic"),
    ] = None,
) -> None:
    """Send files to raw.FORMAT (or the canonical topics); rejects go to drift.deadletter."""
    from accessdrift.commands.replay import replay as replay_files
    from accessdrift.commands.replay import replay_dead_letters

    started = time.monotonic()
    if from_deadletters:
        if files:
            raise typer.BadParameter("--from-deadletters reads the topic, not files")
        summary = replay_dead_letters(_settings(), topic)
        for line in summary.lines():
            typer.echo(line)
        for reason, count in sorted(summary.reasons.items()):
            typer.echo(f"{count:>8} not sent: {reason}")
        return
    if not files:
        raise typer.BadParameter("name files to replay (or --from-deadletters)")
    from accessdrift.commands.sources import expand_paths

    # Before the broker is waited for: a typo in a path is said at once.
    _option("FILES", lambda: expand_paths(files))
    with _progress("replaying", "bytes") as progress:
        summary = replay_files(_settings(), format.value, files, progress)
    elapsed = time.monotonic() - started
    total = sum(summary.sent.values()) + summary.dead_lettered
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"{total} records in {elapsed:.2f}s ({total / max(elapsed, 1e-9):,.0f}/s)")


# Bounds that keep a typo from filling the memory: the simulator holds every event.
MAX_IDENTITIES = 100_000
MAX_BACKGROUND_EVENTS = 10_000_000


class SimulateFormat(StrEnum):
    canonical = "canonical"
    raw = "raw"


def _positive(value: float | None) -> float | None:
    # typer's min is inclusive: a speed of zero means nothing.
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not above 0")
    return value


@app.command()
def simulate(
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="canonical: a JSON lines file, - for stdout; raw: a directory, a file per format",
        ),
    ] = "-",
    output_format: Annotated[
        SimulateFormat,
        typer.Option(
            "--format",
            "-f",
            help="canonical (the contract's records) or raw (CloudTrail, GCP audit, Okta, "
            "Entra, Vault logs and an HR CSV export; inventory links stay canonical)",
        ),
    ] = SimulateFormat.canonical,
    to_kafka: Annotated[
        bool,
        typer.Option("--to-kafka", help="produce to the canonical topics (raw: raw.<format>)"),
    ] = False,
    truth: Annotated[
        Path | None, typer.Option(help="where to write the ground truth (JSON)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 7,
    identities: Annotated[int, typer.Option(min=1, max=MAX_IDENTITIES)] = 200,
    days: Annotated[
        float,
        typer.Option(
            # The hygiene cases' limits (accessdrift/simulate/organisation.py,
            # check_hygiene_options): at least 6 hours, at most a third of the 7 days an
            # account may stay uncorrelated.
            min=0.25,
            max=21.0,
            help="simulated days, 0.25 to 21",
        ),
    ] = 2.0,
    events_per_second: Annotated[
        float, typer.Option(min=0.0, help="background usage, event time")
    ] = 0.1,
    speed: Annotated[
        float | None,
        typer.Option(
            callback=_positive, help="with --to-kafka: 1 = real pace, 60 = a minute a second"
        ),
    ] = None,
    mover_sla: Annotated[
        str | None,
        typer.Option(
            help="the mover SLA the truth is judged with (e.g. 12h); default: "
            "ACCESSDRIFT_MOVER_SLA, so that a worker with the same settings finds the truth"
        ),
    ] = None,
) -> None:
    """A synthetic organisation's event stream, with its ground truth."""
    from accessdrift.durations import parse_duration
    from accessdrift.simulate.organisation import SimulationOptions
    from accessdrift.simulate.organisation import simulate as run_simulation
    from accessdrift.simulate.output import (
        send_to_kafka,
        write_file,
        write_raw_files,
        write_truth,
    )
    from accessdrift.simulate.vendors import CANONICAL, FILE_OF_FORMAT

    raw = output_format is SimulateFormat.raw
    if raw and not to_kafka and output == "-":
        raise UsageError(
            "--format raw writes a file per format: give --output DIRECTORY (or --to-kafka)"
        )
    background = events_per_second * days * 86_400
    if background > MAX_BACKGROUND_EVENTS:
        raise UsageError(
            f"--events-per-second: {events_per_second:g} for {days:g} days is "
            f"{background:,.0f} background events, over {MAX_BACKGROUND_EVENTS:,}"
        )
    options = SimulationOptions(
        seed=seed,
        identities=identities,
        days=days,
        events_per_second=events_per_second,
        mover_sla=(
            _option("--mover-sla", lambda: parse_duration(mover_sla))
            if mover_sla
            else _settings().mover_sla
        ),
    )
    truth_path = _simulate_paths(output, truth, raw, to_kafka)
    simulation = run_simulation(options)
    if truth_path is not None:
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        write_truth(simulation, options, truth_path)
    if to_kafka:
        with _progress("producing records", "records") as progress:
            sent = send_to_kafka(simulation, _settings(), speed, progress, raw=raw)
        for topic, count in sorted(sent.items()):
            typer.echo(f"{count:>8} -> {topic}", err=True)
    elif raw:
        counts = write_raw_files(simulation, Path(output))
        for format_name, count in counts.items():
            path = Path(output) / FILE_OF_FORMAT[format_name]
            replay_format = "canonical" if format_name == CANONICAL else format_name
            typer.echo(
                f"{count:>8} lines -> {path}  (replay --format {replay_format} {path})",
                err=True,
            )
    elif output == "-":
        write_file(simulation, sys.stdout.buffer)
    else:
        with open(output, "wb") as handle:
            count = write_file(simulation, handle)
        typer.echo(f"{count} lines -> {output}", err=True)
    if truth_path is not None:
        typer.echo(
            f"ground truth: {len(simulation.lags)} lag pairs, {len(simulation.alerts)} findings "
            f"-> {truth_path}",
            err=True,
        )


def _simulate_paths(output: str, truth: Path | None, raw: bool, to_kafka: bool) -> Path | None:
    """Where the ground truth goes, once the output is known to be writable: nothing is
    written when the output cannot be (a folder given as a file, a missing parent). The
    truth goes beside a regular output file only, never beside a device (/dev/null)."""
    target = Path(output)
    if not to_kafka and output != "-":
        if raw and target.exists() and not target.is_dir():
            raise UsageError(f"--output: {output!r} is a file; --format raw writes a folder")
        if not raw and target.is_dir():
            raise UsageError(f"--output: {output!r} is a folder; give a file (or -)")
        parent = target if raw else target.parent
        if not raw and not parent.is_dir():
            raise UsageError(f"--output: no folder {str(parent)!r} to write {output!r} in")
    if truth is not None:
        if truth.is_dir():
            raise UsageError(f"--truth: {str(truth)!r} is a folder; give a file")
        return truth
    if output == "-":
        return None
    if raw:
        return target / "truth.json"
    if target.exists() and not target.is_file():
        return None  # a device or a pipe: no truth file beside it
    return Path(f"{output}.truth.json")


class EvaluateFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def evaluate(
    ground_truth: Annotated[Path, typer.Argument(help="the truth file written by simulate")],
    format: Annotated[
        EvaluateFormat, typer.Option("--format", "-f", help="json: the figures as JSON")
    ] = EvaluateFormat.table,
    json_output: Annotated[
        bool, typer.Option("--json", hidden=True, help="deprecated: --format json")
    ] = False,
) -> None:
    """Precision and recall per alert kind, lag error and duplicates against a ground truth."""
    from accessdrift.commands.evaluate import ALERTS_SQL, DUPLICATES_SQL, LAGS_SQL, load_truth
    from accessdrift.commands.evaluate import evaluate as score
    from accessdrift.commands.query import run_query

    settings = _settings()
    truth = _option("GROUND_TRUTH", lambda: load_truth(ground_truth))

    def rows(sql: str) -> list[dict[str, object]]:
        result = run_query(settings, sql)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    duplicates = int(str(rows(DUPLICATES_SQL)[0]["n"]))
    evaluation = score(truth, rows(ALERTS_SQL), rows(LAGS_SQL), duplicates)
    if json_output or format is EvaluateFormat.json:
        import json

        typer.echo(json.dumps(evaluation.as_dict(), indent=1, default=str))
    else:
        typer.echo(f"{'kind':<30} {'expected':>8} {'detected':>8} {'precision':>9} {'recall':>7}")
        for kind, figures in evaluation.as_dict()["alerts"].items():
            typer.echo(
                f"{kind:<30} {figures['expected']:>8} {figures['detected']:>8} "
                f"{figures['precision']:>9.3f} {figures['recall']:>7.3f}"
            )
        lag = evaluation.as_dict()["lags"]
        typer.echo(
            f"{'provisioning lag pairs':<30} {lag['expected']:>8} {lag['detected']:>8} "
            f"{lag['precision']:>9.3f} {lag['recall']:>7.3f}"
        )
        typer.echo(
            f"lag error max {lag['max_error_seconds']}s, status mismatches "
            f"{lag['status_mismatches']}, first-use mismatches {evaluation.used_at_mismatches}, "
            f"duplicates {evaluation.duplicates}"
        )
    if not evaluation.perfect:
        raise typer.Exit(1)


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="one read-only statement")],
    format: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.table,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000_000,
            help="at most this many rows (ClickHouse's max_result_rows, overflow 'break'): "
            "the SQL runs as written",
        ),
    ] = None,
) -> None:
    """Read-only SQL for analysts (through the running worker when it holds the engine)."""
    from accessdrift.commands.query import format_result, run_query

    result = run_query(_settings(), sql, limit)
    sys.stdout.write(format_result(result, format.value))
    if result.truncated and format is not QueryFormat.table:
        typer.echo(f"accessdrift: first {len(result.rows)} rows only (--limit)", err=True)


class AccessFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def access(
    identity_id: Annotated[str, typer.Argument(help="the identity, as the directory names it")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="what it held then: RFC 3339 or 'YYYY-MM-DD HH:MM[:SS]' in UTC "
            "(default: what it holds)",
        ),
    ] = None,
    format: Annotated[AccessFormat, typer.Option("--format", "-f")] = AccessFormat.table,
) -> None:
    """What an identity holds (or held at --at) in every system: accounts, credentials and
    entitlements, from the access ledger (through the running worker when it holds the
    engine). json: one JSON object per row."""
    from accessdrift.commands.access import identity_access, parse_moment
    from accessdrift.commands.query import format_result, run_query

    moment = parse_moment(at) if at is not None else None
    settings = _settings()
    result = identity_access(lambda sql: run_query(settings, sql), identity_id, moment)
    sys.stdout.write(format_result(result, format.value))


class EvidenceFormat(StrEnum):
    json = "json"
    markdown = "markdown"
    html = "html"


class ReportFormat(StrEnum):
    json = "json"
    html = "html"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _moment(text: str, option: str) -> datetime:
    """RFC 3339 with a zone, or a plain date (midnight UTC); a naive time is refused."""
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise UsageError(f"{option}: {text!r} is not a date or an RFC 3339 time") from error
    if moment.tzinfo is None:
        raise UsageError(f"{option}: {text!r} has no time zone (add Z or +00:00)")
    return moment


@app.command()
def evidence(
    identity_id: Annotated[str, typer.Argument(help="the identity, as the directory names it")],
    format: Annotated[EvidenceFormat, typer.Option("--format", "-f")] = EvidenceFormat.json,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="a file")] = None,
) -> None:
    """The audit evidence of one identity: every directory change and, for each, every
    account and credential it had to reach, when, and within its SLA or not."""
    from accessdrift.commands.query import run_query
    from accessdrift.evidence import collect_evidence, to_html, to_json, to_markdown
    from accessdrift.evidence.holdings import Slas

    settings = _settings()
    found = collect_evidence(
        lambda sql: run_query(settings, sql), identity_id, Slas.from_settings(settings)
    )
    render = {"json": to_json, "markdown": to_markdown, "html": to_html}[format.value]
    _write(render(found), output)


@app.command()
def report(
    since: Annotated[str, typer.Option(help="start of the period: 2026-03-01 or RFC 3339")],
    until: Annotated[str, typer.Option(help="end of the period (excluded)")],
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.html,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="a file")] = None,
) -> None:
    """The organisation's report for a period: leavers and their systems, SLA compliance
    per system, the worst cases, open findings."""
    from accessdrift.commands.query import run_query
    from accessdrift.evidence import collect_report, report_to_html, report_to_json
    from accessdrift.evidence.holdings import Slas

    settings = _settings()
    found = collect_report(
        lambda sql: run_query(settings, sql),
        _moment(since, "--since"),
        _moment(until, "--until"),
        Slas.from_settings(settings),
    )
    _write(report_to_json(found) if format is ReportFormat.json else report_to_html(found), output)


@alerts_app.command("test")
def alerts_test(
    destination: Annotated[str, typer.Argument(help="a destination of the routing file")],
) -> None:
    """Send a sample alert to one destination and say what the service answered."""
    from accessdrift.alerts.commands import send_test

    answer = send_test(_settings(), destination)
    said = {"sent": "delivered", "retry": "not delivered, worth retrying", "failed": "refused"}
    status = f"HTTP {answer.http_status}" if answer.http_status else "no answer"
    typer.echo(f"{destination}: {said[answer.outcome]} ({status}) {answer.text}".rstrip())
    if answer.outcome != "sent":
        raise typer.Exit(1)


class IdentityKind(StrEnum):
    human = "human"
    nhi = "nhi"


def _one_of(option: str, value: str, choices: tuple[str, ...]) -> None:
    """Choices known only once their module is imported (the detectors'), checked when the
    command runs: the error on one line, every valid value in it."""
    if value not in choices:
        shown = repr(value[:64])
        raise UsageError(f"{option}: {shown} is not one of {', '.join(choices)}")


@alerts_app.command("routes")
def alerts_routes(
    kind: Annotated[str, typer.Option(help="the alert's kind")] = "used_after_deprovision",
    severity: Annotated[str, typer.Option(help="info, low, medium, high, critical")] = "high",
    identity_kind: Annotated[IdentityKind, typer.Option()] = IdentityKind.human,
    system: Annotated[str | None, typer.Option(help="e.g. aws, okta, vault")] = None,
) -> None:
    """Which destinations such an alert would reach (from the file, offline)."""
    from accessdrift.alerts.commands import destinations_for
    from accessdrift.alerts.severities import SEVERITIES
    from accessdrift.core.detectors import ALERT_KINDS

    _one_of("--kind", kind, tuple(ALERT_KINDS))
    _one_of("--severity", severity, SEVERITIES)
    found = destinations_for(_settings(), kind, severity, identity_kind.value, system)
    typer.echo("\n".join(found) if found else "no destination: no route matches")


@alerts_app.command("status")
def alerts_status() -> None:
    """Deliveries per destination and status (pending, retrying, failed first of all)."""
    from accessdrift.alerts.commands import delivery_status
    from accessdrift.commands.query import format_result

    result = delivery_status(_settings())
    if not result.rows:
        typer.echo("no delivery yet")
        return
    sys.stdout.write(format_result(result, "table"))


@alerts_app.command("silence")
def alerts_silence(
    match: Annotated[
        list[str], typer.Option("--match", help="field=value (repeat: every one must match)")
    ],
    span: Annotated[str, typer.Option("--for", help="how long: 2h, 7d")],
    reason: Annotated[str, typer.Option(help="why: an auditor will read it")],
    by: Annotated[str | None, typer.Option(help="who (default: the login name)")] = None,
) -> None:
    """Hold back the alerts that match from every destination, for a while."""
    import getpass

    from accessdrift.alerts.commands import silence
    from accessdrift.alerts.silences import parse_matchers
    from accessdrift.durations import parse_duration

    _option("--match", lambda: parse_matchers(match))
    _option("--for", lambda: datetime.now(UTC) + parse_duration(span))  # an end that exists
    made = silence(_settings(), match, span, reason, by or getpass.getuser())
    typer.echo(f"silence {made['silence_id']} until {made['ends_at']:%Y-%m-%d %H:%M UTC}")


@alerts_app.command("silences")
def alerts_silences(
    all_: Annotated[bool, typer.Option("--all", help="expired and ended ones too")] = False,
) -> None:
    """The silences: id, matchers, until, who and why."""
    from datetime import UTC, datetime

    from accessdrift.alerts.commands import read_silences
    from accessdrift.alerts.silences import is_active

    now = datetime.now(UTC)
    shown = 0
    for found in sorted(read_silences(_settings()).values(), key=lambda s: s["created_at"]):
        active = is_active(found, now)
        if not active and not all_:
            continue
        matchers = " ".join(f"{k}={v}" for k, v in sorted(found["matchers"].items()))
        state = "active" if active else ("expired" if found["expired_at"] else "ended")
        # The topic is anyone's who may write to it: its text is shown, never run.
        typer.echo(
            _printable(
                f"{found['silence_id']}  {state:7}  until {found['ends_at']:%Y-%m-%d %H:%M}  "
                f"{matchers}  by {found['created_by']}: {found['reason']}"
            )
        )
        shown += 1
    if not shown:
        typer.echo("no silences" if all_ else "no active silences")


@alerts_app.command("expire")
def alerts_expire(
    silence_id: Annotated[str, typer.Argument(help="from `alerts silences`")],
) -> None:
    """End a silence now."""
    from accessdrift.alerts.commands import expire

    ended = expire(_settings(), silence_id)
    typer.echo(f"silence {ended['silence_id']} expired")


def main() -> None:
    from accessdrift.logs import configure_command_logging

    configure_command_logging(app, sys.argv[1:])
    try:
        # Not standalone: Click's own errors (a typo in an option, a value out of its
        # bounds) come here and are printed on one line like ours, not in a box.
        result = app(standalone_mode=False, prog_name="accessdrift")
    except typer.TyperException as error:  # Click's (vendored by Typer) derive from it
        sys.exit(_fail_usage(error))
    except typer.Abort:
        sys.exit(_fail(RuntimeError("aborted"), 1))
    except AccessDriftError as error:
        sys.exit(_fail(error, exit_code(error)))
    except OSError as error:
        # A file the command was told to read or write (a folder, a missing parent, no
        # permission): the system's words name it.
        sys.exit(_fail(error, 1))
    except Exception as error:
        from confluent_kafka import KafkaException

        if not isinstance(error, KafkaException):
            raise  # a defect: its traceback is what a report needs
        # A client's error no code of ours turned into a KafkaError: still a broker that
        # did not serve us.
        sys.exit(_fail(error, EXIT_UNAVAILABLE))
    # typer.Exit and --help come back as their status; a command's callback returns None.
    sys.exit(result if isinstance(result, int) else 0)


def _fail_usage(error: typer.TyperException) -> int:
    """Click's error on one line: which command, what was wrong, where help is."""
    context = getattr(error, "ctx", None)
    where = context.command_path if context is not None else "accessdrift"
    hint = f" (see {where} --help)" if context is not None else ""
    lines = [line.strip() for line in error.format_message().splitlines() if line.strip()]
    if lines:  # no message: the help was the answer (a command run with no arguments)
        typer.echo(_printable(f"{where}: {' '.join(lines)}{hint}"), err=True)
    return error.exit_code


def _fail(error: BaseException, code: int) -> int:
    """One line on stderr, whatever the error's message holds (a ClickHouse message echoes
    the SQL, line breaks and all)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = _printable(" ".join(lines) or type(error).__name__)
    from accessdrift.logs import command_log_format

    if command_log_format() == "json":
        # A log pipeline reads every line as JSON: the last one too.
        logging.getLogger("accessdrift").error(text, extra={"exit_code": code})
    else:
        typer.echo(f"accessdrift: {text}", err=True)
    return code


if __name__ == "__main__":
    main()
