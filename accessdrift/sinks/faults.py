"""A fault-injection seam in the sink, for fault tests and game days.

While the file ``ACCESSDRIFT_FAULT_FILE`` names exists and holds ``clickhouse-insert``,
every insert fails as an unreachable ClickHouse would (``ClickHouseError``): the
worker backs off and retries, its inputs wait in Kafka, and ``/ready/`` says so.
Remove the file and the inserts go through again. Without the setting nothing is
checked. A file rather than a signal: a test, an operator or a script on another
host's shared folder can flip it while the worker runs.
"""

from dataclasses import dataclass
from pathlib import Path

from accessdrift.errors import ClickHouseError

INSERT = "clickhouse-insert"


@dataclass(frozen=True)
class FaultSwitch:
    path: Path

    def active(self, fault: str) -> bool:
        try:
            return fault in self.path.read_text(encoding="utf-8").split()
        except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError):
            return False

    def check(self, fault: str, what: str) -> None:
        if self.active(fault):
            raise ClickHouseError(f"{what} failed: fault injected by {self.path} ({fault})")
