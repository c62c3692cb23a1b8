"""The identity stage across a rebalance: what it knew of a partition's event time is
forgotten, so a partition read again from its committed offset is judged by the
watermarks its own messages carry, not by one heard further on before."""

from collections import Counter
from pathlib import Path

from accessdrift.core.partitions import partition_of
from accessdrift.settings import Settings
from accessdrift.streams.batching import ReadCache
from accessdrift.streams.detection import detection_config
from accessdrift.streams.identity_bundles import IdentityBundles
from accessdrift.streams.identity_stage import IdentityStage, StageWatermark

HOUR = 3_600_000_000


def stage(tmp_path: Path) -> IdentityStage:
    settings = Settings(data_dir=tmp_path)
    return IdentityStage(
        identities=None,  # type: ignore[arg-type]  # not read: no batch is handled here
        cache=ReadCache(10),
        output=None,  # type: ignore[arg-type]  # nothing is sent here
        bundles=IdentityBundles("test.identity", 2),
        topic_name=settings.topic,
        config=detection_config(settings),
        counts=Counter(),
    )


def heard(watermark: int) -> StageWatermark:
    mark = StageWatermark()
    mark.observe(watermark)
    return mark


def test_a_partition_given_back_waits_for_its_own_watermark_before_deadlines_fire(
    tmp_path: Path,
) -> None:
    identities = stage(tmp_path)
    partition = partition_of("E1", 2)
    identities.watermarks[partition] = heard(10 * HOUR)  # heard before the rebalance
    identities.deadlines.set("E1", 5 * HOUR)  # E1's deadline, in that partition
    identities.cache.put("E1", {"kind": "human"})
    identities.forget_partitions()
    assert identities.due_ticks() == {}, "no deadline fires on a watermark from before"
    assert "E1" not in identities.cache
    identities.watermarks[partition] = heard(4 * HOUR)  # the backlog read again
    assert identities.due_ticks() == {}
    identities.watermarks[partition] = heard(6 * HOUR)
    assert list(identities.due_ticks()) == [partition]


def test_without_forgetting_the_old_watermark_would_fire_it(tmp_path: Path) -> None:
    """The same partition, not forgotten: the deadline fires at once (the defect)."""
    identities = stage(tmp_path)
    partition = partition_of("E1", 2)
    identities.watermarks[partition] = heard(10 * HOUR)
    identities.deadlines.set("E1", 5 * HOUR)
    assert list(identities.due_ticks()) == [partition]
