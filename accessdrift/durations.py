"""Durations written like ``90s``, ``15m``, ``4h``, ``2d`` (the contract's form)."""

import re
from datetime import timedelta

from accessdrift.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"1h30m"``, ``"90s"`` or a number of seconds into a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        if text < 0:
            raise ConfigError(f"duration must not be negative: {text}")
        return timedelta(seconds=text)
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", compact):
        return timedelta(seconds=float(compact))
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact) or not compact:
        raise ConfigError(f"not a duration: {text!r} (write it like 90s, 15m, 4h, 2d)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form: ``timedelta(hours=24)`` -> ``"1d"``."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
