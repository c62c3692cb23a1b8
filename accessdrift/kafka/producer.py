"""A batched, idempotent confluent-kafka producer whose every delivery is checked."""

from collections import Counter
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import Message, Producer

from accessdrift.errors import KafkaError
from accessdrift.settings import Settings


def produce_when_room(producer: Producer, topic: str, value: bytes, **options: Any) -> None:
    """``producer.produce``, waiting while librdkafka's local queue is full: some
    deliveries go out first (the batch ingest's producer, whose every send is
    acknowledged by ``flush`` before its offsets move)."""
    while True:
        try:
            producer.produce(topic, value=value, **options)
            return
        except BufferError:
            producer.poll(0.1)


class DeliveryCheck:
    """Delivery reports of a producer that queues many records and flushes once (the
    batch ingest's, as its ``on_delivery``): a record librdkafka gave up on (its
    message timeout passed, the broker refused it) leaves the queue like a delivered
    one, so ``flush`` returning 0 does not say it arrived; this does, before offsets
    move past what it carried."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.failed = 0

    def on_delivery(self, error: ConfluentKafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            if len(self.failures) < 3:
                self.failures.append(f"{message.topic()}[{message.partition()}]: {error.str()}")

    def raise_if_failed(self, what: str) -> None:
        """Raise (and start again) when a record queued since the last call was lost."""
        failed, failures = self.failed, self.failures
        self.failed, self.failures = 0, []
        if failed:
            raise KafkaError(
                f"{failed} {what} not delivered, so their offsets are not committed: "
                + "; ".join(failures)
            )


class CheckedProducer:
    """Counts deliveries per topic; ``close`` raises if any record was not delivered."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.delivered: Counter[str] = Counter()
        self.failures: list[str] = []
        self._producer = Producer(
            {
                **settings.kafka_client_config(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "batch.num.messages": 10000,
                "compression.type": "lz4",
                "message.max.bytes": max(settings.max_record_bytes + 65536, 1_000_000),
            }
        )

    def _on_delivery(self, error: ConfluentKafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures.append(f"{message.topic()}: {error.str()}")
        else:
            self.delivered[message.topic() or "?"] += 1

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                # The local queue is full: let librdkafka deliver some before adding more.
                self._producer.poll(0.1)
        self._producer.poll(0)

    def close(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise KafkaError(
                f"{remaining} records not delivered to {self.settings.kafka_bootstrap} "
                f"within {timeout:.0f}s"
            )
        if self.failures:
            raise KafkaError(
                f"{len(self.failures)} records were refused by Kafka; first: {self.failures[0]}"
            )

    def __enter__(self) -> "CheckedProducer":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._producer.flush(10)
