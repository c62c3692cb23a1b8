"""The one entry point: `accessdrift COMMAND`."""

import logging
import sys
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from accessdrift.errors import AccessDriftError

if TYPE_CHECKING:
    from streams.settings import Settings

app = typer.Typer(
    help="accessdrift: catch credentials that outlive the identities they belong to.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="A local single-node Apache Kafka (KRaft) for development and CI.")
app.add_typer(kafka_app, name="kafka")


def _settings() -> "Settings":
    from streams.settings import load_settings

    return load_settings()


@kafka_app.command("up")
def kafka_up() -> None:
    """Fetch the broker jars if needed, start the broker, wait until it answers."""
    from accessdrift.local_kafka import LocalKafka

    typer.echo(LocalKafka(_settings()).up())


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker."""
    from accessdrift.local_kafka import LocalKafka

    typer.echo(LocalKafka(_settings()).down())


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs and answers."""
    from accessdrift.local_kafka import LocalKafka

    status = LocalKafka(_settings()).status()
    typer.echo(status)
    if not status.startswith(("running", "a broker")):
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Create or upgrade the ClickHouse schema; safe to run twice."""
    from sinks.clickhouse import ClickHouse
    from sinks.migrate import migrate as apply_migrations

    settings = _settings()
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    applied = apply_migrations(clickhouse)
    clickhouse.close()
    where = f"{settings.clickhouse_display} database {settings.clickhouse_database}"
    if applied:
        typer.echo(f"applied {', '.join(applied)} to {where}")
    else:
        typer.echo(f"{where} is up to date")


@app.command()
def worker(
    loglevel: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run the Faust worker with every agent."""
    from streams.worker import run_worker

    run_worker(_settings(), loglevel)


class ReplayFormat(StrEnum):
    canonical = "canonical"
    cloudtrail = "cloudtrail"
    okta = "okta"
    vault = "vault"
    gcp_audit = "gcp-audit"
    entra_audit = "entra-audit"
    scim = "scim"
    hr_csv = "hr-csv"


@app.command()
def replay(
    files: Annotated[list[str], typer.Argument(help="files, folders, .gz, or - for stdin")],
    format: Annotated[ReplayFormat, typer.Option("--format", "-f")] = ReplayFormat.canonical,
) -> None:
    """Send files to raw.FORMAT (or the canonical topics); rejects go to drift.deadletter."""
    from accessdrift.replay import replay as replay_files

    started = time.monotonic()
    summary = replay_files(_settings(), format.value, files)
    elapsed = time.monotonic() - started
    total = sum(summary.sent.values()) + summary.dead_lettered
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"{total} records in {elapsed:.2f}s ({total / max(elapsed, 1e-9):,.0f}/s)")


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="one read-only statement")],
    format: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.table,
) -> None:
    """Read-only SQL for analysts (through the running worker when it holds the engine)."""
    from accessdrift.query import format_result, run_query

    result = run_query(_settings(), sql)
    sys.stdout.write(format_result(result, format.value))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except AccessDriftError as error:
        typer.echo(f"accessdrift: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
