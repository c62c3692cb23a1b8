"""Topic administration and readiness checks with confluent-kafka's AdminClient."""

import time

from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import KafkaException
from confluent_kafka import admin as confluent_admin
from confluent_kafka.admin import AdminClient

from accessdrift.errors import KafkaError
from streams import topics
from streams.settings import Settings


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient({**settings.kafka_client_config(), "log_level": 0})


def broker_answers(settings: Settings, timeout: float = 2.0) -> bool:
    """True when the broker answers a metadata request within ``timeout``."""
    try:
        metadata = admin_client(settings).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def wait_for_broker(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker_answers(settings, timeout=2.0):
            return
        time.sleep(0.5)
    raise KafkaError(
        f"no Kafka broker answered at {settings.kafka_bootstrap} within {timeout:.0f}s"
    )


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the contract's topics that do not exist yet; return the ones created."""
    wanted = names if names is not None else topics.all_topics()
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise KafkaError(f"cannot list topics at {settings.kafka_bootstrap}: {error}") from error
    new_topics = []
    for name in wanted:
        full_name = settings.topic(name)
        if full_name in existing:
            continue
        config = {"cleanup.policy": "compact"} if name in topics.COMPACTED else {}
        new_topics.append(
            confluent_admin.NewTopic(  # type: ignore[attr-defined]  # untyped re-export
                full_name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                config=config,
            )
        )
    created = []
    for full_name, future in admin.create_topics(new_topics).items() if new_topics else []:
        try:
            future.result(timeout=30)
            created.append(full_name)
        except KafkaException as error:
            if error.args[0].code() != ConfluentKafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaError(f"cannot create topic {full_name}: {error}") from error
    return created
