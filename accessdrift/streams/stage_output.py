"""What a detection stage sends and the state it writes, at a cost per batch, not per key.

Faust's tables write each changed key to RocksDB and send it to the changelog
through Faust's producer, one Python-level send, callback and offset write per
key: with one changed identity per event that was most of the worker's event
loop, and the detection core a tenth of it. A stage here hands its whole
batch's output to librdkafka (bundles, findings, then the changelog records of
the keys it changed), waits once for the broker, and writes RocksDB in one
``WriteBatch`` per partition with the changelog offset Faust recovers from.

What Faust keeps: the tables themselves (their changelog topics, standby
replicas, recovery on every rebalance, the persisted offset in each partition's
RocksDB), the agents and the consumer group. The changelog records are those
Faust writes (the store's own key and value encoding, the same partition), so
Faust's recovery reads them as its own.

Order, for at-least-once after a kill: a batch's bundles and findings reach the
broker before its changelog records (``deliver``, then ``write_state``), those
before RocksDB, and all of it before the batch is acknowledged; a batch read
again after a crash sends again what is folded downstream by the sinks' keys
and ``alert_id``.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import Message, Producer

from accessdrift import catalog
from accessdrift.catalog import RecordSpec
from accessdrift.errors import KafkaError
from accessdrift.schemas.codec import Codec, codec_for
from accessdrift.settings import Settings

# Kafka's and aiokafka's default partitioner for keyed records (murmur2): a key goes
# to the partition Faust and every Java client would have chosen for it.
PARTITIONER = "murmur2_random"


@dataclass
class Deliveries:
    """The outcome of one batch's sends, filled in by librdkafka's delivery reports."""

    pending: int = 0
    errors: list[str] = field(default_factory=list)
    last_offset: dict[tuple[str, int], int] = field(default_factory=dict)

    def on_delivery(self, error: ConfluentKafkaError | None, message: Message) -> None:
        self.pending -= 1
        if error is not None:
            self.errors.append(f"{message.topic()}[{message.partition()}]: {error.str()}")
            return
        where = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        if offset > self.last_offset.get(where, -1):
            self.last_offset[where] = offset


class StageOutput:
    """One stage's producer: ``send`` any number of records, ``await deliver()`` once."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.name = name
        self._producer = Producer(
            {
                **settings.kafka_client_config(),
                "client.id": f"{settings.app_id}-{name}",
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "compression.type": "lz4",
                "partitioner": PARTITIONER,
                "message.max.bytes": max(settings.max_record_bytes + 65536, 1_000_000),
            }
        )
        # flush() waits for the broker with the GIL released, off the event loop.
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-deliver")
        self._batch = Deliveries()

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, partition: int | None = None
    ) -> None:
        batch = self._batch
        batch.pending += 1
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, on_delivery=batch.on_delivery)
                else:
                    self._producer.produce(
                        topic, value, key, partition=partition, on_delivery=batch.on_delivery
                    )
                return
            except BufferError:
                self._producer.poll(0.05)  # librdkafka's queue is full: let it drain

    async def deliver(self) -> Deliveries:
        """Wait until the broker has every record sent since the last call; raise if one failed."""
        batch, self._batch = self._batch, Deliveries()
        if batch.pending:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._waiter, self._flush, batch)
        if batch.errors:
            raise KafkaError(
                f"the {self.name} stage could not deliver {len(batch.errors)} records: "
                + "; ".join(batch.errors[:3])
            )
        return batch

    def _flush(self, batch: Deliveries) -> None:
        # flush() serves every delivery report; it returns once nothing is in flight
        # (a broker down means librdkafka retries until message.timeout.ms).
        while batch.pending > 0:
            self._producer.flush(1.0)

    async def write_state(self, table: Any, changed: Mapping[int, Mapping[str, Any]]) -> int:
        """The changed keys of a Faust table, per partition: to its changelog, then its store."""
        store = table.data
        topic = table.changelog_topic.get_topic_name()
        encoded: dict[int, list[tuple[bytes, bytes]]] = {}
        for partition, values in changed.items():
            rows = encoded[partition] = []
            for key, value in values.items():
                key_bytes, value_bytes = changelog_record(key, value)
                rows.append((key_bytes, value_bytes))
                self.send(topic, value_bytes, key_bytes, partition)
        batch = await self.deliver()
        written = 0
        for partition, rows in encoded.items():
            written += len(rows)
            offset = batch.last_offset.get((topic, partition))
            write_store(store, partition, changed[partition], rows, offset)
        return written

    def close(self) -> None:
        self._producer.flush(30)
        self._waiter.shutdown(wait=False)


def changelog_record(key: str, value: Any) -> tuple[bytes, bytes]:
    """The bytes Faust's own "json" key and value serializers write for a table's key and
    state (Faust's json is orjson, with these options), without its per-value lookups."""
    return orjson.dumps(key), orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def read_state(table: Any, partition: int, key: str) -> Any:
    """One key's state, from the partition the stage knows it is in, as ``write_store``
    wrote it; None when it has none. One RocksDB get: Faust's own read of a key it has
    not seen this run looks in every partition's database, twice (``in``, then the
    get), and a new identity is such a key (a tenth of the worker's time in a soak of
    100,000 identities). Decoded with orjson, as Faust's json serializer does, without
    its search of every dict for a model to rebuild (states are plain dicts)."""
    store = table.data
    if hasattr(store, "_db_for_partition"):
        raw = store._db_for_partition(partition).get(orjson.dumps(key))
        return None if raw is None else orjson.loads(raw)
    return store.data.get(key)  # the memory store keeps keys and values decoded


def write_store(
    store: Any,
    partition: int,
    values: Mapping[str, Any],
    rows: list[tuple[bytes, bytes]],
    offset: int | None,
) -> None:
    """One partition's rows into a Faust store: RocksDB in one WriteBatch with the changelog
    offset that recovery starts after; the memory store (tests, ``memory://``) as a dict."""
    if hasattr(store, "_db_for_partition"):
        import rocksdict

        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in rows:
            batch.put(key, value)
            store._key_index[key] = partition
        if offset is not None:
            batch.put(store.offset_key, str(offset).encode())
        store._db_for_partition(partition).write(batch)
        return
    for name, state in values.items():  # the memory store keeps keys and values decoded
        store.data[name] = state
        store._key_partition[name] = partition


@dataclass(frozen=True)
class FindingOutput:
    """Where the rows of one list of a ``Result`` go: their record's topic, prefixed, with
    its codec and the catalogue's key."""

    result_list: str
    topic: str
    spec: RecordSpec
    codec: Codec

    @classmethod
    def of(cls, result_list: str, record: str, topic_name: Callable[[str], str]) -> "FindingOutput":
        spec = catalog.RECORD[record]
        return cls(result_list, topic_name(spec.topic), spec, codec_for(record))

    def send(self, output: StageOutput, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            output.send(self.topic, self.codec.encode_dict(row), self.spec.key_of(row).encode())
