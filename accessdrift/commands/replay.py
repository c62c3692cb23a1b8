"""`accessdrift replay`: records from files onto Kafka, bad ones onto the dead-letter topic."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from accessdrift import catalog
from accessdrift.canonical import parse_line
from accessdrift.commands.sources import (
    POSITION_EVERY_LINES,
    expand_paths,
    read_bytes,
    read_lines,
    size_on_disk,
)
from accessdrift.deadletter import classify, dead_letter_bytes
from accessdrift.errors import ConfigError, KafkaUnavailable, RecordError, RecordTooLarge
from accessdrift.kafka.admin import ensure_topics
from accessdrift.kafka.producer import CheckedProducer
from accessdrift.normalizers.registry import FORMATS, replay_file
from accessdrift.schemas.codec import codec_for, encode
from accessdrift.settings import Settings


@dataclass
class ReplaySummary:
    deadletter_topic: str
    sent: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"{count:>8} -> {topic}" for topic, count in sorted(self.sent.items())]
        if self.dead_lettered:
            out.append(f"{self.dead_lettered:>8} -> {self.deadletter_topic}")
            out += [
                f"           {count} x {reason}" for reason, count in self.reasons.most_common(5)
            ]
        return out


# (bytes read, bytes in all or None when standard input is among the files): where a
# long replay is, for a progress bar. Bytes on disk, so a single large file moves it too.
Progress = Callable[[int, int | None], None]


class _Where:
    """Bytes done across the files of one replay: the files before this one, plus the
    position in this one."""

    def __init__(self, files: list[str], progress: Progress | None) -> None:
        sizes = [size_on_disk(path) for path in files]
        self.total = None if None in sizes else sum(size or 0 for size in sizes)
        self.progress = progress
        self.before = 0
        self.current = 0

    def at(self, position: int) -> None:
        self.current = position
        if self.progress is not None:
            self.progress(self.before + position, self.total)

    def file_done(self, path: str) -> None:
        self.before += size_on_disk(path) or self.current
        self.current = 0
        if self.progress is not None:
            self.progress(self.before, self.total)


def replay(
    settings: Settings, format_name: str, paths: list[str], progress: Progress | None = None
) -> ReplaySummary:
    if format_name == "canonical":
        return replay_canonical(settings, paths, progress)
    return replay_raw(settings, format_name, paths, progress)


def replay_raw(
    settings: Settings, format_name: str, paths: list[str], progress: Progress | None = None
) -> ReplaySummary:
    """Vendor files to ``raw.<format>``, one vendor record per message."""
    if format_name not in catalog.RAW_FORMATS:
        known = ", ".join(catalog.RAW_FORMATS)
        raise ConfigError(f"unknown format {format_name!r}: one of canonical, {known}")
    ensure_topics(settings)
    deadletter_topic = settings.topic(catalog.DEADLETTER)
    raw_topic = settings.topic(catalog.raw_topic(format_name))
    summary = ReplaySummary(deadletter_topic)
    files = expand_paths(paths)
    where = _Where(files, progress)
    with CheckedProducer(settings) as producer:
        for path in files:
            data = read_bytes(path)
            origin = "stdin" if path == "-" else path
            replayed = replay_file(format_name, data)
            header = replayed.csv_header  # a CSV line's letter is redacted by it
            cap = settings.max_record_bytes
            size = size_on_disk(path) or len(data)
            count = len(replayed.messages)
            for index, (number, message, error) in enumerate(replayed.messages):
                if index % POSITION_EVERY_LINES == 0:
                    where.at(size * index // count)
                if message is not None and error is None and len(message) > cap:
                    error = f"record of {len(message)} bytes over the cap of {cap}"
                if error is not None:
                    _dead_letter(
                        producer, summary, origin, number, message or b"", error, "decode", header
                    )
                    continue
                assert message is not None
                producer.send(raw_topic, message, headers=replayed.headers)
                summary.sent[raw_topic] += 1
            where.file_done(path)
    return summary


def _dead_letter(
    producer: CheckedProducer,
    summary: ReplaySummary,
    origin: str,
    number: int,
    value: bytes,
    error: str,
    error_type: str,
    csv_header: bytes | None = None,
) -> None:
    source = f"file:{origin}"
    producer.send(
        summary.deadletter_topic,
        dead_letter_bytes(
            source_topic=source,
            offset=number,
            value=value,
            error=error,
            error_type=error_type,
            stage="replay",
            csv_header=csv_header,
        ),
        key=source.encode(),
    )
    summary.dead_lettered += 1
    summary.reasons[error[:120]] += 1


def replay_canonical(
    settings: Settings, paths: list[str], progress: Progress | None = None
) -> ReplaySummary:
    ensure_topics(settings)
    deadletter_topic = settings.topic(catalog.DEADLETTER)
    summary = ReplaySummary(deadletter_topic)
    files = expand_paths(paths)
    where = _Where(files, progress)
    with CheckedProducer(settings) as producer:
        for path in files:
            for line in read_lines(path, where.at if progress is not None else None):
                try:
                    if len(line.data) > settings.max_record_bytes:
                        raise RecordTooLarge(
                            f"line of {len(line.data)} bytes over the cap of "
                            f"{settings.max_record_bytes}"
                        )
                    routed = parse_line(line.data)
                    encoded = encode(routed.record)
                except RecordError as error:
                    _dead_letter(
                        producer,
                        summary,
                        line.origin,
                        line.number,
                        line.data,
                        str(error),
                        classify(error),
                    )
                    continue
                topic = settings.topic(routed.topic)
                producer.send(topic, encoded, key=routed.key.encode())
                summary.sent[topic] += 1
            where.file_done(path)
    return summary


def replay_dead_letters(settings: Settings, only_topic: str | None = None) -> ReplaySummary:
    """Send what ``drift.deadletter`` holds now back to the topic it came from, once the
    cause is fixed (a normalizer or a mapping). Letters of files (``file:...``) name no
    topic: replay the file again. Letters redacted of secrets go back redacted."""
    deadletter_topic = settings.topic(catalog.DEADLETTER)
    summary = ReplaySummary(deadletter_topic)
    ours = {settings.topic(name) for name in catalog.all_topics()}
    csv_topics = {
        settings.topic(catalog.raw_topic(name))
        for name, raw_format in FORMATS.items()
        if raw_format.document == "csv-line"
    }
    codec = codec_for("DeadLetter")
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}.deadletter-replay",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # A command's short-lived client: its failure is the one line the command
            # prints, not librdkafka's log of every reconnection.
            "log_level": 0,
        }
    )
    try:
        metadata = consumer.list_topics(deadletter_topic, timeout=10)
        partitions = metadata.topics[deadletter_topic].partitions if metadata.topics else {}
        ends = {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(deadletter_topic, partition), timeout=10
            )
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(deadletter_topic, p, OFFSET_BEGINNING) for p in ends])
        with CheckedProducer(settings) as producer:
            while ends:
                message = consumer.poll(1.0)
                if message is None or message.error():
                    continue
                partition = message.partition()
                offset = message.offset() or 0
                if partition in ends and offset >= ends[partition] - 1:
                    del ends[partition]
                try:
                    letter = codec.decode_dict(message.value() or b"")
                except RecordError:
                    summary.reasons["not a DeadLetter record"] += 1
                    continue
                source = str(letter["source_topic"])
                if only_topic and source != settings.topic(only_topic):
                    continue
                if source not in ours or source == deadletter_topic:
                    summary.reasons[f"from {source.split(':', 1)[0]}: replay the file"] += 1
                    continue
                if source in csv_topics:
                    # A CSV line is read with its file's header, which the letter lacks.
                    summary.reasons["a CSV line: replay its file again"] += 1
                    continue
                producer.send(source, letter["value"], key=letter.get("key"))
                summary.sent[source] += 1
    except KafkaException as error:
        said = error.args[0].str() if error.args and hasattr(error.args[0], "str") else error
        raise KafkaUnavailable(
            f"cannot read {deadletter_topic} at {settings.kafka_bootstrap}: {said}"
        ) from error
    finally:
        consumer.close()
    return summary
