from accessdrift.core.partitions import partition_of
from accessdrift.streams.bundles import (
    pack_messages,
    pack_messages_chunks,
    pack_records,
    pack_records_chunks,
    unpack_messages,
    unpack_records,
)


def test_record_bundles_round_trip_in_order_with_any_bytes() -> None:
    items = [
        ("CloudAuditEvent|cloud.audit|0", b"\xc3\x01abc"),
        ("IdentityLink|identity.links|3", b""),
        ("é|x|1", bytes(range(256))),
    ]
    assert unpack_records(pack_records(items)) == items
    assert unpack_records(b"") == []


def test_message_bundles_round_trip() -> None:
    messages = [("E1", {"t": "use", "ts": 1}), ("", {"t": "wm", "wm": None})]
    assert unpack_messages(pack_messages(messages)) == messages


def test_identity_partition_is_stable_and_spread() -> None:
    assert partition_of("E1", 4) == partition_of("E1", 4)
    assert len({partition_of(f"E{n}", 4) for n in range(100)}) == 4


def test_big_batches_are_cut_into_bundles_under_the_limit_in_order() -> None:
    """A batch of big records once made a 1.7 MB bundle, over what the producer sends."""
    items = [(f"CloudAuditEvent|cloud.audit|{n % 4}", bytes(1000 + n)) for n in range(600)]
    bundles = pack_records_chunks(items, limit=64 * 1024)
    assert len(bundles) > 1
    assert all(len(bundle) <= 64 * 1024 for bundle in bundles)
    assert [item for bundle in bundles for item in unpack_records(bundle)] == items
    messages = [(f"E{n}", {"t": "use", "pad": "x" * 500, "n": n}) for n in range(1000)]
    message_bundles = pack_messages_chunks(messages, limit=32 * 1024)
    assert len(message_bundles) > 1
    assert all(len(bundle) <= 32 * 1024 for bundle in message_bundles)
    assert [m for bundle in message_bundles for m in unpack_messages(bundle)] == messages


def test_one_item_bigger_than_the_limit_goes_alone() -> None:
    big = [("a|t|0", bytes(10)), ("b|t|0", bytes(5000)), ("c|t|0", bytes(10))]
    bundles = pack_records_chunks(big, limit=1000)
    assert [len(unpack_records(bundle)) for bundle in bundles] == [1, 1, 1]
    assert pack_records_chunks([]) == [] and pack_messages_chunks([]) == []
