"""The worker creates Faust's internal topics itself, before Faust starts (a topic the
broker does not show yet at the group's first assignment is left out of it): the list
it creates must be exactly what Faust would declare."""

from pathlib import Path

import pytest

from accessdrift.settings import Settings
from accessdrift.streams.app import create_app
from accessdrift.streams.worker import internal_topics
from tests.unit.test_agents import RecordingSink


@pytest.mark.parametrize("resolver_partitions", [1, 4])
def test_the_worker_creates_every_internal_topic_faust_declares(
    tmp_path: Path, resolver_partitions: int
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        topic_prefix="zz.",
        topic_partitions=3,
        resolver_partitions=resolver_partitions,
        state_store="memory://",
    )
    app = create_app(settings, RecordingSink())  # type: ignore[arg-type]
    app.finalize()
    declared = {
        name: agent.channel.partitions  # type: ignore[attr-defined]
        for agent in app.agents.values()
        if agent.channel.internal  # type: ignore[attr-defined]
        for name in agent.channel.topics  # type: ignore[attr-defined]
    }
    declared.update(
        {
            table.changelog_topic.get_topic_name(): table.changelog_topic.partitions
            for table in app.tables.values()
        }
    )
    declared[f"{app.conf.id}-__assignor-__leader"] = 1
    specs = internal_topics(settings, app)
    assert {spec.name: spec.partitions for spec in specs} == declared
    assert {spec.name for spec in specs if spec.compacted} == {
        table.changelog_topic.get_topic_name() for table in app.tables.values()
    }
    layout = "" if resolver_partitions == 1 else f"-p{resolver_partitions}"
    assert declared[f"zz.accessdrift-resolve{layout}"] == resolver_partitions
