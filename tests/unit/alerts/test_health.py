from accessdrift.alerts.health import HealthRules, HealthWatch

RULES = HealthRules(silent_after=60, watermark_stall=30, deadletters_per_minute=10)
QUIET = {"sink:directory_changes": 5, "sink:cloud_audit": 9, "sink:secret_usage": 2}


def conditions(notices: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [(n.condition, n.subject, n.state) for n in notices]


def test_a_silent_input_fires_once_and_resolves_when_records_come() -> None:
    watch = HealthWatch(RULES, started=0)
    assert watch.check(QUIET, 10) == []
    counts = {**QUIET, "sink:cloud_audit": 10, "sink:secret_usage": 3}
    watch.check(counts, 30)
    counts = {**counts, "sink:secret_usage": 4}
    watch.check(counts, 55)
    fired = watch.check(counts, 61)
    assert conditions(fired) == [("input_silent", "directory.changes", "firing")]
    assert "no record on directory.changes for 1 min" in fired[0].summary
    assert watch.check(counts, 70) == [], "once per episode"
    resolved = watch.check({**counts, "sink:directory_changes": 6}, 80)
    assert conditions(resolved) == [("input_silent", "directory.changes", "resolved")]


def test_a_stalled_watermark_while_inputs_arrive_fires() -> None:
    watch = HealthWatch(RULES, started=0)
    counts = {**QUIET, "resolver:watermark_us": 100}
    notices = []
    for second in range(0, 40, 5):
        counts = {
            key: value + 1 if key.startswith("sink:") else value for key, value in counts.items()
        }
        notices += watch.check(counts, second)
    assert conditions(notices) == [("watermark_stalled", "resolver", "firing")]
    moved = watch.check({**counts, "sink:cloud_audit": 99, "resolver:watermark_us": 200}, 41)
    assert conditions(moved) == [("watermark_stalled", "resolver", "resolved")]


def test_a_spike_of_dead_letters_and_failing_deliveries_fire() -> None:
    watch = HealthWatch(HealthRules(3600, 3600, 10), started=0)
    base = {**QUIET, "ingest:dead-lettered": 0, "okta:dead-lettered": 0, "deliveries:failed": 0}
    assert watch.check(base, 1) == []
    spike = {**base, "ingest:dead-lettered": 6, "okta:dead-lettered": 6, "deliveries:failed": 1}
    assert conditions(watch.check(spike, 20)) == [
        ("deadletter_spike", "drift.deadletter", "firing"),
        ("deliveries_failing", "alerts", "firing"),
    ]
    assert conditions(watch.check(spike, 85)) == [
        ("deadletter_spike", "drift.deadletter", "resolved")
    ]


def test_a_notifier_apart_from_the_worker_judges_only_what_it_counts() -> None:
    watch = HealthWatch(RULES, started=0)
    assert watch.check({"deliveries:failed": 0}, 3600) == []
