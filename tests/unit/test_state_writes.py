"""Which messages change an identity's state: the stage writes only those.

A busy key's use in the middle of its hour, judged clean, changes nothing the
detections keep: ``identity.handle`` hands back the very state it was given and
the stage has nothing to write. Every other use, and every use that finds
something, yields a new state."""

from typing import Any

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.state import Result
from accessdrift.core.timeutil import MICROS

CONFIG = DetectionConfig()
KEY = "aws:AKIABUSY0000000001"
ACCOUNT = "aws:1:user/busy"
HOUR = 3600 * MICROS


def use(use_id: str, seconds: int, ok: bool = True) -> dict[str, Any]:
    return {
        "t": "use",
        "id": use_id,
        "ts": 10 * HOUR + seconds * MICROS,
        "sys": "aws",
        "acc": ACCOUNT,
        "cred": KEY,
        "act": "GetObject",
        "ok": ok,
        "ip": None,
        "ik": "human",
        "fb": False,
        "s": KEY,
    }


def leaver(seconds: int) -> dict[str, Any]:
    return {
        "t": "dir",
        "id": f"leaver-{seconds}",
        "ts": 10 * HOUR + seconds * MICROS,
        "src": "hr",
        "ik": "human",
        "fb": False,
        "ct": "leaver",
        "accounts": [ACCOUNT],
        "owner": None,
    }


def run(state: Any, message: dict[str, Any]) -> tuple[Any, Result]:
    return identity.handle("E1", state, message, 0, 0, CONFIG)


def an_hour_with_a_first_and_a_last_use() -> Any:
    state, _ = run(None, use("u1", 0))
    state, _ = run(state, use("u3", 600))
    return state


def test_a_use_between_its_hours_first_and_last_changes_nothing() -> None:
    state = an_hour_with_a_first_and_a_last_use()
    after, result = run(state, use("u2", 300))
    assert after is state, "nothing to write"
    assert not result.alerts and not result.lags


def test_a_use_that_moves_its_hours_last_use_on_is_a_new_state() -> None:
    state = an_hour_with_a_first_and_a_last_use()
    after, _ = run(state, use("u4", 900))
    assert after is not state
    assert [entry[1] for entry in after["use"]] == ["u1", "u4"]
    assert [entry[1] for entry in state["use"]] == ["u1", "u3"], "the given state is untouched"


def test_a_use_in_the_middle_of_its_hour_after_a_leaver_is_raised_and_written() -> None:
    state = an_hour_with_a_first_and_a_last_use()
    state, _ = run(state, leaver(-60))
    state, first = run(state, use("u5", 100))  # the first use after the leaver: raised
    assert first.alerts
    again, result = run(state, use("u6", 200))  # raised already: nothing new to keep
    assert not result.alerts and again is state


def test_a_failed_use_is_kept_apart_from_the_successful_ones() -> None:
    state = an_hour_with_a_first_and_a_last_use()
    after, _ = run(state, use("u7", 300, ok=False))
    assert after is not state


def test_a_new_identity_always_has_a_state_to_write() -> None:
    after, _ = run(None, use("u1", 0))
    assert after is not None and after["use"]


def test_handling_a_message_never_changes_the_state_it_was_given() -> None:
    """The stage keeps the state it read until the batch is written (and hands the
    same object back as 'unchanged'): a message may copy what it changes, never write
    into it. Every message of a simulated organisation, on the single-queue engine."""
    import copy

    from accessdrift.core.engine import Engine
    from accessdrift.simulate.organisation import SimulationOptions
    from tests.unit.test_simulation import keyed_records

    handle = identity.handle
    changed: list[str] = []

    def checked(identity_id: str, state: Any, message: Any, *rest: Any) -> Any:
        before = copy.deepcopy(state)
        out = handle(identity_id, state, message, *rest)
        if state != before:
            changed.append(f"{message['t']} to {identity_id}")
        return out

    engine = Engine(CONFIG, allowed_lateness_us=30 * MICROS)
    identity.handle = checked  # type: ignore[assignment]
    try:
        records = keyed_records(SimulationOptions(seed=5, identities=40))
        for index, (name, _key, record) in enumerate(records):
            engine.feed(name, record, index)
        engine.tick(len(records) + 10**13)
    finally:
        identity.handle = handle  # type: ignore[assignment]
    assert engine.findings.alerts, "the run found something, so it judged"
    assert not changed, changed[:5]
