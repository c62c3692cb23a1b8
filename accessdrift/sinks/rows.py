"""Rows of the ClickHouse tables, built from decoded records (plain dicts)."""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accessdrift import catalog
from accessdrift.catalog import RecordSpec
from accessdrift.schemas.codec import load_schema_json


@dataclass(frozen=True)
class TableSpec:
    table: str
    record: str
    columns: tuple[str, ...]
    # Columns stored as Array/Map: ClickHouse has no NULL for them, an empty one stands in.
    empty_when_null: Mapping[str, Any]


def _spec(record: RecordSpec) -> TableSpec:
    assert record.table is not None
    columns = tuple(field["name"] for field in load_schema_json(record.record)["fields"])
    return TableSpec(record.table, record.record, columns, record.empty_when_null)


EVENT_TABLES: dict[str, TableSpec] = {
    name: _spec(spec) for name, spec in catalog.TABLES.items() if spec.role == "input"
}
"""Normalized input events: one table per canonical input record."""

FINDING_TABLES: dict[str, TableSpec] = {
    name: _spec(spec) for name, spec in catalog.TABLES.items() if spec.role == "finding"
}
"""What the detection core found."""

ALL_TABLES: dict[str, TableSpec] = {**EVENT_TABLES, **FINDING_TABLES}


@dataclass(frozen=True)
class Columns:
    """One batch of a table, column by column: the client's Native format is columnar,
    so a batch built this way is sent without being transposed row by row."""

    names: tuple[str, ...]
    data: list[list[Any]]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def column(self, name: str) -> list[Any] | None:
        return self.data[self.names.index(name)] if name in self.names else None

    def slice(self, start: int, stop: int) -> "Columns":
        return Columns(self.names, [values[start:stop] for values in self.data])

    def take(self, indices: Sequence[int]) -> "Columns":
        return Columns(self.names, [[values[i] for i in indices] for values in self.data])

    def rows(self) -> list[tuple[Any, ...]]:
        return list(zip(*self.data, strict=True))

    @classmethod
    def from_rows(cls, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> "Columns":
        """For the few small tables written a row at a time (positions, deliveries)."""
        if not rows:
            return cls(tuple(names), [[] for _ in names])
        return cls(tuple(names), [list(values) for values in zip(*rows, strict=True)])


def to_columns(spec: TableSpec, records: Sequence[Mapping[str, Any]]) -> Columns:
    data = []
    for column in spec.columns:
        values = [record.get(column) for record in records]
        if column in spec.empty_when_null:
            empty = spec.empty_when_null[column]
            values = [empty if value is None else value for value in values]
        data.append(values)
    return Columns(spec.columns, data)


def dedup_token(table: str, payloads: Iterable[bytes]) -> str:
    """The same batch of input bytes always gets the same token, so a retried insert is a no-op."""
    digest = hashlib.sha256(table.encode())
    for payload in payloads:
        digest.update(len(payload).to_bytes(4, "little"))
        digest.update(payload)
    return f"{table}:{digest.hexdigest()}"
