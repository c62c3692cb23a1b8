"""`accessdrift replay`: records from files onto Kafka, bad ones onto the dead-letter topic."""

from collections import Counter
from dataclasses import dataclass, field

from accessdrift.canonical import parse_line
from accessdrift.deadletter import classify, dead_letter_bytes
from accessdrift.errors import RecordError, RecordTooLarge
from accessdrift.kafka_admin import ensure_topics
from accessdrift.producer import CheckedProducer
from accessdrift.sources import expand_paths, read_lines
from schemas.codec import encode
from streams import topics
from streams.settings import Settings


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


def replay_canonical(settings: Settings, paths: list[str]) -> ReplaySummary:
    ensure_topics(settings)
    deadletter_topic = settings.topic(topics.DEADLETTER)
    summary = ReplaySummary(deadletter_topic)
    with CheckedProducer(settings) as producer:
        for path in expand_paths(paths):
            for line in read_lines(path):
                try:
                    if len(line.data) > settings.max_record_bytes:
                        raise RecordTooLarge(
                            f"line of {len(line.data)} bytes over the cap of "
                            f"{settings.max_record_bytes}"
                        )
                    routed = parse_line(line.data)
                except RecordError as error:
                    source = f"file:{line.origin}"
                    producer.send(
                        deadletter_topic,
                        dead_letter_bytes(
                            source_topic=source,
                            offset=line.number,
                            value=line.data,
                            error=str(error),
                            error_type=classify(error),
                            stage="replay",
                        ),
                        key=source.encode(),
                    )
                    summary.dead_lettered += 1
                    summary.reasons[str(error)[:120]] += 1
                    continue
                topic = settings.topic(routed.topic)
                producer.send(topic, encode(routed.record), key=routed.key.encode())
                summary.sent[topic] += 1
    return summary
