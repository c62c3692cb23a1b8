"""The ingest's positions in this database (migration 0003_ingest_positions)."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from accessdrift.sinks.clickhouse import ClickHouse

POSITIONS_TABLE = "ingest_positions"
POSITION_COLUMNS = ("topic", "partition", "next_offset", "written_at")

Positions = dict[tuple[str, int], int]


def read_positions(clickhouse: ClickHouse) -> Positions:
    """The next offset to write, per (topic, partition) this database has rows of."""
    result = clickhouse.query(
        f"SELECT topic, partition, next_offset FROM {POSITIONS_TABLE} FINAL", read_only=False
    )
    return {(str(topic), int(partition)): int(offset) for topic, partition, offset in result.rows}


def position_rows(positions: Mapping[tuple[str, int], int]) -> list[list[Any]]:
    now = datetime.now(UTC)
    return [
        [topic, partition, offset, now] for (topic, partition), offset in sorted(positions.items())
    ]
