"""`accessdrift alerts ...`: what a person runs to check the routing file and the
deliveries."""

import os
import time
from datetime import UTC, datetime, timedelta

from accessdrift import catalog
from accessdrift.alerts.config import Routing, load_routing
from accessdrift.alerts.deliver import post_alerts
from accessdrift.alerts.route import targets
from accessdrift.alerts.send import Answer
from accessdrift.alerts.silences import Silence, expired, latest, new_silence, parse_matchers
from accessdrift.commands.query import run_query
from accessdrift.durations import parse_duration
from accessdrift.errors import ConfigError, KafkaUnavailable
from accessdrift.kafka.admin import ensure_topics
from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from accessdrift.sinks.clickhouse import QueryResult


def routing_of(settings: Settings) -> Routing:
    if settings.alert_routes is None:
        raise ConfigError("ACCESSDRIFT_ALERT_ROUTES is not set: no alert goes to anyone")
    return load_routing(settings.alert_routes, secrets_dirs=settings.alert_secrets_dirs)


def sample_alert() -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "alert_id": f"test-{now.strftime('%Y%m%dT%H%M%S')}",
        "kind": "used_after_deprovision",
        "severity": "critical",
        "identity_id": "sample-identity",
        "identity_kind": "human",
        "account_id": "aws:111122223333:user/sample",
        "credential_id": "aws:key/AKIASAMPLE0000000000",
        "deprovisioned_at": now - timedelta(hours=2),
        "used_at": now - timedelta(minutes=5),
        "seconds_after": 6900.0,
        "system": "aws",
        "action": "s3:GetObject",
        "source_ip": "192.0.2.10",
        "detected_at": now,
        "evidence": '{"note": "a sample sent by accessdrift alerts test"}',
    }


def send_test(settings: Settings, name: str) -> Answer:
    routing = routing_of(settings)
    if name not in routing.destinations:
        known = ", ".join(sorted(routing.destinations)) or "none"
        raise ConfigError(f"no destination named {name!r} (the file has: {known})")
    return post_alerts(routing.destinations[name], os.environ, [sample_alert()])


def destinations_for(
    settings: Settings, kind: str, severity: str, identity_kind: str, system: str | None
) -> list[str]:
    alert = {"kind": kind, "severity": severity, "identity_kind": identity_kind, "system": system}
    return [target.destination for target in targets(routing_of(settings), alert)]


def delivery_status(settings: Settings) -> QueryResult:
    return run_query(
        settings,
        "SELECT destination, status, count() AS deliveries, max(updated_at) AS latest, "
        "anyIf(answer, status IN ('retrying', 'failed', 'skipped', 'silenced')) AS an_answer "
        "FROM alert_deliveries FINAL GROUP BY destination, status ORDER BY destination, status",
    )


def publish_silence(settings: Settings, silence: Silence) -> None:
    from accessdrift.kafka.producer import CheckedProducer

    ensure_topics(settings, [catalog.SILENCES])
    with CheckedProducer(settings) as producer:
        producer.send(
            settings.topic(catalog.SILENCES),
            codec_for("Silence").encode_dict(silence),
            key=catalog.RECORD["Silence"].key_of(silence).encode(),
        )


def read_silences(settings: Settings) -> dict[str, Silence]:
    """Every silence the deployment has (latest version of each), from its topic."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    name = settings.topic(catalog.SILENCES)
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}.silences-cli",
            "enable.auto.commit": False,
            # A command's short-lived client: a broker that does not answer is the one
            # line the command prints, not librdkafka's log of every reconnection.
            "log_level": 0,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(name, timeout=10)
        except KafkaException as error:
            raise KafkaUnavailable(
                f"cannot read {name} at {settings.kafka_bootstrap}: {error.args[0].str()}"
                if error.args and hasattr(error.args[0], "str")
                else f"cannot read {name} at {settings.kafka_bootstrap}: {error}"
            ) from error
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            return {}
        ends = {}
        for partition in topic.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in ends])
        records = []
        deadline = time.monotonic() + 30
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1):
                value = message.value()
                if message.error() is None and isinstance(value, bytes):
                    records.append(codec_for("Silence").decode_dict(value))
                    if (message.offset() or 0) + 1 >= ends.get(message.partition() or 0, 0):
                        ends.pop(message.partition() or 0, None)
        return latest(records)
    finally:
        consumer.close()


def silence(
    settings: Settings, matchers: list[str], span: str, reason: str, created_by: str
) -> Silence:
    made = new_silence(
        parse_matchers(matchers), parse_duration(span), reason, created_by, datetime.now(UTC)
    )
    publish_silence(settings, made)
    return made


def expire(settings: Settings, silence_id: str) -> Silence:
    found = read_silences(settings).get(silence_id)
    if found is None:
        raise ConfigError(
            f"no silence {silence_id!r} (`accessdrift alerts silences --all` lists them)"
        )
    ended = expired(found, datetime.now(UTC))
    publish_silence(settings, ended)
    return ended
