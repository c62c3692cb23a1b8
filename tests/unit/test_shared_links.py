"""Shared subjects by links (accessdrift.core.resolver, ``record_link``).

Two identities claiming the same account or credential (an IdentityLink, or the
``accounts`` of a DirectoryChange) within the sharing window, the earlier claim not
removed in between: the resolver tells the later claimer once (``shared``), in
whatever order the claims arrive, on one partition or many. The resolver is driven
directly here: what the identity stage makes of the message is tested with it.
"""

import itertools
import random
from typing import Any, cast

import pytest

from accessdrift.core.config import DetectionConfig
from accessdrift.core.engine import Engine
from accessdrift.core.messages import IdentityMessage
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import (
    MAX_ANNOUNCED,
    MAX_LINK_HISTORY,
    Node,
    Outbound,
    Resolver,
)
from accessdrift.core.routing import route_record, subjects_of
from accessdrift.core.timeutil import MICROS, to_micros
from accessdrift.streams.bundles import pack_messages, unpack_messages
from tests.unit.core_builders import at, directory, link
from tests.unit.test_messages import IDENTITY_TYPES, problems

HOUR = 3600.0
DAY = 24 * HOUR
HOUR_US = 3600 * MICROS
ACCOUNT = "aws:111122223333:user/shared-build"
KEY = "aws:AKIASHARED000000001"
Record = tuple[str, dict[str, Any]]


def us(seconds: float) -> int:
    return to_micros(at(seconds))


def shared(outbound: list[Outbound]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (item.identity_id, dict(item.message)) for item in outbound if item.message["t"] == "shared"
    ]


def feed(resolver: Resolver, records: list[Record]) -> list[tuple[str, dict[str, Any]]]:
    out: list[Outbound] = []
    for name, record in records:
        out += route_record(resolver, name, record)
    return shared(out)


def feed_partitioned(
    records: list[Record], partitions: int = 2, **options: Any
) -> list[tuple[str, dict[str, Any]]]:
    """As the worker does: each record to the partition of each subject it names, each
    partition with its own store, the messages between partitions delivered."""
    resolvers = [
        Resolver({}, partitions=partitions, partition=number, **options)
        for number in range(partitions)
    ]
    out: list[Outbound] = []
    for name, record in records:
        for number in sorted({partition_of(key, partitions) for key in subjects_of(name, record)}):
            out += route_record(resolvers[number], name, record)
        while any(resolver.hops for resolver in resolvers):
            for resolver in resolvers:
                hops, resolver.hops = resolver.hops, []
                for hop in hops:
                    out += resolvers[partition_of(hop.subject, partitions)].on_hop(
                        hop.subject, hop.message
                    )
    return shared(out)


def message(
    subject: str, other: str, ots: float, ts: float, cred: bool = False, kind: str = "human"
) -> dict[str, Any]:
    return {
        "t": "shared",
        "s": subject,
        "cred": cred,
        "other": other,
        "ots": us(ots),
        "ts": us(ts),
        "ik": kind,
        "fb": False,
    }


def in_every_order(records: list[Record]) -> list[list[Record]]:
    return [list(order) for order in itertools.permutations(records)]


def test_the_later_claimer_hears_once_in_either_order() -> None:
    first = link(0, "E1", account=ACCOUNT)
    second = link(2 * HOUR, "E2", account=ACCOUNT, kind="nhi")
    expected = [("E2", message(ACCOUNT, "E1", 0, 2 * HOUR, kind="nhi"))]
    assert feed(Resolver({}), [first, second]) == expected
    assert feed(Resolver({}), [second, first]) == expected


def test_the_message_is_true_to_its_type_and_travels_in_a_bundle() -> None:
    told = feed(Resolver({}), [link(0, "E1", credential=KEY), link(HOUR, "E2", credential=KEY)])
    assert len(told) == 1
    identity_id, item = told[0]
    assert problems(item, IDENTITY_TYPES) == []
    # As the identity stage reads it from its topic (accessdrift.streams.bundles, orjson).
    bundle = pack_messages([(identity_id, cast(IdentityMessage, item))])
    assert unpack_messages(bundle) == [("E2", message(KEY, "E1", 0, HOUR, cred=True))]


def test_a_credential_and_a_directory_changes_accounts_are_claims_too() -> None:
    joiner = directory(0, "joiner", identity_id="E1", accounts=[ACCOUNT])
    key_link = link(-HOUR, "E1", credential=KEY)
    later_account = link(3 * HOUR, "E2", account=ACCOUNT)
    later_key = link(5 * HOUR, "E3", credential=KEY, kind="nhi")
    expected = sorted(
        [
            ("E2", message(ACCOUNT, "E1", 0, 3 * HOUR)),
            ("E3", message(KEY, "E1", -HOUR, 5 * HOUR, cred=True, kind="nhi")),
        ],
        key=repr,
    )
    for order in in_every_order([joiner, key_link, later_account, later_key]):
        assert sorted(feed(Resolver({}), order), key=repr) == expected


