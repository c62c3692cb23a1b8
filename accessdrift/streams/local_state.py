"""The worker's local table state, and whether it still belongs to the topics it mirrors.

Faust keeps each table in RocksDB under the deployment's state folder and
restores it from the table's changelog topic, starting at the changelog offset
it persisted. When the changelog is no longer the one that state was read from
(the local broker was reset, the deployment's topics were deleted and created
again) that offset points past the new topic's end and Faust stops with
``ConsistencyError``; worse, if the new topic has grown past it, Faust would
silently mix two histories. Kafka gives every topic a fresh id when it is
created, so the folder records the ids of the changelogs its state came from
(``topics.json``); a worker that finds other ids, or state without a record,
removes the folder and rebuilds every table from its changelog.

The decision is a pure function (``stale_reason``); the shell reads the ids and
removes the folder.
"""

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import KafkaException, TopicCollection

from accessdrift.errors import KafkaError
from accessdrift.kafka.admin import admin_client
from accessdrift.settings import Settings

log = logging.getLogger("accessdrift.worker")

MARKER = "topics.json"

TopicIds = Mapping[str, str | None]  # changelog topic name -> Kafka topic id, None if absent


def stale_reason(has_state: bool, recorded: TopicIds | None, current: TopicIds) -> str | None:
    """Why the local state cannot be trusted, or None when it can (or there is none)."""
    if not has_state:
        return None
    if recorded is None:
        return "it does not say which changelog topics it was read from"
    for topic, topic_id in sorted(current.items()):
        if topic_id is None:
            return f"its changelog topic {topic} no longer exists"
        if recorded.get(topic) != topic_id:
            return f"its changelog topic {topic} was deleted and created again"
    return None


def read_marker(state_dir: Path) -> dict[str, str | None] | None:
    try:
        recorded = json.loads((state_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    topics = recorded.get("topics") if isinstance(recorded, dict) else None
    if not isinstance(topics, dict):
        return None
    return {str(name): (str(value) if value else None) for name, value in topics.items()}


def write_marker(state_dir: Path, topic_ids: TopicIds) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_dir / f"{MARKER}.tmp"
    temporary.write_text(json.dumps({"topics": dict(topic_ids)}, indent=2, sort_keys=True))
    temporary.replace(state_dir / MARKER)  # atomic: a kill leaves the old or the new


def has_state(state_dir: Path) -> bool:
    return state_dir.is_dir() and any(
        entry.name != MARKER for entry in state_dir.iterdir() if not entry.name.endswith(".tmp")
    )


def describe_topic_ids(settings: Settings, names: list[str]) -> dict[str, str | None]:
    """Each topic's Kafka id, None for a topic that does not exist."""
    admin = admin_client(settings)
    ids: dict[str, str | None] = {}
    futures = admin.describe_topics(TopicCollection(names), request_timeout=10)
    for name, future in futures.items():
        try:
            ids[name] = str(future.result(timeout=15).topic_id)
        except KafkaException as error:
            code = error.args[0].code() if error.args else None
            if code == ConfluentKafkaError.UNKNOWN_TOPIC_OR_PART:
                ids[name] = None  # not created yet
                continue
            raise KafkaError(f"cannot describe topic {name}: {error}") from error
    return ids


def check_local_state(
    settings: Settings,
    changelogs: list[str],
    describe: Callable[[Settings, list[str]], TopicIds] = describe_topic_ids,
) -> str | None:
    """Before Faust opens the tables: remove state that no longer matches its changelogs."""
    state_dir = settings.state_dir
    reason = stale_reason(
        has_state(state_dir), read_marker(state_dir), describe(settings, changelogs)
    )
    if reason is not None:
        log.warning(
            "local state in %s is stale (%s): removed, every table is rebuilt from its changelog",
            state_dir,
            reason,
        )
        shutil.rmtree(state_dir)
    return reason


def record_changelogs(
    settings: Settings,
    changelogs: list[str],
    describe: Callable[[Settings, list[str]], TopicIds] = describe_topic_ids,
) -> bool:
    """Once Faust has created the changelogs: record their ids beside the state."""
    ids = describe(settings, changelogs)
    if any(topic_id is None for topic_id in ids.values()):
        return False
    if read_marker(settings.state_dir) != dict(ids):
        write_marker(settings.state_dir, ids)
    return True
