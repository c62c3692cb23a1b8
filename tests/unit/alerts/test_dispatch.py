from datetime import UTC, datetime
from pathlib import Path

import pytest

from accessdrift.alerts.config import Routing, load_routing
from accessdrift.alerts.dispatch import Delivery, Dispatcher, alert_version
from accessdrift.alerts.send import Answer, classify
from tests.unit.alerts.samples import alert
from tests.unit.alerts.test_config import CONTRACT_EXAMPLE, ENV, write

NOW = datetime(2026, 3, 1, 13, 31, tzinfo=UTC).timestamp()


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    return load_routing(write(tmp_path, CONTRACT_EXAMPLE), ENV)


def test_alerts_about_one_leaver_within_group_wait_go_out_as_one_message(routing: Routing) -> None:
    dispatcher = Dispatcher(routing)
    rows = []
    for n in range(12):
        rows += dispatcher.offer(alert(alert_id=f"al-{n}"), {}, NOW + n * 0.5)
    assert {row.status for row in rows} == {"pending"} and len(rows) == 24  # two destinations
    assert dispatcher.due(NOW + 9) == [], "group_wait is 10 s from the first"
    messages = dispatcher.due(NOW + 10)
    assert sorted(m.destination for m in messages) == ["siem", "soc-slack"]
    assert all(len(m.alerts) == 12 for m in messages)
    # Another leaver's alert is its own group.
    dispatcher.offer(alert(alert_id="al-x", identity_id="e00043"), {}, NOW + 11)
    assert len(dispatcher.groups) == 2


def test_after_a_message_the_groups_next_one_waits_group_interval(routing: Routing) -> None:
    dispatcher = Dispatcher(routing)
    dispatcher.offer(alert(alert_id="al-1"), {}, NOW)
    assert len(dispatcher.due(NOW + 10)) == 2
    dispatcher.offer(alert(alert_id="al-2"), {}, NOW + 20)
    assert dispatcher.due(NOW + 40) == []
    assert len(dispatcher.due(NOW + 310)) == 2


def test_history_older_than_max_age_is_skipped_not_sent(routing: Routing) -> None:
    dispatcher = Dispatcher(routing)
    old = alert(detected_at=datetime(2026, 2, 1, tzinfo=UTC))
    rows = dispatcher.offer(old, {}, NOW)
    assert [row.status for row in rows] == ["skipped", "skipped"]
    assert dispatcher.waiting == 0


def test_a_replayed_alert_already_sent_is_not_sent_again_but_an_improved_one_once(
    routing: Routing,
) -> None:
    dispatcher = Dispatcher(routing)
    first = alert()
    sent = {
        (first["alert_id"], name): Delivery(
            first["alert_id"], name, "sent", attempts=1, alert_version=alert_version(first)
        )
        for name in ("soc-slack", "siem")
    }
    assert dispatcher.offer(first, sent, NOW) == []
    earlier = alert(used_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), seconds_after=3600.0)
    assert dispatcher.offer(earlier, sent, NOW) == [], "the rows stay sent until it goes"
    assert dispatcher.offer(earlier, sent, NOW + 1) == [] and dispatcher.waiting == 2
    messages = dispatcher.due(NOW + 10)
    assert [m.update for m in messages] == [True, True]
    after = {
        row.key: row
        for message in messages
        for row in dispatcher.record(message, Answer("sent", 200, "ok"), NOW + 10)
    }
    assert [row.updates for row in after.values()] == [1, 1]
    # A second improvement gets no second update message.
    updated = {**sent, **after}
    later = alert(used_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC), seconds_after=1800.0)
    dispatcher.offer(later, updated, NOW + 20)
    assert [m.destination for m in dispatcher.groups.values()] == [], "both had their update"


def test_failures_retry_with_backoff_honour_retry_after_and_give_up(routing: Routing) -> None:
    dispatcher = Dispatcher(routing, retry_window=3600)
    dispatcher.offer(alert(), {}, NOW)
    slack = next(m for m in dispatcher.due(NOW + 10) if m.destination == "soc-slack")
    rows = dispatcher.record(slack, classify(429, "rate limited", "30"), NOW + 10)
    assert [row.status for row in rows] == ["retrying"] and rows[0].attempts == 1
    assert [m.destination for m in dispatcher.due(NOW + 39)] == []
    retry = dispatcher.due(NOW + 41)[0]
    rows = dispatcher.record(retry, classify(503, "unavailable"), NOW + 41)
    assert rows[0].status == "retrying" and rows[0].attempts == 2
    again = dispatcher.due(NOW + 4000)[0]
    rows = dispatcher.record(again, classify(503, "unavailable"), NOW + 4000)
    assert rows[0].status == "failed", "past the retry window"
    assert dispatcher.waiting == 0


def test_a_4xx_retrying_cannot_fix_fails_at_once_with_the_answer(routing: Routing) -> None:
    dispatcher = Dispatcher(routing)
    dispatcher.offer(alert(), {}, NOW)
    message = dispatcher.due(NOW + 10)[0]
    rows = dispatcher.record(message, classify(400, "invalid_blocks"), NOW + 10)
    assert [(row.status, row.last_http_status, row.answer) for row in rows] == [
        ("failed", 400, "invalid_blocks")
    ]
    assert classify(202, "").outcome == "sent", "Teams Workflows answer 202"
    assert classify(408, "").outcome == classify(500, "").outcome == "retry"


