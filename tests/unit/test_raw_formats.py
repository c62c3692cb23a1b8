"""A raw format is its normalizer module and its samples: the registry finds every module
that declares a ``FORMAT``, and the catalogue, the topics, ``replay --format`` and the
real-sample tests all follow from that, with nothing else to edit."""

import importlib
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accessdrift import catalog
from accessdrift.cli import ReplayFormat, app
from accessdrift.normalizers import registry
from accessdrift.normalizers.base import RawFormat
from tests.unit.test_normalizers_real_samples import REAL_SAMPLES

NORMALIZERS = Path(registry.__file__).parent


# The order ``replay --help`` listed them in before issue 24 (now the topics' order too).
LISTED_BEFORE = ("cloudtrail", "okta", "vault", "gcp-audit", "entra-audit", "scim", "hr-csv")


def test_the_discovered_formats_are_the_catalogues_in_a_stable_order() -> None:
    assert tuple(registry.FORMATS) == catalog.RAW_FORMATS
    assert tuple(name for name in catalog.RAW_FORMATS if name in LISTED_BEFORE) == LISTED_BEFORE
    orders = [raw_format.order for raw_format in registry.FORMATS.values()]
    assert orders == sorted(orders)
    assert set(registry.JSON_FORMATS) == {
        name for name, raw_format in registry.FORMATS.items() if raw_format.document == "json"
    }


def test_every_normalizer_module_that_declares_a_format_is_found() -> None:
    declared = {}
    for path in NORMALIZERS.glob("*.py"):
        module = importlib.import_module(f"accessdrift.normalizers.{path.stem}")
        if isinstance(getattr(module, "FORMAT", None), RawFormat):
            declared[module.FORMAT.name] = module.FORMAT
    assert declared == dict(registry.FORMATS)
    assert set(LISTED_BEFORE) <= set(declared)
    assert all(raw_format.summary for raw_format in declared.values())


def test_every_format_has_a_raw_topic() -> None:
    topics = catalog.all_topics()
    for name in catalog.RAW_FORMATS:
        assert f"raw.{name}" in topics


@pytest.mark.parametrize("name", catalog.RAW_FORMATS)
def test_every_format_has_real_samples(name: str) -> None:
    samples = [case for case in REAL_SAMPLES if case.values[0] == name]
    assert samples, f"no sample of {name} in test_normalizers_real_samples.REAL_SAMPLES"
    for case in samples:
        load = case.values[1]
        assert callable(load) and load(), case.id


def test_the_replay_choices_are_canonical_and_every_raw_format() -> None:
    assert [choice.value for choice in ReplayFormat] == ["canonical", *catalog.RAW_FORMATS]
    result = CliRunner().invoke(
        app, ["replay", "--format", "bogus", "x.json"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    for name in ("canonical", *catalog.RAW_FORMATS):
        assert f"'{name}'" in result.output


def test_two_modules_declaring_one_format_fail_at_import(tmp_path: Path) -> None:
    package = tmp_path / "twoformats"
    package.mkdir()
    (package / "__init__.py").write_text("")
    declaration = (
        "from accessdrift.normalizers.base import Normalized, RawFormat\n"
        "FORMAT = RawFormat(name='same', summary='x', order={order},\n"
        "                   normalize=lambda record, limit, context: Normalized())\n"
    )
    (package / "first.py").write_text(declaration.format(order=2))
    (package / "second.py").write_text(declaration.format(order=1))
    (package / "helper.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ImportError, match="'same' is declared twice"):
            registry.discover_formats("twoformats", package)
        (package / "second.py").write_text(declaration.format(order=1).replace("'same'", "'other'"))
        sys.modules.pop("twoformats.second", None)
        found = registry.discover_formats("twoformats", package)
        assert list(found) == ["other", "same"], "listed by order, not by module name"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("twoformats")]:
            del sys.modules[name]
