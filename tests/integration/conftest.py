"""The real Kafka broker is started once per test run (and left as it was found)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from accessdrift.kafka.admin import delete_topics
from accessdrift.kafka.local import LocalKafka
from accessdrift.settings import Settings
from tests.helpers import REPO, Isolated, Worker


@pytest.fixture(scope="session")
def kafka() -> Iterator[Settings]:
    """The local broker (`accessdrift kafka up`): started if not running."""
    settings = Settings(data_dir=REPO / ".accessdrift")
    local = LocalKafka(settings)
    started_here = local.pid() is None and not local.status().startswith("a broker")
    local.up()
    yield settings
    if started_here:
        local.down()


@pytest.fixture
def isolated(kafka: Settings, tmp_path: Path) -> Iterator[Isolated]:
    own = Isolated(data_dir=tmp_path / "data")
    yield own
    # The local broker outlives the run: leave no topics behind (a broker with
    # thousands of test topics restarts slowly).
    delete_topics(kafka, [own.prefix])


@pytest.fixture
def worker(isolated: Isolated) -> Iterator[Worker]:
    running = Worker(isolated)
    yield running
    running.stop()
