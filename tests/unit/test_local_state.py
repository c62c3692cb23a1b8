"""Local table state is kept only while it belongs to the changelog topics it mirrors."""

from pathlib import Path

import pytest

from accessdrift.settings import Settings
from accessdrift.streams.local_state import (
    check_local_state,
    has_state,
    read_marker,
    record_changelogs,
    stale_reason,
    write_marker,
)

CHANGELOGS = ["p.accessdrift-identities-changelog", "p.accessdrift-subjects-changelog"]
IDS = {CHANGELOGS[0]: "id-a", CHANGELOGS[1]: "id-b"}


@pytest.mark.parametrize(
    "has, recorded, current",
    [
        (False, None, {CHANGELOGS[0]: None}),  # first start: nothing to trust or distrust
        (False, IDS, {CHANGELOGS[0]: "other"}),
        (True, IDS, IDS),  # a restart on the same topics
    ],
)
def test_state_that_matches_its_changelogs_is_kept(
    has: bool, recorded: dict[str, str] | None, current: dict[str, str | None]
) -> None:
    assert stale_reason(has, recorded, current) is None


@pytest.mark.parametrize(
    "recorded, current, reason",
    [
        (None, IDS, "does not say which changelog"),  # state from before the record
        (IDS, {**IDS, CHANGELOGS[0]: None}, "no longer exists"),  # topics deleted
        (IDS, {**IDS, CHANGELOGS[1]: "new"}, "created again"),  # a reset broker
        ({CHANGELOGS[0]: "id-a"}, IDS, "created again"),  # a table not recorded
    ],
)
def test_state_of_other_changelogs_is_stale(
    recorded: dict[str, str | None] | None, current: dict[str, str | None], reason: str
) -> None:
    found = stale_reason(True, recorded, current)
    assert found is not None and reason in found


def settings_in(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, topic_prefix="p.")


def test_stale_state_is_removed_and_good_state_kept(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    table = settings.state_dir / "v1" / "tables" / "identities-0.db"
    table.mkdir(parents=True)
    assert has_state(settings.state_dir)

    # Written where no record says where it came from: removed.
    assert check_local_state(settings, CHANGELOGS, lambda s, names: IDS) is not None
    assert not settings.state_dir.exists()

    table.mkdir(parents=True)
    assert record_changelogs(settings, CHANGELOGS, lambda s, names: IDS)
    assert read_marker(settings.state_dir) == IDS
    assert check_local_state(settings, CHANGELOGS, lambda s, names: IDS) is None
    assert table.exists()

    reset = {name: f"{topic_id}-after-reset" for name, topic_id in IDS.items()}
    assert "created again" in str(check_local_state(settings, CHANGELOGS, lambda s, n: reset))
    assert not table.exists()


def test_nothing_is_recorded_before_the_changelogs_exist(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert not record_changelogs(settings, CHANGELOGS, lambda s, n: dict.fromkeys(CHANGELOGS))
    assert read_marker(settings.state_dir) is None


def test_a_damaged_record_counts_as_none(tmp_path: Path) -> None:
    write_marker(tmp_path, IDS)
    (tmp_path / "topics.json").write_text("{not json")
    assert read_marker(tmp_path) is None


def test_the_prefix_names_the_app_id_state_and_database(tmp_path: Path) -> None:
    plain = Settings(data_dir=tmp_path)
    assert (plain.app_id, plain.database) == ("accessdrift", "accessdrift")
    prefixed = Settings(data_dir=tmp_path, topic_prefix="team-a.")
    assert prefixed.app_id == "team-a.accessdrift"
    assert prefixed.database == "accessdrift_team_a"
    assert prefixed.state_dir == tmp_path / "worker" / "team-a.accessdrift"
    assert prefixed.state_dir != plain.state_dir
    chosen = Settings(data_dir=tmp_path, topic_prefix="team-a.", clickhouse_database="soc")
    assert chosen.database == "soc"
