"""Dead-letter records: rejected input, kept whole, with the reason."""

from datetime import UTC, datetime

from accessdrift.errors import RecordError
from schemas.codec import codec_for


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
) -> bytes:
    """The Avro value of a ``DeadLetter`` record for ``drift.deadletter``."""
    return codec_for("DeadLetter").encode_dict(
        {
            "source_topic": source_topic,
            "partition": partition,
            "offset": offset,
            "key": key,
            "value": value,
            "error": error,
            "error_type": error_type,
            "stage": stage,
            "failed_at": failed_at or datetime.now(UTC),
        }
    )


def classify(error: Exception) -> str:
    if isinstance(error, RecordError):
        return error.error_type
    return "internal"
