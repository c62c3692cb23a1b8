from streams.bundles import (
    identity_partition,
    pack_messages,
    pack_records,
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
    assert identity_partition("E1", 4) == identity_partition("E1", 4)
    assert len({identity_partition(f"E{n}", 4) for n in range(100)}) == 4
