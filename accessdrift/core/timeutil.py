"""Event times inside the core are integers: microseconds since the epoch, UTC."""

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000


def to_micros(value: datetime | int) -> int:
    """A time in microseconds; one already in microseconds (the resolver's records) as it is."""
    if isinstance(value, int):
        return value
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def span_micros(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * MICROS + value.microseconds
