"""The resolver stage: canonical records in, messages keyed by identity out.

Its state is the ``subjects`` table (who owns each account and credential, where
its facts were last sent) behind a read cache, and the input watermark. It has one
partition: resolving a key can take a credential, its account and that account's
identity, which no single key partitions together.
"""

import logging
from collections import Counter
from collections.abc import MutableMapping, Sequence
from typing import Any, cast

from faust.types import EventT, TableT

from accessdrift.core.resolver import Node, Outbound, Resolver
from accessdrift.core.routing import route_record
from accessdrift.core.watermark import Watermark
from accessdrift.errors import RecordError
from schemas.codec import codec_for
from streams import resolve_records
from streams.batching import ReadCache, WriteBack
from streams.bundles import unpack_records
from streams.identity_bundles import IdentityBundles
from streams.progress import PROGRESS_SOURCE, parse_report
from streams.stage_output import StageOutput

log = logging.getLogger("accessdrift.detection")


class ResolverStage:
    def __init__(
        self,
        subjects: TableT[str, Any],
        cache: ReadCache,
        watermark: Watermark,
        output: StageOutput,
        identities: IdentityBundles,
        ownership_topic: str,
        counts: Counter[str],
        link_by_email: bool,
    ) -> None:
        self.subjects = subjects
        self.cache = cache
        self.watermark = watermark
        self.output = output
        self.identities = identities
        self.ownership_topic = ownership_topic
        self.counts = counts
        self.link_by_email = link_by_email
        self.ownership_codec = codec_for("Ownership")

    async def handle_batch(self, events: Sequence[EventT[Any]], wall_us: int) -> None:
        store = WriteBack(cast(MutableMapping[str, Any], self.subjects), self.cache)
        core = Resolver(
            cast(MutableMapping[str, Node], store), link_by_email=self.link_by_email, now_us=wall_us
        )
        outbound: list[Outbound] = []
        # The batch's messages carry the watermark from before its records: one
        # taken after them would be ahead of the older records in the same batch
        # (a batch of a backlog spans hours of event time), and an identity would
        # judge a deadline before the deprovision waiting later in the bundle.
        # The watermark after the batch goes out once its bundles are delivered.
        watermark_before = self.watermark.current(wall_us)
        for event in events:
            for source, value in unpack_records(cast(bytes, event.message.value)):
                if source == PROGRESS_SOURCE:
                    self.watermark.report(parse_report(value), wall_us)
                    continue
                record_name = source.split("|", 1)[0]
                try:
                    record = resolve_records.decode(record_name, value)
                except (RecordError, KeyError) as error:
                    # The ingest forwards only what it decoded: a bug, not input.
                    log.error("resolver could not decode a %s record: %s", record_name, error)
                    continue
                self.watermark.observe(source, record["event_time"], wall_us)
                outbound += route_record(core, record_name, record)
                self.counts["resolver:records"] += 1
        # What this batch sends reaches the broker before the state that says it
        # was sent, and both before the batch is acked (streams/stage_output.py): a
        # worker killed in between reads the batch again and sends it again.
        self.counts["identity:messages_sent"] += len(outbound)
        self.identities.send(self.output, outbound, watermark_before)
        for row in core.ownership:
            self.output.send(
                self.ownership_topic,
                self.ownership_codec.encode_dict(row),
                row["subject"].encode(),
            )
        self.counts["findings:ownership"] += len(core.ownership)
        await self.output.deliver()
        changed = store.take_changed()
        if events and changed:
            partition = events[-1].message.partition
            await self.output.write_state(self.subjects, {partition: changed})