def test_a_removal_between_the_claims_prevents_the_pair_unless_it_arrives_last() -> None:
    first = link(0, "E1", account=ACCOUNT)
    removal = link(HOUR, "E1", account=ACCOUNT, removed=True)
    second = link(2 * HOUR, "E2", account=ACCOUNT)
    for order in in_every_order([first, removal, second]):
        told = feed(Resolver({}), order)
        if order.index(removal) < max(order.index(first), order.index(second)):
            assert told == [], order
        else:
            # The limitation: a pair once told is not taken back by a removal that
            # arrives after it (the identity stage has already raised the alert).
            assert told == [("E2", message(ACCOUNT, "E1", 0, 2 * HOUR))], order


def test_a_removal_after_the_second_claim_or_by_another_identity_does_not_end_the_first() -> None:
    first = link(0, "E1", account=ACCOUNT)
    second = link(2 * HOUR, "E2", account=ACCOUNT)
    late_removal = link(3 * HOUR, "E1", account=ACCOUNT, removed=True)
    someone_else = link(HOUR, "E9", account=ACCOUNT, removed=True)
    expected = [("E2", message(ACCOUNT, "E1", 0, 2 * HOUR))]
    for order in in_every_order([first, second, late_removal, someone_else]):
        assert feed(Resolver({}), order) == expected, order


def test_a_relink_two_days_later_is_no_sharing() -> None:
    first = link(0, "E1", account=ACCOUNT)
    removal = link(HOUR, "E1", account=ACCOUNT, removed=True)
    relink = link(2 * DAY, "E2", account=ACCOUNT)
    for order in in_every_order([first, removal, relink]):
        assert feed(Resolver({}), order) == [], order
    # Not even without the removal: two days is outside the default window of one.
    assert feed(Resolver({}), [first, relink]) == []


def test_the_window_is_the_resolvers_setting_and_inclusive() -> None:
    first = link(0, "E1", account=ACCOUNT)
    at_window = link(DAY, "E2", account=ACCOUNT)
    past_window = link(DAY + 1e-6, "E3", account=ACCOUNT)
    assert feed(Resolver({}), [first, at_window, past_window]) == [
        ("E2", message(ACCOUNT, "E1", 0, DAY)),
        ("E3", message(ACCOUNT, "E2", DAY, DAY + 1e-6)),
    ]
    two_days = link(2 * DAY, "E2", account=ACCOUNT)
    wide = Resolver({}, sharing_window_us=3 * int(DAY) * 1_000_000)
    assert feed(wide, [first, two_days]) == [("E2", message(ACCOUNT, "E1", 0, 2 * DAY))]


def test_the_same_identity_claiming_twice_is_no_sharing() -> None:
    records = [
        link(0, "E1", account=ACCOUNT),
        link(HOUR, "E1", account=ACCOUNT),
        directory(2 * HOUR, "mover", identity_id="E1", accounts=[ACCOUNT]),
    ]
    for order in in_every_order(records):
        assert feed(Resolver({}), order) == [], order


def test_claims_at_the_same_time_name_the_larger_identity_the_later_claimer() -> None:
    # As Resolver.claim lets the larger id win a tie: the same whatever arrives first.
    one, other = link(HOUR, "E1", account=ACCOUNT), link(HOUR, "E2", account=ACCOUNT)
    expected = [("E2", message(ACCOUNT, "E1", HOUR, HOUR))]
    assert feed(Resolver({}), [one, other]) == expected
    assert feed(Resolver({}), [other, one]) == expected


def test_each_pair_of_three_claimers_is_told_to_its_later_one() -> None:
    records = [
        link(0, "E1", account=ACCOUNT),
        link(HOUR, "E2", account=ACCOUNT),
        link(2 * HOUR, "E3", account=ACCOUNT),
    ]
    expected = sorted(
        [
            ("E2", message(ACCOUNT, "E1", 0, HOUR)),
            ("E3", message(ACCOUNT, "E1", 0, 2 * HOUR)),
            ("E3", message(ACCOUNT, "E2", HOUR, 2 * HOUR)),
        ],
        key=repr,
    )
    for order in in_every_order(records):
        assert sorted(feed(Resolver({}), order), key=repr) == expected, order


def test_a_replay_tells_nothing_again() -> None:
    records = [
        link(0, "E1", account=ACCOUNT),
        link(2 * HOUR, "E2", account=ACCOUNT),
        directory(3 * HOUR, "joiner", identity_id="E3", accounts=[ACCOUNT]),
    ]
    store: dict[str, Node] = {}
    assert len(feed(Resolver(store), records)) == 3
    # Replayed after a restart (a new resolver on the state that was written), in
    # another order: the history already holds every claim.
    assert feed(Resolver(store), records[::-1]) == []
    # Even with the history lost, the pairs told are remembered.
    node = store[ACCOUNT]
    store[ACCOUNT] = {key: value for key, value in node.items() if key != "lh"}
    assert feed(Resolver(store), records) == []


