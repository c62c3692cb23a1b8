"""The Faust app: agents decode, hand records to the sink (and, later, the core), and route.

Every agent runs with concurrency 1: with more, faust-streaming can commit an
offset past an event still being processed (faust-streaming issue 606).
"""

import asyncio
import logging
import os
import ssl
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import faust
import mode

from accessdrift.errors import ClickHouseError, RecordError, RecordTooLarge
from schemas.codec import codec_for
from sinks.clickhouse import ClickHouse
from sinks.rows import ALL_TABLES, EVENT_TABLES, dedup_token, to_rows
from streams import topics
from streams.bundles import pack_records_chunks
from streams.deadletters import send_dead_letter
from streams.detection import RESOLVE_TOPIC, register_detection
from streams.ingest import CanonicalIngest
from streams.normalize import register_normalizers
from streams.settings import Settings
from streams.web import register_views

log = logging.getLogger("accessdrift.worker")

T = TypeVar("T")

SINK_RETRY_MAX_SECONDS = 30.0
PRODUCER_BUFFER_MESSAGES = 5000


class SinkExecutor:
    """Runs every ClickHouse call on one thread, so the event loop never blocks on it.

    The embedded engine lives in this process; one thread keeps its use serial.
    """

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse = clickhouse
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def insert_blocking(
        self, table: str, rows: list[list[Any]], columns: tuple[str, ...], token: str
    ) -> None:
        """From another thread (the canonical ingest): on the ClickHouse thread, and wait."""
        self._executor.submit(self.clickhouse.insert, table, rows, columns, token).result()

    async def insert_until_done(
        self, table: str, rows: list[list[Any]], columns: tuple[str, ...], token: str
    ) -> None:
        """Retry with backoff until ClickHouse takes the batch: the stream waits, loses nothing."""
        delay = 0.5
        while True:
            try:
                await self.run(self.clickhouse.insert, table, rows, columns, token)
                return
            except ClickHouseError as error:
                log.error("insert into %s failed, retrying in %.1fs: %s", table, delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, SINK_RETRY_MAX_SECONDS)


def create_app(settings: Settings, sink: SinkExecutor) -> faust.App:
    app = faust.App(
        settings.worker_id,
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=_faust_credentials(settings),
        store=settings.state_store,
        datadir=str(settings.data_dir / "worker"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_host,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Throughput: bigger fetches and buffers, and a few ms of linger so that
        # internal bundles and changelog writes share produce requests.
        broker_max_poll_records=5000,
        stream_buffer_maxsize=16384,
        producer_linger_ms=5,
        broker_commit_interval=1.0,
    )
    # Faust stops delivering every message of every topic while its producer buffer
    # holds more than 100 (table changelog writes, bundles), and drains it one
    # message and one asyncio.wait_for at a time: with one state write per identity
    # per batch, that stall was most of the detection latency. The buffer drains
    # continuously on its own task; a deeper one lets the stream go on meanwhile.
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MESSAGES
    deadletter_topic = app.topic(
        settings.topic(topics.DEADLETTER), key_serializer="raw", value_serializer="raw"
    )

    counts: Counter[str] = Counter()  # processed per stage, served on /stats/
    resolve_topic = register_detection(app, settings, counts)
    resolve_topic_name = settings.topic(RESOLVE_TOPIC)

    def make_sink_agent(record_name: str, topic_name: str) -> None:
        spec = ALL_TABLES[record_name]
        forward = record_name in EVENT_TABLES  # inputs also go on to the detection core
        codec = codec_for(record_name)
        source = app.topic(settings.topic(topic_name), key_serializer="raw", value_serializer="raw")

        async def sink_agent(stream: faust.StreamT[bytes]) -> None:
            # take_events is on the concrete Stream, not on its interface.
            async for events in cast(faust.Stream[bytes], stream).take_events(
                settings.sink_batch_size, within=settings.sink_flush_interval.total_seconds()
            ):
                records = []
                payloads = []
                forwarded: list[tuple[str, bytes]] = []
                for event in events:
                    value = event.message.value
                    try:
                        if not isinstance(value, bytes):
                            raise RecordError("empty record (tombstone or null value)")
                        if len(value) > settings.max_record_bytes:
                            raise RecordTooLarge(
                                f"record of {len(value)} bytes over the cap of "
                                f"{settings.max_record_bytes}"
                            )
                        records.append(codec.decode_dict(value))
                        payloads.append(value)
                    except RecordError as error:
                        await send_dead_letter(deadletter_topic, event, error, stage="sink")
                        continue
                    if forward:
                        source = f"{record_name}|{event.message.topic}|{event.message.partition}"
                        forwarded.append((source, value))
                if forwarded:
                    for bundle in pack_records_chunks(forwarded):
                        resolve_topic.send_soon(value=bundle)
                counts[f"sink:{spec.table}"] += len(records)
                if records:
                    await sink.insert_until_done(
                        spec.table,
                        to_rows(spec, records),
                        spec.columns,
                        dedup_token(spec.table, payloads),
                    )

        sink_agent.__name__ = f"sink_{spec.table}"
        app.agent(source, name=f"sink_{spec.table}", concurrency=1)(sink_agent)

    # The canonical topics are read by the batch ingest (streams/ingest.py), not by agents.
    ingest = CanonicalIngest(settings, sink.insert_blocking, resolve_topic_name, counts)

    @app.service
    class CanonicalIngestService(mode.Service):
        async def on_start(self) -> None:
            ingest.start()
            self.add_future(self._watch())

        async def _watch(self) -> None:
            while not self.should_stop:
                await asyncio.sleep(1.0)
                if ingest.failure is not None:
                    # Running on without reading the inputs would look healthy and do
                    # nothing: stop, so that a supervisor restarts from committed offsets.
                    log.critical("canonical ingest failed, the worker stops: %s", ingest.failure)
                    os._exit(70)

        async def on_stop(self) -> None:
            await asyncio.get_running_loop().run_in_executor(None, ingest.stop)

    make_sink_agent("ProvisioningLag", topics.DRIFT_LAG)
    make_sink_agent("Alert", topics.DRIFT_ALERTS)

    register_normalizers(app, settings, counts)
    register_views(app, sink, counts)
    return app


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
