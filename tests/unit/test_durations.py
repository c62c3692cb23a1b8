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


@pytest.mark.parametrize(
    "text",
    [
        "999999999999999999999999d",
        "36501d",
        "36500d1s",
        pytest.param("1" + "0" * 400, id="400-digit-seconds"),
        pytest.param(10**400, id="int-1e400"),
        float("inf"),
    ],
)
def test_a_duration_past_a_century_is_a_clear_error(text: str | float) -> None:
    # timedelta itself overflows (OverflowError) past 10**9 days, and a time plus even
    # that much overflows: refused here, named, at any size.
    with pytest.raises(ConfigError, match=r"duration too long: .* \(at most 36500d\)"):
        parse_duration(text)


def test_a_century_is_taken_and_nan_is_not_a_duration() -> None:
    assert parse_duration("36500d") == timedelta(days=36500)
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(float("nan"))
