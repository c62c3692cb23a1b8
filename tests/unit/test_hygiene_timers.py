"""The hygiene deadlines live in the deprovision deadlines' machinery: one earliest
deadline per identity (accessdrift/streams/identity_stage.py Deadlines), rebuilt from the stored
state after a restart (deadline_of), exact under replay."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.messages import ChangeMessage, ClaimMessage, TickMessage, UseMessage
from accessdrift.core.timeutil import MICROS, to_micros
from accessdrift.streams.identity_stage import deadline_of

DAY = 86_400 * MICROS
CONFIG = DetectionConfig()  # stale after 90 days, keys past 90 days overdue
START = to_micros(datetime(2026, 3, 1, tzinfo=UTC))
ALICE, KEY = "aws:111122223333:user/alice", "aws:AKIAALICE000000001"


def messages() -> list[Any]:
    claim: ClaimMessage = {
        "t": "claim",
        "s": ALICE,
        "ts": START,
        "cred": False,
        "acc": None,
        "removed": False,
        "ik": "human",
        "fb": False,
    }
    created: ChangeMessage = {
        "t": "chg",
        "id": "k1",
        "ts": START + 3600 * MICROS,
        "sys": "aws",
        "kind": "credential_created",
        "acc": ALICE,
        "cred": KEY,
        "act": "CreateAccessKey",
        "ok": True,
        "session": False,
        "by": ALICE,
        "s": KEY,
        "ik": "human",
        "fb": False,
    }
    used: UseMessage = {
        "t": "use",
        "id": "u1",
        "ts": START + 2 * DAY,
        "sys": "aws",
        "acc": ALICE,
        "cred": KEY,
        "act": "GetObject",
        "ok": True,
        "ip": None,
        "ua": None,
        "s": KEY,
        "ik": "human",
        "fb": False,
    }
    return [claim, created, used]


def run(state: Any, feed: list[Any], watermark: int) -> tuple[Any, list[dict[str, Any]]]:
    alerts: list[dict[str, Any]] = []
    for message in feed:
        state, result = identity.handle("E1", state, message, watermark, watermark, CONFIG)
        alerts += result.alerts
    return state, alerts


def test_the_stale_deadline_is_the_identitys_next_and_survives_a_restart() -> None:
    state, alerts = run(None, messages(), START + 2 * DAY)
    assert alerts == []
    expected = START + 2 * DAY + 90 * DAY  # the key's and the account's last use + 90 days
    # The use path answers with the deadline evaluate found before the use (a use only
    # moves a clock later): at worst one wake-up early, which finds the right one.
    early = deadline_of("E1", state, CONFIG)
    assert early is not None and early <= expected
    state, alerts = run(state, [{"t": "tick"}], early)
    assert alerts == []
    assert deadline_of("E1", state, CONFIG) == expected
    # The changelog keeps the state as JSON: rebuilt from it, the same deadline.
    stored = json.loads(json.dumps(state))
    assert deadline_of("E1", stored, CONFIG) == expected


def test_raised_once_at_the_deadline_and_never_again_on_replay() -> None:
    state, _ = run(None, messages(), START + 2 * DAY)
    tick: TickMessage = {"t": "tick"}
    due = START + 92 * DAY
    state, alerts = run(state, [tick], due - 1)
    assert alerts == []  # not before the deadline
    state, alerts = run(state, [tick], due)
    assert sorted(alert["kind"] for alert in alerts) == ["stale_account", "stale_credential"]
    assert {alert["deprovisioned_at"] for alert in alerts} == {datetime(2026, 3, 3, tzinfo=UTC)}
    # Judged: no deadline for this clock any more, and a replay of everything adds nothing.
    assert deadline_of("E1", state, CONFIG) is None
    state, again = run(state, [*messages(), tick], due + DAY)
    assert again == []
    # A use resolves both: the same alerts, newer versions with resolved_at.
    later = dict(messages()[2], id="u2", ts=due + 5 * DAY)
    state, resolved = run(state, [later], due + 5 * DAY)
    assert sorted((alert["kind"], alert["resolved_at"]) for alert in resolved) == [
        ("stale_account", datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=97)),
        ("stale_credential", datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=97)),
    ]
    assert deadline_of("E1", state, CONFIG) == due + 5 * DAY + 90 * DAY
