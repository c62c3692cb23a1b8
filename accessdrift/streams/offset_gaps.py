"""A stage's watch on its input partitions' offsets: never a silent loss.

The internal topics (the resolve and identity topics) are written only by idempotent
producers without transactions, so within one assignment the offsets of a partition
follow on one by one. A jump means messages were lost between the broker and this
stage (a fault test lost a bundle so: Faust's end of recovery clears its agents'
queues after a seek that let the fetcher fill them, upstream issue 596): counted
(``<stage>:offset-gaps``, on /stats/ and /metrics/) and logged, with where. A
rebalance starts the watch afresh, since another worker may have read the partition
meanwhile; a read again from an earlier offset is no gap.
"""

import logging
from collections import Counter

log = logging.getLogger("accessdrift.detection")


class OffsetGaps:
    def __init__(self, stage: str, counts: Counter[str]) -> None:
        self.stage = stage
        self.counter = f"{stage}:offset-gaps"
        self.counts = counts
        self.last: dict[int, int] = {}
        counts[self.counter] += 0

    def saw(self, topic: str, partition: int, offset: int) -> None:
        last = self.last.get(partition)
        if last is not None and offset > last + 1:
            self.counts[self.counter] += offset - last - 1
            log.warning(
                "the %s stage never received offsets %d..%d of %s[%d]",
                self.stage,
                last + 1,
                offset - 1,
                topic,
                partition,
                extra={"topic": topic, "partition": partition, "offset": last + 1},
            )
        self.last[partition] = offset

    def forget(self) -> None:
        """On a rebalance: the next offset read in each partition is the new start."""
        self.last.clear()
