from collections import Counter

import pytest

from accessdrift.streams.offset_gaps import OffsetGaps


def test_offsets_that_follow_on_or_go_back_are_no_gap() -> None:
    counts: Counter[str] = Counter()
    gaps = OffsetGaps("resolver", counts)
    for offset in (5, 6, 7, 3, 4, 5, 6, 7, 8):  # read again from the committed offset: 3
        gaps.saw("t", 0, offset)
    gaps.saw("t", 1, 40)  # another partition's first
    assert counts == {"resolver:offset-gaps": 0}


def test_a_jump_is_counted_and_logged_with_where(caplog: pytest.LogCaptureFixture) -> None:
    counts: Counter[str] = Counter()
    gaps = OffsetGaps("identity", counts)
    for offset in (10, 11, 15):
        gaps.saw("x.accessdrift-identity", 2, offset)
    assert counts["identity:offset-gaps"] == 3
    assert "never received offsets 12..14 of x.accessdrift-identity[2]" in caplog.text


def test_after_a_rebalance_the_next_offset_is_a_new_start() -> None:
    counts: Counter[str] = Counter()
    gaps = OffsetGaps("identity", counts)
    gaps.saw("t", 0, 10)
    gaps.forget()
    gaps.saw("t", 0, 500)  # another worker read 11..499 meanwhile
    assert counts["identity:offset-gaps"] == 0
