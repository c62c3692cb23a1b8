"""The message types say what really travels between the stages.

A simulated organisation runs through the partitioned engine (4 identity partitions,
4 resolver partitions: moves, facts sent on, waits and hops all happen); every
message the identity stage and the resolver partitions receive is checked against
its TypedDict: its tag names a type, it has every required key and no key the type
does not declare.
"""

import random
from collections import Counter
from typing import Any, cast, get_args

import pytest

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.messages import HopMessage, IdentityMessage
from accessdrift.core.resolver import Resolver
from accessdrift.core.timeutil import MICROS
from accessdrift.simulate.organisation import SimulationOptions
from tests.unit.test_partitioned_delivery import as_consumed
from tests.unit.test_simulation import keyed_records


def _by_tag(union: Any) -> dict[str, type]:
    return {get_args(kind.__annotations__["t"])[0]: kind for kind in get_args(union)}


IDENTITY_TYPES = _by_tag(IdentityMessage)
HOP_TYPES = _by_tag(HopMessage)


def problems(message: dict[str, Any], types: dict[str, type]) -> list[str]:
    kind = types.get(message.get("t"))  # type: ignore[arg-type]
    if kind is None:
        return [f"no type for tag {message.get('t')!r}"]
    required: frozenset[str] = kind.__required_keys__  # type: ignore[attr-defined]
    optional: frozenset[str] = kind.__optional_keys__  # type: ignore[attr-defined]
    found = []
    if missing := required - message.keys():
        found.append(f"{kind.__name__} without {sorted(missing)}")
    if extra := message.keys() - required - optional:
        found.append(f"{kind.__name__} with undeclared {sorted(extra)}")
    return found


def test_a_message_true_to_its_type_passes_and_others_do_not() -> None:
    tick = {"t": "tick", "wm": 5}
    assert problems(tick, IDENTITY_TYPES) == []
    assert problems({"t": "owner_left", "owner": "E1"}, IDENTITY_TYPES) == [
        "OwnerLeftMessage without ['ts']"
    ]
    assert problems({"t": "tick", "colour": 1}, IDENTITY_TYPES) == [
        "TickMessage with undeclared ['colour']"
    ]
    assert problems({"t": "gossip"}, IDENTITY_TYPES) == ["no type for tag 'gossip'"]


def test_an_untyped_message_is_refused_by_the_identity_stage() -> None:
    with pytest.raises(ValueError, match="gossip"):
        identity.handle("E1", None, cast(Any, {"t": "gossip"}), 0, 0, DetectionConfig())


def test_every_message_between_the_stages_is_true_to_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: Counter[str] = Counter()
    wrong: list[str] = []
    handle = identity.handle
    on_hop = Resolver.on_hop

    def checked_handle(identity_id: str, state: Any, message: Any, *rest: Any) -> Any:
        seen[message["t"]] += 1
        wrong.extend(problems(message, IDENTITY_TYPES))
        return handle(identity_id, state, message, *rest)

    def checked_hop(self: Resolver, subject: str, message: Any) -> Any:
        seen[f"hop:{message['t']}"] += 1
        wrong.extend(problems(message, HOP_TYPES))
        return on_hop(self, subject, message)

    monkeypatch.setattr(identity, "handle", checked_handle)
    monkeypatch.setattr(Resolver, "on_hop", checked_hop)
    options = SimulationOptions(seed=11, identities=60)
    events = as_consumed(keyed_records(options), random.Random(3))
    engine = Engine(
        DetectionConfig(),
        allowed_lateness_us=30 * MICROS,
        partitions=4,
        schedule_seed=3,
        resolver_partitions=4,
    )
    for index, (name, record) in enumerate(events):
        engine.feed(name, record, index)
    engine.drain(len(events))
    engine.tick(len(events) + 10**13)
    assert not wrong, Counter(wrong).most_common(5)
    # The run went through every kind, so the check above covered them all.
    assert set(seen) >= {*IDENTITY_TYPES, *(f"hop:{tag}" for tag in HOP_TYPES)} - {"wm"}, seen
