"""Batch processing with Faust tables.

Agents take events in batches (``take_events``) so that a busy key is read and
written once per batch instead of once per event. Faust's stores find a key's
partition from the event being processed; ``take_events`` runs its own task, so
the agent names that event itself before it writes (``as_current``).
"""

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
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


class ReadCache:
    """The latest value of the keys a stage used most recently, across batches.

    A Faust table reads from RocksDB and decodes JSON on every get: for the resolver,
    which looks up a chain of subjects per event, that was a quarter of the worker's
    time. The stage that owns a table partition is its only writer, so what it wrote
    last is what the table holds; ``clear`` on every rebalance, when ownership moves.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key, _MISSING)
        if value is _MISSING:
            return default
        self.values.move_to_end(key)
        return value

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.values.move_to_end(key)
        while len(self.values) > self.size:
            self.values.popitem(last=False)

    def clear(self) -> None:
        self.values.clear()

    def __len__(self) -> int:
        return len(self.values)


_MISSING = object()


class WriteBack(MutableMapping[str, Any]):
    """Reads through to a table (``read``: a key's value or None), keeps writes until
    ``take_changed``: one write per key per batch."""

    def __init__(self, read: Callable[[str], Any], shared: ReadCache | None = None) -> None:
        self.read = read
        self.shared = shared
        self.cache: dict[str, Any] = {}
        self.dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self.cache:
            value = self.cache[key]
            if value is None:
                raise KeyError(key)
            return value
        if self.shared is not None and key in self.shared:
            value = self.shared.get(key)
        else:
            value = self.read(key)
            if self.shared is not None:
                self.shared.put(key, value)
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

    def take_changed(self) -> dict[str, Any]:
        """The keys written since the last call and their values, for the caller to store;
        the shared cache holds them from now on."""
        changed = {key: self.cache[key] for key in self.dirty}
        if self.shared is not None:
            for key, value in changed.items():
                self.shared.put(key, value)
        self.dirty.clear()
        return changed


async def delivered(sent: list[Any]) -> None:
    """Wait for the broker to acknowledge these sends (``send_soon`` futures)."""
    if sent:
        await asyncio.gather(*sent)
    sent.clear()
