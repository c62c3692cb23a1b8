"""`accessdrift notify`: the notifier without the worker, for those who scale it apart.

It joins the same consumer group as the worker's notifier (``<app id>.notifier``):
run it beside workers started with ``ACCESSDRIFT_WORKER_NOTIFIES=false``, or beside
workers that notify too, and Kafka shares ``drift.alerts``'s partitions between them.
Its delivery state goes to the ClickHouse it is given: with several processes that
is a ClickHouse server (``ACCESSDRIFT_CLICKHOUSE_URL=http(s)://...``); the embedded
engine opens a folder for one process only, so with it a separate notifier needs a
data folder of its own and keeps its own ``alert_deliveries``.
"""

import logging
import signal
import threading
from collections import Counter
from typing import Any

from accessdrift.errors import ClickHouseError, ConfigError
from accessdrift.kafka.admin import ensure_topics, wait_for_broker
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import migrate
from accessdrift.streams.notifier import Notifier
from accessdrift.streams.sink_executor import SinkExecutor

log = logging.getLogger("accessdrift.notifier")


def run_notifier(settings: Settings, environ: dict[str, str]) -> int:
    from accessdrift.alerts.config import load_routing

    if settings.alert_routes is None:
        raise ConfigError("ACCESSDRIFT_ALERT_ROUTES is not set: there is nothing to notify")
    routing = load_routing(settings.alert_routes, environ, secrets_dirs=settings.alert_secrets_dirs)
    wait_for_broker(settings, timeout=30)
    ensure_topics(settings)
    try:
        clickhouse = ClickHouse(
            settings.clickhouse_dsn,
            settings.database,
            settings.query_limits,
            cluster=settings.clickhouse_cluster,
        )
    except ClickHouseError as error:
        if settings.clickhouse_is_embedded:
            raise ConfigError(
                f"{error}. A running worker holds this embedded engine (and notifies "
                "already, by default): give `accessdrift notify` a ClickHouse server "
                "(ACCESSDRIFT_CLICKHOUSE_URL=http://...) or a data folder of its own"
            ) from error
        raise
    migrate(clickhouse, settings.clickhouse_cluster)
    sink = SinkExecutor(clickhouse)
    counts: Counter[str] = Counter()
    notifier = Notifier(
        settings, routing, sink.insert_blocking, sink.deliveries_blocking, counts, environ
    )
    stop = threading.Event()

    def on_signal(number: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.warning(
        "accessdrift notify: deployment %r, alerts to %s, deliveries in %s",
        settings.topic_prefix,
        sorted(routing.destinations),
        settings.clickhouse_display,
    )
    notifier.start()
    while not stop.wait(1.0):
        if notifier.failure is not None or not notifier.alive:
            log.critical("notifier failed: %s", notifier.failure)
            return 70
    notifier.stop()
    clickhouse.close()
    return 0
