"""Notices about the pipeline itself, to the routing file's ``health`` destinations:
pure, over the worker's counters sampled with the wall clock.

Four conditions, each a notice when it starts (``firing``) and one when it ends
(``resolved``):

- ``input_silent``: an input table's ingest counter has not moved for
  ``silent_after`` (a collector stopped, a topic renamed);
- ``watermark_stalled``: inputs keep arriving, event time has not moved for
  ``watermark_stall`` (deadlines no longer fire);
- ``deadletter_spike``: more than ``deadletters_per_minute`` dead letters in the last
  minute (a vendor changed its format);
- ``deliveries_failing``: alert deliveries ended ``failed`` in the last
  ``FAILING_FOR`` (a revoked webhook).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INPUT_COUNTERS = {
    "sink:directory_changes": "directory.changes",
    "sink:cloud_audit": "cloud.audit",
    "sink:secret_usage": "secret.usage",
}
WATERMARK_GAUGE = "resolver:watermark_us"
FAILING_FOR = 900.0


@dataclass(frozen=True)
class HealthRules:
    silent_after: float
    watermark_stall: float
    deadletters_per_minute: int


@dataclass(frozen=True)
class Notice:
    condition: str
    subject: str
    state: str  # firing or resolved
    summary: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "subject": self.subject,
            "state": self.state,
            "summary": self.summary,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


@dataclass
class HealthWatch:
    rules: HealthRules
    started: float
    moved: dict[str, tuple[int, float]] = field(default_factory=dict)  # counter -> value, when
    dead_letters: list[tuple[float, int]] = field(default_factory=list)  # samples of a minute
    failed: list[tuple[float, int]] = field(default_factory=list)
    firing: set[tuple[str, str]] = field(default_factory=set)

    def check(self, counts: Mapping[str, int], now: float) -> list[Notice]:
        """The notices to send now. Only what this process counts is judged: a notifier
        running apart from the worker has no ingest counters and says nothing of them."""
        wanted: dict[tuple[str, str], str] = {}
        inputs = {counter: topic for counter, topic in INPUT_COUNTERS.items() if counter in counts}
        for counter, topic in inputs.items():
            quiet = self._quiet_for(counter, counts.get(counter, 0), now)
            if quiet >= self.rules.silent_after:
                limit = _span(self.rules.silent_after)
                wanted[("input_silent", topic)] = (
                    f"no record on {topic} for {_span(quiet)} (threshold {limit})"
                )
        inputs_moving = any(
            self._quiet_for(counter, counts.get(counter, 0), now) < self.rules.watermark_stall
            for counter in inputs
        )
        stalled = (
            self._quiet_for(WATERMARK_GAUGE, counts[WATERMARK_GAUGE], now)
            if WATERMARK_GAUGE in counts
            else 0.0
        )
        if inputs_moving and stalled >= self.rules.watermark_stall:
            wanted[("watermark_stalled", "resolver")] = (
                f"event time has not moved for {_span(stalled)} while inputs arrive"
            )
        letters = sum(value for key, value in counts.items() if key.endswith(":dead-lettered"))
        recent = _increase(self.dead_letters, letters, now, 60.0)
        if recent > self.rules.deadletters_per_minute:
            wanted[("deadletter_spike", "drift.deadletter")] = (
                f"{recent} dead letters in the last minute "
                f"(threshold {self.rules.deadletters_per_minute})"
            )
        failures = _increase(self.failed, counts.get("deliveries:failed", 0), now, FAILING_FOR)
        if failures:
            wanted[("deliveries_failing", "alerts")] = (
                f"{failures} alert deliveries failed in the last {_span(FAILING_FOR)} "
                "(`accessdrift alerts status`)"
            )
        at = datetime.fromtimestamp(now, UTC)
        notices = [
            Notice(condition, subject, "firing", wanted[(condition, subject)], at)
            for condition, subject in sorted(set(wanted) - self.firing)
        ]
        notices += [
            Notice(condition, subject, "resolved", f"{condition} on {subject} is over", at)
            for condition, subject in sorted(self.firing - set(wanted))
        ]
        self.firing = set(wanted)
        return notices

    def _quiet_for(self, counter: str, value: int, now: float) -> float:
        before = self.moved.get(counter)
        if before is None:
            self.moved[counter] = (value, self.started)
            return now - self.started
        if before[0] != value:
            self.moved[counter] = (value, now)
            return 0.0
        return now - before[1]


def _increase(samples: list[tuple[float, int]], value: int, now: float, window: float) -> int:
    samples.append((now, value))
    while len(samples) > 1 and samples[1][0] <= now - window:
        samples.pop(0)
    return value - samples[0][1]


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