def test_a_destinations_rate_limit_holds_messages_back(tmp_path: Path) -> None:
    text = CONTRACT_EXAMPLE.replace(
        "{type: slack, url_env: SLACK_URL}", "{type: slack, url_env: SLACK_URL, rate_limit: 2}"
    )
    dispatcher = Dispatcher(load_routing(write(tmp_path, text), ENV))
    for n in range(3):
        dispatcher.offer(alert(alert_id=f"al-{n}", identity_id=f"e{n}"), {}, NOW)
    slack = [m for m in dispatcher.due(NOW + 10) if m.destination == "soc-slack"]
    assert len(slack) == 2
    assert [m.destination for m in dispatcher.due(NOW + 30)] == []
    assert [m.destination for m in dispatcher.due(NOW + 71)] == ["soc-slack"]


def test_an_alert_improved_while_it_waits_goes_out_once_in_its_newest_version(
    routing: Routing,
) -> None:
    dispatcher = Dispatcher(routing)
    first = dispatcher.offer(alert(), {}, NOW)
    known = {row.key: row for row in first}  # pending, as ClickHouse has them
    earlier = alert(used_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), seconds_after=3600.0)
    assert dispatcher.offer(earlier, known, NOW + 1) == []
    assert dispatcher.offer(earlier, {}, NOW + 2) == [], "the same, not known yet: still one"
    messages = dispatcher.due(NOW + 10)
    assert [len(m.alerts) for m in messages] == [1, 1]
    assert all(m.alerts[0]["seconds_after"] == 3600.0 for m in messages)
    assert all(m.deliveries[0].alert_version == alert_version(earlier) for m in messages)


def test_a_delivery_resumed_after_a_restart_keeps_its_retry_window(routing: Routing) -> None:
    dispatcher = Dispatcher(routing, retry_window=3600)
    first = alert()
    resumed = {
        (first["alert_id"], "soc-slack"): Delivery(
            first["alert_id"], "soc-slack", "retrying", attempts=5, first_try=NOW - 3500
        )
    }
    dispatcher.offer(first, resumed, NOW)
    slack = next(m for m in dispatcher.due(NOW + 10) if m.destination == "soc-slack")
    [row] = dispatcher.record(slack, classify(503, "unavailable"), NOW + 200)
    assert (row.status, row.attempts) == ("failed", 6), "an hour since the first attempt"


def test_a_critical_route_without_group_wait_never_waits_in_another_routes_group(
    tmp_path: Path,
) -> None:
    text = (
        "destinations:\n  soc: {type: slack, url_env: SLACK_URL}\n"
        "routes:\n"
        "  - {match: {min_severity: info}, to: [soc], group_wait: 10m}\n"
        "  - {match: {min_severity: critical}, to: [soc], group_wait: 0s}\n"
    )
    dispatcher = Dispatcher(load_routing(write(tmp_path, text), ENV))
    dispatcher.offer(alert(alert_id="low", severity="low"), {}, NOW)
    dispatcher.offer(alert(alert_id="crit"), {}, NOW + 1)
    # "crit" matches both routes; the first (10m) applies to it, as the file says: the
    # file's order decides. Reversed, the critical one goes at once.
    assert dispatcher.due(NOW + 2) == []
    reversed_text = (
        text.replace("  - {match: {min_severity: info}, to: [soc], group_wait: 10m}\n", "")
        + "  - {match: {min_severity: info}, to: [soc], group_wait: 10m}\n"
    )
    dispatcher = Dispatcher(load_routing(write(tmp_path, reversed_text), ENV))
    dispatcher.offer(alert(alert_id="low", severity="low"), {}, NOW)
    dispatcher.offer(alert(alert_id="crit"), {}, NOW + 1)
    assert [[a["alert_id"] for a in m.alerts] for m in dispatcher.due(NOW + 2)] == [["crit"]]
    assert [[a["alert_id"] for a in m.alerts] for m in dispatcher.due(NOW + 600)] == [["low"]]


def test_an_older_version_read_again_is_no_update_and_never_replaces_a_better_one(
    routing: Routing,
) -> None:
    dispatcher = Dispatcher(routing)
    earlier = alert(used_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC), seconds_after=3600.0)
    sent = {
        (earlier["alert_id"], name): Delivery(
            earlier["alert_id"], name, "sent", attempts=1, alert_version=alert_version(earlier)
        )
        for name in ("soc-slack", "siem")
    }
    assert dispatcher.offer(alert(), sent, NOW) == [] and dispatcher.waiting == 0, (
        "the first version, read again after a restart, is older: no Update"
    )
    fresh = Dispatcher(routing)
    fresh.offer(earlier, {}, NOW)
    fresh.offer(alert(), {}, NOW + 1)  # the older version, read again while it waits
    assert all(m.alerts[0]["seconds_after"] == 3600.0 for m in fresh.due(NOW + 10))


def test_a_retry_carries_the_alerts_of_its_own_deliveries(routing: Routing) -> None:
    dispatcher = Dispatcher(routing, retry_window=3600)
    old, new = alert(alert_id="old", identity_id="e1"), alert(alert_id="new", identity_id="e1")
    resumed = {("old", "soc-slack"): Delivery("old", "soc-slack", "retrying", first_try=NOW - 4000)}
    dispatcher.offer(old, resumed, NOW)
    dispatcher.offer(new, {}, NOW)
    slack = next(m for m in dispatcher.due(NOW + 10) if m.destination == "soc-slack")
    rows = dispatcher.record(slack, classify(503, "down"), NOW + 10)
    assert {(r.alert_id, r.status) for r in rows} == {("old", "failed"), ("new", "retrying")}
    [retry] = [m for m in dispatcher.retries if m.destination == "soc-slack"]
    assert (
        [a["alert_id"] for a in retry.alerts] == ["new"] == [d.alert_id for d in retry.deliveries]
    )
