"""The write-back view of a table and the read cache shared across batches."""

from pathlib import Path
from typing import Any

from accessdrift.streams.batching import ReadCache, WriteBack


class CountingTable(dict[str, Any]):
    """A table that counts its reads and writes (each costs a RocksDB get or a changelog send)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_one_write_per_key_per_batch_and_reads_served_from_the_shared_cache() -> None:
    table = CountingTable()
    shared = ReadCache(size=10)
    batch = WriteBack(table.get, shared)
    assert batch.get("a") is None  # missing: remembered as missing
    batch["a"] = {"n": 1}
    batch["a"] = {"n": 2}
    changed = batch.take_changed()
    assert changed == {"a": {"n": 2}} and table.writes == 0, "the stage writes it, once"
    assert batch.take_changed() == {}
    table.update(changed)
    next_batch = WriteBack(table.get, shared)
    assert next_batch["a"] == {"n": 2}
    assert next_batch.get("b") is None and next_batch.get("b") is None
    assert table.reads == 2, "a once (missing) in the first batch, b once"


def test_the_cache_keeps_the_most_recently_used_keys() -> None:
    shared = ReadCache(size=2)
    shared.put("a", 1)
    shared.put("b", 2)
    assert shared.get("a") == 1  # a is now the most recent
    shared.put("c", 3)
    assert "b" not in shared and "a" in shared and "c" in shared and len(shared) == 2
    shared.clear()
    assert len(shared) == 0 and shared.get("a", "gone") == "gone"


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    table = CountingTable()
    table["a"] = 1
    shared = ReadCache(size=0)
    WriteBack(table.get, shared)["a"]
    WriteBack(table.get, shared)["a"]
    assert table.reads == 2 and len(shared) == 0


def test_state_is_written_in_the_bytes_faust_reads_back() -> None:
    """The stage writes changelog records itself: Faust's recovery must read them as its own."""
    import faust

    from accessdrift.streams.stage_output import changelog_record

    app = faust.App("bytes-check", store="memory://")
    table = app.Table("t", key_type=str)
    state = {"use": [[1, "u\u202e", None, True]], "acc": {"a": {"since": 1}}, "emitted": {}}
    key = app.serializers.dumps_key(str, "E1", serializer=table.key_serializer)
    value = app.serializers.dumps_value(None, state, serializer=table.value_serializer)
    assert changelog_record("E1", state) == (key, value)


def test_a_state_is_read_back_from_its_partition_as_written(tmp_path: Path) -> None:
    """The stages read a key from the partition they know it is in (one RocksDB get);
    what they read is what write_store wrote and what Faust itself decodes."""
    import faust
    import orjson

    from accessdrift.streams.stage_output import changelog_record, read_state, write_store

    app = faust.App("read-check", store="rocksdb://", datadir=str(tmp_path))
    table = app.Table("t", key_type=str, partitions=4)
    state = {"use": [[1, "u\u202e", None, True]], "acc": {"a": {"since": 1}}, "emitted": {}}
    write_store(table.data, 2, {"E1": state}, [changelog_record("E1", state)], 17)
    assert read_state(table, 2, "E1") == state
    assert read_state(table, 2, "E2") is None
    assert read_state(table, 1, "E1") is None, "another partition's database"
    faust_bytes = table.data._get(orjson.dumps("E1"))
    assert table.data._decode_value(faust_bytes) == state

    memory = faust.App("read-check-memory", store="memory://").Table("m", key_type=str)
    write_store(memory.data, 0, {"E1": state}, [changelog_record("E1", state)], None)
    assert read_state(memory, 0, "E1") == state
