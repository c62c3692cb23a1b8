"""Durations written like ``90s``, ``15m``, ``4h``, ``2d`` (the contract's form)."""

import re
from datetime import timedelta

from accessdrift.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")

# The longest duration taken: every setting, SLA, span or retention is far shorter, and
# a longer one overflows where it is added to a time (``now + 10**20 days``).
MAX_DURATION = timedelta(days=36500)


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"1h30m"``, ``"90s"`` or a number of seconds into a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        if text != text:  # NaN
            raise ConfigError(f"not a duration: {text!r}")
        if text < 0:
            raise ConfigError(f"duration must not be negative: {text}")
        return _bounded(text, repr(text))
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", compact):
        return _bounded(float(compact), repr(text))
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact) or not compact:
        raise ConfigError(f"not a duration: {text!r} (write it like 90s, 15m, 4h, 2d)")
    return _bounded(seconds, repr(text))


def _bounded(seconds: int | float, shown: str) -> timedelta:
    # Compared as a number first: timedelta itself overflows (OverflowError) long before
    # a number of a hundred digits, or infinity, is reached.
    if seconds > MAX_DURATION.total_seconds():
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        raise ConfigError(f"duration too long: {shown} (at most {format_duration(MAX_DURATION)})")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form: ``timedelta(hours=24)`` -> ``"1d"``."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
