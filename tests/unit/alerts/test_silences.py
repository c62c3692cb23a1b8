from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accessdrift.alerts.config import load_routing
from accessdrift.alerts.dispatch import Delivery, Dispatcher
from accessdrift.alerts.silences import (
    expired,
    is_active,
    latest,
    new_silence,
    parse_matchers,
    silencing,
)
from accessdrift.errors import ConfigError
from tests.unit.alerts.samples import alert
from tests.unit.alerts.test_config import CONTRACT_EXAMPLE, ENV, write

NOW = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


def test_matchers_are_field_value_pairs_on_alert_fields() -> None:
    assert parse_matchers(["kind=orphaned_nhi", "identity_id=svc=1"]) == {
        "kind": "orphaned_nhi",
        "identity_id": "svc=1",
    }
    for bad in (["kind"], ["colour=red"], ["kind="], []):
        with pytest.raises(ConfigError):
            parse_matchers(bad)


def test_a_silence_needs_a_reason_and_a_span() -> None:
    with pytest.raises(ConfigError, match="reason"):
        new_silence({"kind": "x"}, timedelta(hours=1), "  ", "alice", NOW)
    with pytest.raises(ConfigError, match="lasts"):
        new_silence({"kind": "x"}, timedelta(0), "planned", "alice", NOW)


def test_a_silence_holds_back_what_matches_while_it_lasts() -> None:
    silence = new_silence({"identity_id": "e00042"}, timedelta(days=7), "offboarding", "bob", NOW)
    assert silencing([silence], alert(), NOW + timedelta(hours=1)) is silence
    assert silencing([silence], alert(identity_id="e00043"), NOW) is None, "another identity"
    assert silencing([silence], alert(), NOW + timedelta(days=8)) is None, "it ended"
    assert silencing([silence], alert(), NOW - timedelta(seconds=1)) is None, "not yet"
    ended = expired(silence, NOW + timedelta(hours=2))
    assert not is_active(ended, NOW + timedelta(hours=3))
    assert latest([ended, silence]) == {silence["silence_id"]: ended}, "the latest version wins"


def test_silenced_alerts_are_recorded_at_each_destination_and_never_queued(tmp_path: Path) -> None:
    dispatcher = Dispatcher(load_routing(write(tmp_path, CONTRACT_EXAMPLE), ENV))
    rows = dispatcher.silence(alert(), {}, "abc123", "planned rotation")
    assert [(r.destination, r.status, r.answer) for r in rows] == [
        ("soc-slack", "silenced", "silence abc123: planned rotation"),
        ("siem", "silenced", "silence abc123: planned rotation"),
    ]
    assert dispatcher.waiting == 0
    sent = {("al-0001", "siem"): Delivery("al-0001", "siem", "sent")}
    assert [r.destination for r in dispatcher.silence(alert(), sent, "abc123", "x")] == [
        "soc-slack"
    ], "what was sent before the silence stays sent"
