"""Messages for the identity stage, bundled per identity partition."""

from collections.abc import Iterable

from accessdrift.core.messages import IdentityMessage
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import Outbound
from accessdrift.streams.bundles import pack_messages_chunks
from accessdrift.streams.stage_output import StageOutput


class IdentityBundles:
    """Sends messages about identities to the identity topic: one bundle per partition
    of the batch (more when it is big), in the order given."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions

    def send(
        self,
        output: StageOutput,
        outbound: Iterable[Outbound],
        watermark: int | None,
        resolver_partition: int | None = None,
    ) -> None:
        """``watermark``: the sending resolver partition's (None between identities); a
        fact that waited for an answer keeps the older one it came with."""
        by_partition: dict[int, list[tuple[str, IdentityMessage]]] = {}
        for item in outbound:
            message = item.message.copy()
            if watermark is not None and item.watermark is not None:
                message["wm"] = min(watermark, item.watermark)
            else:
                message["wm"] = watermark
            if resolver_partition is not None:
                message["rp"] = resolver_partition
            partition = partition_of(item.identity_id, self.partitions)
            by_partition.setdefault(partition, []).append((item.identity_id, message))
        for partition, messages in by_partition.items():
            for bundle in pack_messages_chunks(messages):
                output.send(self.topic, bundle, partition=partition)
