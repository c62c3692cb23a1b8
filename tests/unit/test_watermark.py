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


def test_a_silent_input_with_a_backlog_still_holds_it_back() -> None:
    """After a restart the reader serves cloud's backlog first: directory is silent, and
    behind, so the watermark waits for it instead of running ahead with cloud."""
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("directory", 100 * S, wall_us=0)
    watermark.observe("cloud", 100 * S, wall_us=0)
    watermark.report({"directory": (100 * S, False), "cloud": (900 * S, False)}, 0)
    watermark.observe("cloud", 900 * S, wall_us=20 * S)
    assert watermark.current(20 * S) == 100 * S
    watermark.report({"directory": (100 * S, True)}, 20 * S)  # caught up: silent = idle
    assert watermark.current(20 * S) == 900 * S


def test_a_backlog_of_unknown_age_stops_the_watermark_where_it_is() -> None:
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("cloud", 100 * S, wall_us=0)
    assert watermark.current(5 * S) == 100 * S
    watermark.report({"directory": (None, False)}, 6 * S)
    watermark.observe("cloud", 500 * S, wall_us=6 * S)
    assert watermark.current(6 * S) == 100 * S
    assert watermark.current(600 * S) == 100 * S, "not even the wall clock moves it"
    watermark.report({"directory": (300 * S, False)}, 7 * S)
    assert watermark.current(7 * S) == 300 * S


def test_reported_caught_up_inputs_do_not_hold_it_and_idle_advance_resumes() -> None:
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("a", 100 * S, wall_us=0)
    watermark.report({"a": (100 * S, False)}, 0)
    assert watermark.current(65 * S) == 100 * S, "behind: the wall clock does not carry it"
    watermark.report({"a": (100 * S, True)}, 65 * S)
    assert watermark.current(65 * S) == 160 * S


def test_caught_up_holds_only_while_the_reader_keeps_saying_so() -> None:
    """The ingest blocked on a ClickHouse outage reads nothing and says nothing: its
    inputs must not pass for idle while new records pile up unread."""
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.observe("a", 100 * S, wall_us=0)
    watermark.report({"a": (100 * S, True)}, 6 * S)
    assert watermark.current(12 * S) == 107 * S, "heard recently: idle, the clock carries it"
    assert watermark.current(60 * S) == 107 * S, "no word for 54 s: held where it was"
    watermark.report({"a": (100 * S, True)}, 61 * S)
    assert watermark.current(62 * S) == 157 * S


def test_a_restarted_reader_that_only_reports_breaks_nothing() -> None:
    """After a restart with nothing new to read, only heartbeats arrive: no records."""
    watermark = Watermark(allowed_lateness_us=0, idle_us=5 * S)
    watermark.report({"a": (900 * S, True), "b": (None, True)}, 0)
    watermark.current(60 * S)  # no record heard yet: no max() of nothing
    watermark.report({"a": (900 * S, False)}, 61 * S)
    watermark.current(62 * S)
