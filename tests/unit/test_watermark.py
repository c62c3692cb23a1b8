from accessdrift.core.watermark import Watermark

S = 1_000_000


def test_no_watermark_until_every_input_had_time_to_show_up() -> None:
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("cloud|0", 1000 * S, wall_us=0)
    assert watermark.current(1 * S) is None
    watermark.observe("directory|0", 10 * S, wall_us=2 * S)
    assert watermark.current(5 * S) == 10 * S, "the slowest input holds it back"


def test_allowed_lateness_is_subtracted_and_it_never_goes_back() -> None:
    watermark = Watermark(allowed_lateness_us=30 * S, idle_us=5 * S)
    watermark.observe("a", 100 * S, wall_us=0)
    watermark.observe("b", 200 * S, wall_us=0)
    assert watermark.current(5 * S) == 70 * S
    watermark.observe("a", 50 * S, wall_us=6 * S)  # a late record
    assert watermark.current(6 * S) == 70 * S


def test_an_idle_input_stops_holding_the_others_back() -> None:
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("directory", 100 * S, wall_us=0)
    watermark.observe("cloud", 500 * S, wall_us=0)
    assert watermark.current(1 * S) is None
    watermark.observe("cloud", 600 * S, wall_us=7 * S)
    assert watermark.current(7 * S) == 600 * S, "directory was silent for 7s"


def test_when_everything_is_idle_it_moves_on_with_the_wall_clock() -> None:
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("a", 100 * S, wall_us=0)
    assert watermark.current(5 * S) == 100 * S
    assert watermark.current(65 * S) == 160 * S
