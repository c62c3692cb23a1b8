"""Starting the worker: topics, schema, the sink, then Faust."""

import logging

import faust

from accessdrift.kafka_admin import ensure_topics, wait_for_broker
from sinks.clickhouse import ClickHouse
from sinks.migrate import migrate
from streams.app import SinkExecutor, create_app
from streams.settings import Settings

log = logging.getLogger("accessdrift.worker")


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    wait_for_broker(settings, timeout=30)
    created = ensure_topics(settings)
    clickhouse = ClickHouse(settings.clickhouse_dsn, settings.clickhouse_database)
    applied = migrate(clickhouse)
    app = create_app(settings, SinkExecutor(clickhouse))
    log.warning(
        "accessdrift worker: kafka %s, clickhouse %s, topics created %s, migrations applied %s",
        settings.kafka_bootstrap,
        settings.clickhouse_display,
        created or "none",
        applied or "none",
    )
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
