"""Batch processing with Faust tables.

Agents take events in batches (``take_events``) so that a busy key is read and
written once per batch instead of once per event. Faust's stores find a key's
partition from the event being processed; ``take_events`` runs its own task, so
the agent names that event itself before it writes (``as_current``).
"""

import weakref
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event
from faust.types import EventT


@contextmanager
def as_current(event: EventT[Any]) -> Iterator[None]:
    """Table writes inside this block go to ``event``'s partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class WriteBack(MutableMapping[str, Any]):
    """Reads through to a table, keeps writes until ``flush``: one write per key per batch."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self.cache: dict[str, Any] = {}
        self.dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self.cache:
            value = self.cache[key]
            if value is None:
                raise KeyError(key)
            return value
        value = self.table.get(key)
        self.cache[key] = value
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.cache[key] = value
        self.dirty.add(key)

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("state is never deleted key by key")

    def __iter__(self) -> Iterator[str]:
        return iter(self.cache)

    def __len__(self) -> int:
        return len(self.cache)

    def flush(self) -> int:
        for key in self.dirty:
            self.table[key] = self.cache[key]
        written = len(self.dirty)
        self.dirty.clear()
        return written
