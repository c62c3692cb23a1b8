"""How far the batch ingest has read each canonical partition, told to the resolver.

The resolver's watermark is the least latest event time of its inputs. It only
sees the records the ingest forwards, so on its own it cannot tell a partition
that is idle from one with a backlog the ingest has not served yet (after a
restart the ingest serves some partitions' backlog long before others): it took
the second for the first and ran days ahead, and deadlines fired before the
events that close them were read. The ingest knows: with every batch it sends a
report, in the same bundles and so in order with the records it covers. Before a
batch's records, a report names their partitions *behind*; after them, one says
for every partition it reads whether it reached the partition's end. A partition
behind holds the watermark back until a report says it caught up
(``accessdrift.core.watermark.Watermark.report``).

Reports are JSON, ``{source: [latest event µs or null, at_end]}``, under the
bundle source ``progress``; a source is ``<record>|<topic>|<partition>`` as for
records.
"""

import json
import logging
from dataclasses import dataclass, field

log = logging.getLogger("accessdrift.ingest")

PROGRESS_SOURCE = "progress"

Report = dict[str, tuple[int | None, bool]]


def encode_report(report: Report) -> bytes:
    return json.dumps(
        {source: [latest, at_end] for source, (latest, at_end) in report.items()}
    ).encode()


def parse_report(value: bytes) -> Report:
    """A report; anything else (only the ingest writes here) is logged and ignored."""
    try:
        decoded = json.loads(value)
        return {
            str(source): (int(item[0]) if item[0] is not None else None, bool(item[1]))
            for source, item in decoded.items()
        }
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        log.error("ignored a progress report that does not parse: %s", error)
        return {}


@dataclass
class InputProgress:
    """The ingest's side: the latest event time it forwarded per source, this run."""

    latest: dict[str, int] = field(default_factory=dict)

    def before(self, sources: set[str]) -> Report:
        """Before a batch: its sources are behind, up to what was forwarded so far."""
        return {source: (self.latest.get(source), False) for source in sorted(sources)}

    def forwarded(self, source: str, event_us: int) -> None:
        if event_us > self.latest.get(source, event_us - 1):
            self.latest[source] = event_us
        self.latest.setdefault(source, event_us)

    def after(self, at_end: dict[str, bool]) -> Report:
        """After a batch: every partition read, whether it reached its end."""
        return {source: (self.latest.get(source), done) for source, done in sorted(at_end.items())}
