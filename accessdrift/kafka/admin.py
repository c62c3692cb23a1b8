"""Topic administration and readiness checks with confluent-kafka's AdminClient."""

import concurrent.futures
import re
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import KafkaException
from confluent_kafka import admin as confluent_admin
from confluent_kafka.admin import AdminClient

from accessdrift import catalog
from accessdrift.errors import KafkaError
from accessdrift.settings import Settings


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient({**settings.kafka_client_config(), "log_level": 0})


def broker_answers(
    settings: Settings, timeout: float = 2.0, errors: list[str] | None = None
) -> bool:
    """True when the broker answers a metadata request within ``timeout``; what the
    client heard instead (a refused login, a certificate) goes to ``errors``."""
    heard: list[str] = errors if errors is not None else []
    config: dict[str, Any] = {
        **settings.kafka_client_config(),
        "log_level": 0,
        "error_cb": lambda error: heard.append(str(error.str())),
    }
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        admin.poll(0.2)  # serve the client's queued errors (error_cb): the broker's words
        heard.append(str(error.args[0].str()) if error.args else str(error))
        return False
    return bool(metadata.brokers)


def coordinator_ready(settings: Settings, timeout: float = 5.0) -> bool:
    """True when the group coordinator answers: a broker restarted with many consumer
    offsets answers metadata long before it can take a consumer group."""
    admin = admin_client(settings)  # kept referenced: its thread completes the futures
    futures = admin.describe_consumer_groups(
        ["accessdrift-readiness-probe"], request_timeout=timeout
    )
    try:
        for future in futures.values():
            future.result(timeout=timeout)
    except (KafkaException, concurrent.futures.TimeoutError):
        return False
    return True


_REFUSED = re.compile(
    r"authentication failed|sasl authentication error|certificate verify failed", re.I
)


def wait_for_broker(settings: Settings, timeout: float) -> None:
    """Until the broker answers metadata and its group coordinator is loaded."""
    deadline = time.monotonic() + timeout
    heard: list[str] = []
    while time.monotonic() < deadline:
        if broker_answers(settings, timeout=2.0, errors=heard) and coordinator_ready(settings):
            return
        refused = next((text for text in heard if _REFUSED.search(text)), None)
        if refused:  # a refused login or certificate does not get better by waiting
            raise KafkaError(f"the broker at {settings.kafka_bootstrap} refused us: {refused}")
        time.sleep(0.5)
    # The broker's own words, when it said something (a refused login, a TLS failure).
    said = next((text for text in reversed(heard) if "auth" in text.lower()), None) or (
        heard[-1] if heard else None
    )
    raise KafkaError(
        f"no Kafka broker answered at {settings.kafka_bootstrap} within {timeout:.0f}s"
        + (f": {said}" if said else "")
    )


def delete_topics(settings: Settings, prefixes: list[str]) -> list[str]:
    """Delete the topics whose names start with one of ``prefixes`` (tests, demo, bench)."""
    admin = admin_client(settings)
    try:
        names = [
            name
            for name in admin.list_topics(timeout=10).topics
            if any(name.startswith(prefix) for prefix in prefixes if prefix)
        ]
    except KafkaException as error:
        raise KafkaError(f"cannot list topics at {settings.kafka_bootstrap}: {error}") from error
    if not names:
        return []
    for future in admin.delete_topics(names, operation_timeout=30).values():
        try:
            future.result(timeout=60)
        except KafkaException as error:
            raise KafkaError(f"cannot delete topics: {error}") from error
    return names


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: its full name, partitions, and whether it is compacted."""

    name: str
    partitions: int
    compacted: bool = False


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the contract's topics that do not exist yet; return the ones created."""
    wanted = names if names is not None else catalog.all_topics()
    return create_topics(
        settings,
        [
            TopicSpec(settings.topic(name), settings.topic_partitions, name in catalog.COMPACTED)
            for name in wanted
        ],
    )


def create_topics(
    settings: Settings, specs: list[TopicSpec], visible_within: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet, and wait until the broker's metadata
    shows every partition of each with a leader: a consumer group joined right after a
    create can otherwise miss a topic the controller made but the broker has not heard
    of yet, and its partitions stay unassigned until the next metadata refresh (five
    minutes), as a fresh deployment with a partitioned resolver once did. Returns the
    names created."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise KafkaError(f"cannot list topics at {settings.kafka_bootstrap}: {error}") from error
    new_topics = [
        confluent_admin.NewTopic(  # type: ignore[attr-defined]  # untyped re-export
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=settings.topic_replication_factor,
            config={"cleanup.policy": "compact"} if spec.compacted else {},
        )
        for spec in specs
        if spec.name not in existing
    ]
    created = []
    for full_name, future in admin.create_topics(new_topics).items() if new_topics else []:
        try:
            future.result(timeout=30)
            created.append(full_name)
        except KafkaException as error:
            if error.args[0].code() != ConfluentKafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaError(f"cannot create topic {full_name}: {error}") from error
    if new_topics:
        _wait_until_visible(admin, {spec.name: spec.partitions for spec in specs}, visible_within)
    return created


def _wait_until_visible(admin: AdminClient, wanted: dict[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    missing = sorted(wanted)
    while True:
        try:
            metadata = admin.list_topics(timeout=5)
            missing = [
                name
                for name, partitions in wanted.items()
                if (found := metadata.topics.get(name)) is None
                or found.error is not None
                or len(found.partitions) < partitions
                or any(partition.leader < 0 for partition in found.partitions.values())
            ]
        except KafkaException:
            pass  # asked again below, until the deadline
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise KafkaError(
                f"topics created but not visible on the broker within {timeout:.0f}s: "
                + ", ".join(sorted(missing))
            )
        time.sleep(0.2)
