"""The catalogue, the ``.avsc`` files, the ClickHouse tables, the routing validator and the
command line name the same records, kinds and formats: each is derived from the catalogue or
checked against it here, so that a kind, a format or a record cannot be added to one alone."""

import json
import re
from pathlib import Path

import pytest
import yaml

from accessdrift import catalog
from accessdrift.alerts.config import KINDS, load_routing
from accessdrift.cli import ReplayFormat
from accessdrift.core.detectors import ALERT_KINDS as DECLARED
from accessdrift.errors import ConfigError
from accessdrift.schemas.codec import load_schema_json
from accessdrift.schemas.models import ALL_RECORDS, CANONICAL_INPUTS
from accessdrift.sinks.rows import ALL_TABLES

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "accessdrift" / "sinks" / "migrations"


def alert_kind_symbols() -> list[str]:
    (kind,) = (field for field in load_schema_json("Alert")["fields"] if field["name"] == "kind")
    return list(kind["type"]["symbols"])


def test_every_record_has_its_avsc_and_every_avsc_its_record() -> None:
    assert sorted(catalog.RECORD) == sorted(ALL_RECORDS)
    assert sorted(
        path.stem for path in (ROOT / "accessdrift" / "schemas").glob("*.avsc")
    ) == sorted(catalog.RECORD)


def test_the_inputs_are_the_records_replay_takes() -> None:
    assert list(catalog.INPUTS) == list(CANONICAL_INPUTS)
    assert set(catalog.INPUT_TOPICS.values()) == {
        catalog.DIRECTORY_CHANGES,
        catalog.CLOUD_AUDIT,
        catalog.SECRET_USAGE,
        catalog.IDENTITY_LINKS,
    }


@pytest.mark.parametrize("spec", catalog.RECORDS, ids=lambda spec: spec.record)
def test_a_records_key_and_empty_columns_are_fields_of_it(spec: catalog.RecordSpec) -> None:
    fields = {field["name"] for field in load_schema_json(spec.record)["fields"]}
    assert set(spec.key) <= fields
    assert set(spec.empty_when_null) <= fields


def test_topics_are_one_per_record_and_raw_format() -> None:
    topics = catalog.all_topics()
    assert len(topics) == len(set(topics))
    assert [f"raw.{name}" for name in catalog.RAW_FORMATS] == topics[len(catalog.RECORDS) :]
    assert set(topics) >= catalog.COMPACTED


def test_every_table_of_the_catalogue_is_created_by_a_migration() -> None:
    created = set(
        re.findall(
            r"CREATE TABLE IF NOT EXISTS\s+(?:\{database\}\.|\w+\.)?`?(\w+)`?",
            "\n".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.sql"))),
        )
    )
    tables = {spec.table for spec in catalog.TABLES.values()}
    assert tables <= created, tables - created
    assert {spec.table for spec in ALL_TABLES.values()} == tables


def test_the_alert_kinds_are_the_avsc_enum_and_each_is_declared_by_a_detector() -> None:
    assert list(catalog.ALERT_KINDS) == alert_kind_symbols()
    assert set(DECLARED) == set(alert_kind_symbols())


@pytest.mark.parametrize("kind", alert_kind_symbols())
def test_every_kind_has_a_title_severity_and_description(kind: str) -> None:
    declared = catalog.ALERT_KINDS[kind]
    assert declared.description and "\n" not in declared.description
    for identity_kind in ("human", "nhi"):
        assert declared.severity[identity_kind] in ("critical", "high", "medium", "low", "info")
        assert catalog.alert_title(kind, identity_kind) == declared.title[identity_kind]


def test_the_routing_validator_takes_exactly_the_catalogues_kinds(tmp_path: Path) -> None:
    assert list(KINDS) == list(catalog.ALERT_KINDS)

    def routing(kinds: list[str]) -> Path:
        path = tmp_path / "routing.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "destinations": {
                        "hook": {"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_KEY"}
                    },
                    "routes": [{"match": {"kind": kinds}, "to": ["hook"]}],
                }
            )
        )
        return path

    environ = {"HOOK_URL": "https://hooks.example.com/accessdrift", "HOOK_KEY": "k" * 32}
    load_routing(routing(list(catalog.ALERT_KINDS)), environ=environ)
    with pytest.raises(ConfigError, match=r"match\.kind\.0: Input should be 'used_after_"):
        load_routing(routing(["kind_of_a_newer_version"]), environ=environ)


def test_the_command_line_replays_canonical_records_and_every_raw_format() -> None:
    assert [choice.value for choice in ReplayFormat] == ["canonical", *catalog.RAW_FORMATS]


def test_the_catalogue_is_plain_data() -> None:
    """Readable as JSON: a record's facts are strings, tuples and booleans, no code."""
    json.dumps([spec.__dict__ for spec in catalog.RECORDS])
