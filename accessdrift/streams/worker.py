"""Starting the worker: topics, schema, the sink, then Faust."""

import asyncio
import gc
import logging
from typing import Any

import faust

from accessdrift import catalog
from accessdrift.alerts.config import load_routing
from accessdrift.errors import ConfigError, KafkaError
from accessdrift.kafka.admin import TopicSpec, create_topics, ensure_topics, wait_for_broker
from accessdrift.logs import faust_logging_config
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.cluster import require_server
from accessdrift.sinks.faults import FaultSwitch
from accessdrift.sinks.migrate import apply_retention, migrate
from accessdrift.streams.app import create_app
from accessdrift.streams.detection import resolve_topic_name
from accessdrift.streams.local_state import check_local_state, record_changelogs
from accessdrift.streams.sink_executor import SinkExecutor
from accessdrift.streams.web_auth import needs_token

log = logging.getLogger("accessdrift.worker")


def internal_topics(settings: Settings, app: faust.App) -> list[TopicSpec]:
    """The topics Faust declares as it starts, created (and seen on the broker) before
    it starts: Faust creates them just before the group's first assignment, and a topic
    the broker's metadata does not show yet is left out of it (``create_topics``)."""
    specs = [
        TopicSpec(resolve_topic_name(settings), settings.resolver_partitions),
        TopicSpec(settings.topic(catalog.IDENTITY), settings.topic_partitions),
        TopicSpec(f"{settings.app_id}-__assignor-__leader", 1),
    ]
    for table in app.tables.values():
        changelog = table.changelog_topic
        specs.append(
            TopicSpec(
                changelog.get_topic_name(),
                changelog.partitions or settings.topic_partitions,
                compacted=True,
            )
        )
    return specs


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    if needs_token(settings.worker_web_host) and settings.worker_token is None:
        raise ConfigError(
            f"the worker would serve on {settings.worker_web_host}, reachable from other "
            "hosts, without a token: set ACCESSDRIFT_WORKER_TOKEN (or bind to 127.0.0.1)"
        )
    # A bad routing file is refused before anything starts, with its line.
    routing = (
        load_routing(settings.alert_routes, secrets_dirs=settings.alert_secrets_dirs)
        if settings.alert_routes
        else None
    )
    # Before the broker is waited for: the configuration alone says it cannot work.
    require_server(settings.clickhouse_cluster, settings.clickhouse_is_embedded)
    wait_for_broker(settings, timeout=30)
    created = ensure_topics(settings)
    clickhouse = ClickHouse(
        settings.clickhouse_dsn,
        settings.database,
        settings.query_limits,
        FaultSwitch(settings.fault_file) if settings.fault_file else None,
        cluster=settings.clickhouse_cluster,
    )
    applied = migrate(clickhouse, settings.clickhouse_cluster)
    apply_retention(
        clickhouse, settings.event_ttl, settings.finding_ttl, settings.clickhouse_cluster
    )
    app = create_app(settings, SinkExecutor(clickhouse), routing)
    created += create_topics(settings, internal_topics(settings, app))
    changelogs = sorted(table.changelog_topic.get_topic_name() for table in app.tables.values())
    check_local_state(settings, changelogs)
    settings.state_dir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last
    log.warning(
        "accessdrift worker: deployment %r (app id %s), kafka %s, clickhouse %s, "
        "topics created %s, migrations applied %s, alerts to %s",
        settings.topic_prefix,
        settings.app_id,
        settings.kafka_bootstrap,
        settings.clickhouse_display,
        created or "none",
        applied or "none",
        (
            "no one (ACCESSDRIFT_ALERT_ROUTES unset)"
            if routing is None
            else sorted(routing.destinations)
            if settings.worker_notifies
            else "`accessdrift notify` (ACCESSDRIFT_WORKER_NOTIFIES=false)"
        ),
    )

    async def quiet_libraries() -> None:
        # The Kafka client logs every request at DEBUG: with the root at a lower
        # level that costs a tenth of the worker's time.
        for name in ("aiokafka", "kafka", "faust", "mode"):
            logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))

    app.task(quiet_libraries)

    @app.on_rebalance_complete.connect
    async def record_state_origin(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # The tables are recovered and their changelogs exist: say beside the state
        # which topics it is read from (accessdrift/streams/local_state.py).
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, record_changelogs, settings, changelogs
            )
        except KafkaError as error:  # no record: the next start rebuilds, nothing worse
            log.warning("could not record the changelogs' ids: %s", error)

    # Streams allocate many short-lived objects and few cycles: collect less often.
    gc.set_threshold(50_000, 20, 20)
    worker = faust.Worker(
        app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
        # Faust replaces the root logger's handlers: with ACCESSDRIFT_LOG_FORMAT=json its
        # records and ours are JSON lines (None keeps Faust's text).
        logging_config=faust_logging_config(
            settings.log_format, settings.topic_prefix, settings.app_id, loglevel
        ),
    )
    worker.execute_from_commandline()
