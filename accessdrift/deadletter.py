"""Dead-letter records: rejected input, with its secrets redacted, and the reason.

Everything a dead letter stores passes ``accessdrift.redact`` first: the record
(a CloudTrail ``AssumeRole`` response holds a session's secret key), its key and
the error text (which may quote the input). An HR CSV line is judged by its file's
header row (the message's ``csv-header``): a column named ``temp_password`` holds
secrets whatever its values look like. The message's headers themselves are not
stored."""

from datetime import UTC, datetime

from accessdrift.errors import RecordError, RowsRefused
from accessdrift.redact import redact_bytes, redact_text
from accessdrift.schemas.codec import codec_for


def dead_letter_bytes(
    *,
    source_topic: str,
    value: bytes,
    error: str,
    error_type: str,
    stage: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    failed_at: datetime | None = None,
    csv_header: bytes | None = None,
) -> bytes:
    """The Avro value of a ``DeadLetter`` record for ``drift.deadletter``; with
    ``csv_header``, ``value`` is judged as CSV lines under that header."""
    return codec_for("DeadLetter").encode_dict(
        {
            "source_topic": source_topic,
            "partition": partition,
            "offset": offset,
            "key": redact_bytes(key) if key else key,
            "value": redact_bytes(value, csv_header=csv_header) if value else value,
            "error": redact_text(error),
            "error_type": error_type,
            "stage": stage,
            "failed_at": failed_at or datetime.now(UTC),
        }
    )


def dead_letter_key(source_topic: str) -> bytes:
    """A dead letter's Kafka key: the topic (or file) it came from, so that one source's
    letters stay in order on one partition of ``drift.deadletter``."""
    return source_topic.encode()


def classify(error: Exception) -> str:
    if isinstance(error, RowsRefused):
        return "refused_by_sink"
    if isinstance(error, RecordError):
        return error.error_type
    return "internal"
