"""The resolver partitioned by subject: the core's part (accessdrift.core.resolver).

Whole simulated organisations run through it in tests/unit/test_partitioned_delivery.py;
here: the cases an organisation does not show — a chain of two answers (an email
between an account and its identity), a cycle of claims across partitions, the
scenario of every detection in many orders, and that a record reaches every
partition whose subjects it touches.
"""

import random
from collections.abc import Mapping
from typing import Any

import pytest

from accessdrift.core.engine import Engine
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import Resolver
from accessdrift.core.routing import route_record, subjects_of
from tests.unit.core_builders import cloud, directory, use
from tests.unit.test_detection import HOUR, Event, alerts, run_unordered, scenario

PARTITIONS = 4


def run_partitioned(events: list[Event], seed: int, link_by_email: bool = False) -> Engine:
    engine = run_unordered(
        events,
        link_by_email=link_by_email,
        partitions=4,
        schedule_seed=seed,
        resolver_partitions=PARTITIONS,
    )
    assert engine.waiting == {}
    return engine


def run_whole(events: list[Event], link_by_email: bool = False) -> Engine:
    return run_unordered(events, link_by_email=link_by_email)


def test_every_detection_in_any_order_matches_one_partition() -> None:
    events = scenario()
    expected = run_whole(events).findings.comparable()
    generator = random.Random(11)
    for seed in range(30):
        shuffled = events[:]
        generator.shuffle(shuffled)
        assert run_partitioned(shuffled, seed).findings.comparable() == expected, seed


def email_chain() -> list[Event]:
    # key -> account -> email -> identity: three subjects, chosen on three partitions.
    account, key = "gcp:carol@corp.example", "gcp:key/c2"
    keys = {partition_of(name, PARTITIONS) for name in (account, key, "email:carol@corp.example")}
    assert len(keys) == 3, "the test wants each hop to cross partitions"
    events = [
        use(2 * HOUR, account=account, credential=key),
        directory(-10 * HOUR, "joiner", identity_id="E9"),
        directory(0, "leaver", identity_id="E9"),
        use(3 * HOUR, account=account, credential=key),
    ]
    events[1][1]["email"] = "Carol@corp.example"
    return events


@pytest.mark.parametrize("seed", range(12))
def test_two_answers_in_a_row_reach_the_identity(seed: int) -> None:
    events = email_chain()
    random.Random(seed).shuffle(events)
    engine = run_partitioned(events, seed, link_by_email=True)
    expected = alerts(run_whole(events, link_by_email=True))
    assert ("used_after_deprovision", "E9", "gcp:key/c2", 2.0 * HOUR) in expected
    assert alerts(engine) == expected


@pytest.mark.parametrize(
    "cycle", [["aws:1:user/a", "aws:1:user/b"], ["aws:1:user/a", "aws:1:user/b", "aws:1:user/d"]]
)
def test_a_cycle_of_claims_across_partitions_never_waits_forever(cycle: list[str]) -> None:
    # Hostile ids: "keys" that are also accounts, each used by the next.
    assert len({partition_of(subject, PARTITIONS) for subject in cycle}) == len(cycle)
    events = [
        cloud(HOUR + index, "usage", cycle[(index + 1) % len(cycle)], subject)
        for index, subject in enumerate(cycle)
    ]
    events += [*events, directory(0, "leaver", identity_id="E5", accounts=[])]
    generator = random.Random(5)
    for seed in range(20):
        generator.shuffle(events)
        engine = run_partitioned(events, seed)  # drains: no answer goes round for ever
        assert not any(engine.resolve_queues)
        holders = {row["identity_id"] for row in engine.findings.ownership.values()}
        assert holders <= set(cycle)


class Recording(Resolver):
    """Owns nothing but notes every subject routing asks about."""

    def __init__(self) -> None:
        super().__init__({}, link_by_email=True, partitions=PARTITIONS, partition=0)
        self.asked: set[str] = set()

    def owns(self, subject: str) -> bool:
        self.asked.add(subject)
        return False


def test_a_record_goes_to_every_partition_whose_subjects_it_touches() -> None:
    events: list[tuple[str, Mapping[str, Any]]] = [*scenario(), *email_chain()]
    for name, record in events:
        recording = Recording()
        assert route_record(recording, name, record) == []
        assert recording.asked <= subjects_of(name, record), (name, record)
