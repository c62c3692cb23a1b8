"""Both stages wired in memory: the core as one function of an event sequence.

The Faust agents run the same functions across topics and partitions; this
engine runs them in one process, for the table-driven tests, the order
independence tests and the per-stage profile of the benchmarks.
"""

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accessdrift.core import identity
from accessdrift.core.config import DetectionConfig
from accessdrift.core.resolver import Node, Outbound, Resolver
from accessdrift.core.routing import route_record
from accessdrift.core.timeutil import to_micros
from accessdrift.core.watermark import Watermark


@dataclass
class Findings:
    """The latest version of every lag row and alert, by id, as a sink would keep them."""

    lags: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    lag_emissions: int = 0
    alert_emissions: int = 0

    def add(self, result: identity.Result) -> None:
        for row in result.lags:
            self.lags[row["lag_id"]] = row
            self.lag_emissions += 1
        for alert in result.alerts:
            self.alerts[alert["alert_id"]] = alert
            self.alert_emissions += 1

    def comparable(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Everything but processing times, sorted: equal when two runs found the same."""
        lags = sorted(
            (
                tuple((key, value) for key, value in sorted(row.items()) if key != "detected_at")
                for row in self.lags.values()
            ),
            key=repr,
        )
        alerts = sorted(
            (
                tuple((key, value) for key, value in sorted(alert.items()) if key != "detected_at")
                for alert in self.alerts.values()
            ),
            key=repr,
        )
        return lags, alerts


class Engine:
    def __init__(
        self,
        config: DetectionConfig,
        allowed_lateness_us: int = 0,
        idle_us: int = 5_000_000,
        link_by_email: bool = False,
    ) -> None:
        self.config = config
        self.subjects: dict[str, Node] = {}
        self.resolver = Resolver(self.subjects, link_by_email)
        self.identities: dict[str, identity.State] = {}
        self.watermark = Watermark(allowed_lateness_us, idle_us)
        self.deadlines: dict[str, int] = {}
        self.findings = Findings()

    def feed(
        self, record_name: str, record: Mapping[str, Any], wall_us: int, source: str | None = None
    ) -> None:
        self.watermark.observe(source or record_name, to_micros(record["event_time"]), wall_us)
        outbound = route_record(self.resolver, record_name, record)
        self._deliver(outbound, wall_us)

    def tick(self, wall_us: int) -> None:
        """What a timer does: wake the identities whose deadline the watermark has passed."""
        watermark = self.watermark.current(wall_us)
        if watermark is None:
            return
        due = [key for key, deadline in self.deadlines.items() if deadline <= watermark]
        self._deliver([Outbound(key, {"t": "tick"}) for key in sorted(due)], wall_us)

    def _deliver(self, outbound: list[Outbound], wall_us: int) -> None:
        queue = deque(outbound)
        while queue:
            item = queue.popleft()
            watermark = self.watermark.current(wall_us)
            state, result = identity.handle(
                item.identity_id,
                self.identities.get(item.identity_id),
                item.message,
                watermark if watermark is not None else 0,
                wall_us,
                self.config,
            )
            self.identities[item.identity_id] = state
            if result.next_deadline_us is None:
                self.deadlines.pop(item.identity_id, None)
            else:
                self.deadlines[item.identity_id] = result.next_deadline_us
            self.findings.add(result)
            queue.extend(result.messages)
