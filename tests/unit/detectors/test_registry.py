"""The detectors' registry: found by the package, in order, one name per alert kind."""

from collections.abc import Mapping
from pathlib import Path

import pytest

from accessdrift.core import detectors
from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors import ALERT_KINDS, DETECTORS, alert_kinds, severity
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.state import Result, State
from accessdrift.schemas import models


def test_every_module_but_the_helpers_is_a_detector_found_in_its_order() -> None:
    modules = {
        path.stem
        for path in Path(detectors.__file__).parent.glob("*.py")
        if path.stem != "__init__" and path.stem not in detectors.HELPERS
    }
    assert {detector.name for detector in DETECTORS} == modules
    orders = [detector.order for detector in DETECTORS]
    assert orders == sorted(orders)
    # Today's detectors keep their order and their kinds' (the order of a Result's findings),
    # wherever a new detector places itself among them.
    today = {"lag", "use_after", "orphans"}
    assert [d.name for d in DETECTORS if d.name in today] == ["lag", "use_after", "orphans"]
    assert [kind.name for d in DETECTORS if d.name in today for kind in d.kinds] == [
        "deprovision_overdue",
        "used_after_deprovision",
        "attempted_after_deprovision",
        "used_after_revocation",
        "orphaned_nhi",
    ]


def test_the_kinds_are_the_avro_enum_and_each_speaks_of_both_identity_kinds() -> None:
    assert set(ALERT_KINDS) == set(models.ALERT_KINDS)
    for kind in ALERT_KINDS.values():
        assert set(kind.severity) == set(kind.title) == {"human", "nhi"}, kind.name
        assert set(kind.severity.values()) <= {"critical", "high", "medium", "low", "info"}
        assert kind.description and "\n" not in kind.description


def test_severity_by_kind_and_identity_kind_with_medium_by_default() -> None:
    assert severity("used_after_deprovision", "human") == "critical"
    assert severity("attempted_after_deprovision", "nhi") == "low"
    assert severity("no_such_kind", "human") == "medium"
    assert severity("orphaned_nhi", "robot") == "medium"


def _nothing(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    del identity_id, state, watermark_us, now_us, config, result


def _detector(name: str, *kinds: str) -> Detector:
    empty: Mapping[str, str] = {}
    return Detector(
        name=name,
        order=1,
        kinds=tuple(AlertKind(kind, "-", empty, empty) for kind in kinds),
        evaluate=_nothing,
        deadlines=None,
    )


def test_a_kind_declared_twice_is_an_error() -> None:
    assert list(alert_kinds([_detector("a", "x", "y"), _detector("b", "z")])) == ["x", "y", "z"]
    with pytest.raises(ValueError, match="'x' is declared twice"):
        alert_kinds([_detector("a", "x"), _detector("b", "x")])
    with pytest.raises(ValueError, match="two detectors are named 'a'"):
        alert_kinds([_detector("a", "x"), _detector("a", "y")])


def test_discovery_finds_the_modules_again() -> None:
    assert detectors.discover() == DETECTORS
