"""The Faust app: agents decode, hand records to the sink (and, later, the core), and route.

Every agent runs with concurrency 1: with more, faust-streaming can commit an
offset past an event still being processed (faust-streaming issue 606).
"""

import asyncio
import logging
import os
import ssl
from collections import Counter
from collections.abc import Mapping
from typing import Any, TypeVar

import faust
import mode

from accessdrift.alerts.config import Routing
from accessdrift.settings import Settings
from accessdrift.streams.detection import register_detection, resolve_topic_name
from accessdrift.streams.ingest import BatchIngest
from accessdrift.streams.normalize import register_normalizers
from accessdrift.streams.notifier import Notifier
from accessdrift.streams.sink_executor import SinkExecutor
from accessdrift.streams.threads import StageThread
from accessdrift.streams.web import register_views

log = logging.getLogger("accessdrift.worker")

T = TypeVar("T")

SINK_RETRY_MAX_SECONDS = 30.0
PRODUCER_BUFFER_MESSAGES = 5000
STREAM_BUFFER_BUNDLES = 64
GROUP_SESSION_TIMEOUT_SECONDS = 15.0


def idempotent_faust_producer() -> None:
    """Faust asks aiokafka for an idempotent producer only under exactly_once; with
    at-least-once, acks=all and retries, a broker failover can still write a bundle
    twice. Its producer's extra settings, for every processing guarantee: idempotent."""
    from faust.transport.drivers import aiokafka as driver

    def settings_extra(self: Any) -> Mapping[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    driver.Producer._settings_extra = settings_extra  # type: ignore[method-assign]


def create_app(settings: Settings, sink: SinkExecutor, routing: Routing | None = None) -> faust.App:
    idempotent_faust_producer()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=_faust_credentials(settings),
        store=settings.state_store,
        datadir=str(settings.state_dir),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_host,
        web_in_thread=False,
        # Faust's table and router views answer any key of any table: off.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Every message on the internal topics is a bundle of up to 256 KB (hundreds
        # of records): a few dozen per stream are plenty of work in hand, and a bound
        # on memory. With 16,384 the resolver ran ahead of the identity stage and the
        # worker buffered gigabytes of bundles (seen in the soak): back-pressure now
        # pauses the fetch instead.
        broker_max_poll_records=STREAM_BUFFER_BUNDLES,
        stream_buffer_maxsize=STREAM_BUFFER_BUNDLES,
        producer_linger_ms=5,
        broker_commit_interval=1.0,
        # A worker killed without leaving its group holds its partitions until the
        # session times out (Faust's default: 60 s); its replacement waits that long.
        broker_session_timeout=GROUP_SESSION_TIMEOUT_SECONDS,
        broker_heartbeat_interval=GROUP_SESSION_TIMEOUT_SECONDS / 5,
    )
    # Faust stops delivering every message of every topic while its producer buffer
    # holds more than 100 (table changelog writes, bundles), and drains it one
    # message and one asyncio.wait_for at a time: with one state write per identity
    # per batch, that stall was most of the detection latency. The buffer drains
    # continuously on its own task; a deeper one lets the stream go on meanwhile.
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MESSAGES

    counts: Counter[str] = Counter()  # processed per stage, served on /stats/
    register_detection(app, settings, counts)
    resolve_topic = resolve_topic_name(settings)

    # The canonical topics and the findings are read by two batch ingests
    # (accessdrift/streams/ingest.py), not by agents: Faust keeps the internal topics.
    ingest, findings = (
        BatchIngest(
            settings,
            sink.insert_blocking,
            sink.positions_blocking,
            resolve_topic,
            counts,
            forward=forward,
        )
        for forward in (True, False)
    )
    register_stage_thread(app, ingest)
    register_stage_thread(app, findings)

    notifier = None
    if routing is not None and settings.worker_notifies:
        notifier = Notifier(
            settings, routing, sink.insert_blocking, sink.deliveries_blocking, counts, os.environ
        )
        register_stage_thread(app, notifier)

    def healthy() -> bool:
        threads = [ingest, findings] + ([notifier] if notifier is not None else [])
        return all(thread.alive and thread.failure is None for thread in threads)

    register_normalizers(app, settings, counts)
    register_views(app, settings, sink, counts, healthy)
    return app


def register_stage_thread(app: faust.App, stage: StageThread) -> None:
    """Started and stopped with the worker. If it fails, the worker stops: running on
    without reading the inputs (or without notifying) would look healthy and do
    nothing; a supervisor restarts it from the committed offsets."""

    @app.service
    class StageService(mode.Service):
        async def on_start(self) -> None:
            stage.start()
            self.add_future(self._watch())

        async def _watch(self) -> None:
            while not self.should_stop:
                await asyncio.sleep(1.0)
                if stage.failure is not None:
                    log.critical(
                        "%s failed, the worker stops: %s", type(stage).__name__, stage.failure
                    )
                    os._exit(70)

        async def on_stop(self) -> None:
            await asyncio.get_running_loop().run_in_executor(None, stage.stop)


def _faust_credentials(settings: Settings) -> Any:
    """Faust (aiokafka) credentials from the same settings librdkafka uses."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        ssl_context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        )
        if settings.kafka_ssl_certfile:
            ssl_context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
                password=(
                    settings.kafka_ssl_key_password.get_secret_value()
                    if settings.kafka_ssl_key_password
                    else None
                ),
            )
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    if mechanism == "PLAIN":
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            ssl_context=ssl_context,
        )
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "",
        password=password,
        ssl_context=ssl_context,
        mechanism=mechanism,
    )