def test_sharing_leaves_ownership_as_it_was() -> None:
    records = [link(0, "E1", account=ACCOUNT), link(2 * HOUR, "E2", account=ACCOUNT)]
    with_sharing, without = Resolver({}), Resolver({}, sharing_window_us=-1)
    out_with: list[Outbound] = []
    out_without: list[Outbound] = []
    for name, record in records:
        out_with += route_record(with_sharing, name, record)
        out_without += route_record(without, name, record)
    assert shared(out_without) == []
    assert [item for item in out_with if item.message["t"] != "shared"] == out_without
    assert with_sharing.ownership == without.ownership
    node = with_sharing.store[ACCOUNT]
    assert {key: node[key] for key in ("o", "c", "r")} == {
        key: without.store[ACCOUNT][key] for key in ("o", "c", "r")
    }


def test_history_and_pairs_told_stay_bounded() -> None:
    store: dict[str, Node] = {}
    resolver = Resolver(store)
    records = [link(minute * 60.0, f"E{minute:02d}", account=ACCOUNT) for minute in range(12)]
    told = feed(resolver, records)
    node = store[ACCOUNT]
    assert len(node["lh"]) == MAX_LINK_HISTORY
    assert [claim[0] for claim in node["lh"]] == [f"E{minute:02d}" for minute in range(4, 12)]
    assert len(node["sh"]) == MAX_ANNOUNCED
    # Every claimer after the first heard of each claim before its own, while it was kept.
    assert len(told) == sum(min(index, MAX_LINK_HISTORY - 1) for index in range(12))
    # A claim older than a full history completes nothing (it would be dropped at once).
    assert feed(resolver, [link(-60.0, "E99", account=ACCOUNT)]) == []
    assert len(node["lh"]) == MAX_LINK_HISTORY


@pytest.mark.parametrize("seed", range(6))
def test_two_resolver_partitions_tell_the_same(seed: int) -> None:
    subjects = [f"aws:1:user/build-{number}" for number in (2, 3, 4, 5)]
    # Subjects on both partitions, so that each partition tells its own.
    assert {partition_of(subject, 2) for subject in subjects} == {0, 1}
    records: list[Record] = []
    for number, subject in enumerate(subjects):
        records += [
            link(number * HOUR, f"E{number}", account=subject),
            link(number * HOUR + 30 * 60, f"E{number + 1}", account=subject, kind="nhi"),
            link(number * HOUR + 40 * 60, f"E{number}", account=subject, removed=True),
        ]
    records.append(directory(10 * HOUR, "joiner", identity_id="E7", accounts=subjects))
    records.append(link(11 * HOUR, "E8", credential=KEY, account=subjects[0]))
    records.append(link(12 * HOUR, "E9", credential=KEY))
    random.Random(seed).shuffle(records)
    removals_first = sorted(records, key=lambda item: not item[1].get("removed"))
    for order in (records, removals_first):
        whole = feed(Resolver({}), order)
        assert sorted(feed_partitioned(order), key=repr) == sorted(whole, key=repr)
    told = feed_partitioned(removals_first)
    assert len(told) == 11
    assert sorted((identity, item["s"], item["other"]) for identity, item in told) == sorted(
        [
            # The first claimer of each, still linked half an hour later.
            *((f"E{number + 1}", subjects[number], f"E{number}") for number in range(4)),
            # The joiner shares with the second claimers only: the first ones had gone.
            *(("E7", subject, f"E{number + 1}") for number, subject in enumerate(subjects)),
            ("E8", subjects[0], "E1"),
            ("E8", subjects[0], "E7"),
            ("E9", KEY, "E8"),
        ]
    )
    assert all(item["cred"] == (item["s"] == KEY) for _, item in told)


@pytest.mark.parametrize("partitioned", [False, True])
def test_through_the_engine_the_later_claimer_is_raised_within_the_configured_window(
    partitioned: bool,
) -> None:
    records = [link(2 * HOUR, "E2", account=ACCOUNT, kind="nhi"), link(0, "E1", account=ACCOUNT)]
    layout: dict[str, Any] = (
        {"partitions": 4, "resolver_partitions": 4, "schedule_seed": 1} if partitioned else {}
    )

    fields = ("kind", "identity_id", "account_id", "credential_id", "deprovisioned_at", "used_at")

    def raised(config: DetectionConfig) -> list[tuple[Any, ...]]:
        engine = Engine(config, allowed_lateness_us=10 * MICROS, **layout)
        wall = us(0)
        for name, record in records:
            engine.feed(name, record, wall)
        if engine.partitions:
            engine.drain(wall)
        engine.tick(wall + 10**12)
        return [tuple(alert[key] for key in fields) for alert in engine.findings.alerts.values()]

    assert raised(DetectionConfig()) == [
        ("shared_credential", "E2", ACCOUNT, None, at(0), at(2 * HOUR))
    ]
    # The engine's resolvers take the window from the configuration.
    assert raised(DetectionConfig(sharing_window_us=HOUR_US)) == []
