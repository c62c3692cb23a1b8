from datetime import timedelta

import pytest

from accessdrift.durations import format_duration, parse_duration
from accessdrift.errors import ConfigError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        (" 7D ", timedelta(days=7)),
        ("60", timedelta(seconds=60)),
        (0.5, timedelta(milliseconds=500)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "4x", "4h junk", "-5s", "1h-2m", -3])
def test_bad_durations_are_clear_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


@pytest.mark.parametrize(
    "value, text",
    [(timedelta(hours=24), "1d"), (timedelta(seconds=90), "90s"), (timedelta(minutes=15), "15m")],
)
def test_durations_format_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(format_duration(value)) == value
