"""Event-time watermarks, with idle sources advancing by wall clock.

The watermark of several inputs is the least of their latest event times, less
the allowed lateness: nothing older than it is expected any more. An input that
has been silent for ``idle_us`` of wall-clock time stops holding the others back,
and when every input is silent the watermark moves on with the wall clock from
the last event seen, so that an idle stream still reaches its deadlines.

Silence is not idleness when the input has a backlog nobody has read yet: the
reader reports which inputs are *behind* (``report``), and those hold the
watermark back, at the latest event time known of them, until reported caught up;
one behind whose latest event time is not known yet holds it where it is.
"""

from dataclasses import dataclass, field


@dataclass
class Watermark:
    allowed_lateness_us: int
    idle_us: int
    # Inputs not heard from yet cannot hold the watermark back: so there is none
    # until every input had ``idle_us`` after the first record to show up.
    started_at: int | None = None
    latest: dict[str, int] = field(default_factory=dict)  # input -> max event time
    heard: dict[str, int] = field(default_factory=dict)  # input -> wall time of its last record
    emitted: int | None = None
    behind: dict[str, int | None] = field(default_factory=dict)  # input -> latest, as reported
    caught_up: dict[str, int] = field(default_factory=dict)  # input -> wall time of that word

    def report(self, progress: dict[str, tuple[int | None, bool]], wall_us: int) -> None:
        """The reader's word on inputs: (latest event time it read, reached the end).
        "Reached the end" holds only while the reader keeps saying so: a reader that
        stops reporting (blocked on its sink, taken away by a rebalance) leaves its
        inputs behind at their latest event time."""
        for source, (latest, at_end) in progress.items():
            if at_end:
                self.behind.pop(source, None)
                self.caught_up[source] = wall_us
                if latest is not None and latest > self.latest.get(source, latest - 1):
                    self.latest[source] = latest
            else:
                self.behind[source] = latest
                self.caught_up.pop(source, None)

    def observe(self, source: str, event_us: int, wall_us: int) -> None:
        if self.started_at is None:
            self.started_at = wall_us
        if event_us > self.latest.get(source, event_us - 1):
            self.latest[source] = event_us
        self.latest.setdefault(source, event_us)
        self.heard[source] = wall_us

    def current(self, wall_us: int) -> int | None:
        if not self.latest:
            return self.emitted
        if self.started_at is not None and wall_us - self.started_at < self.idle_us:
            return self.emitted
        active = [
            self.latest[source]
            for source, heard in self.heard.items()
            if wall_us - heard <= self.idle_us
        ]
        stale = {
            source: None
            for source, said_at in self.caught_up.items()
            if wall_us - said_at > 2 * self.idle_us
        }
        for source, reported in {**stale, **self.behind}.items():
            known = max(
                (value for value in (reported, self.latest.get(source)) if value is not None),
                default=None,
            )
            if known is None:
                return self.emitted  # a backlog of unknown age: nothing can be ruled out
            active.append(known)
        if active:
            value = min(active) - self.allowed_lateness_us
        else:
            last_heard = max(self.heard.values(), default=wall_us)
            value = (
                max(self.latest.values())
                - self.allowed_lateness_us
                + (wall_us - last_heard - self.idle_us)
            )
        if self.emitted is None or value > self.emitted:
            self.emitted = value
        return self.emitted
