"""Whether the sink writes: the state of an outage, for /ready/, /stats/ and /metrics/."""

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class SinkHealth:
    """Set by the thread that inserts, read by the web views: under a lock."""

    failing_since: datetime | None = None
    last_error: str | None = None
    retries: int = 0
    outages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            if self.failing_since is None:
                self.failing_since = datetime.now(UTC)
                self.outages += 1
            self.last_error = str(error)[:500]
            self.retries += 1

    def succeeded(self) -> None:
        with self._lock:
            self.failing_since = None

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            failing = self.failing_since
            return {
                "sinking": failing is None,
                "failing_since": failing.isoformat() if failing else None,
                "failing_for_seconds": (
                    round((datetime.now(UTC) - failing).total_seconds(), 1) if failing else 0.0
                ),
                "last_error": self.last_error,
                "retries": self.retries,
                "outages": self.outages,
            }
