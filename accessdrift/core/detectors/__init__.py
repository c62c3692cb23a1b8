"""The contract's detections, as functions of one identity's facts.

Every module of this package but the helpers declares ``DETECTOR`` (a ``Detector``,
``base.py``): the package finds them itself, so a new detection is one new module
(with its sample cases in tests/unit/detectors/cases/ and its alert kind in the
``AlertKind`` enum of accessdrift/schemas/Alert.avsc), not an entry in a list. They run in
their ``order``, which is the order of the findings in a ``Result``.

Every detector is deterministic in the facts it is given: the same facts in any
arrival order yield the same findings. What was already emitted is remembered in
``state["emitted"]`` (``common.better``); a finding comes out again only when it
improves (a closed lag after an overdue one, an earlier first use).
"""

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.detectors.base import AlertKind, Detector
from accessdrift.core.detectors.common import DEFAULT_SEVERITY
from accessdrift.core.state import Result, State

# Modules of this package that hold no detector.
HELPERS = frozenset({"base", "common"})


def discover() -> tuple[Detector, ...]:
    """Every module's ``DETECTOR``, in evaluation order."""
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name in HELPERS:
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        detector = getattr(module, "DETECTOR", None)
        if not isinstance(detector, Detector):
            # A misspelt DETECTOR would otherwise be a detection that silently never runs.
            raise TypeError(
                f"{module.__name__} declares no DETECTOR; a module without one belongs in HELPERS"
            )
        if detector.name != module_info.name:
            # Its sample cases are found by the name: tests/unit/detectors/cases/<name>.yaml
            raise ValueError(f"{module.__name__}: DETECTOR.name must be {module_info.name!r}")
        found.append(detector)
    return tuple(sorted(found, key=lambda detector: (detector.order, detector.name)))


def alert_kinds(detectors: Iterable[Detector]) -> Mapping[str, AlertKind]:
    """Name -> kind, in detector order then declaration order; a name twice is an error."""
    kinds: dict[str, AlertKind] = {}
    names: set[str] = set()
    for detector in detectors:
        if detector.name in names:
            raise ValueError(f"two detectors are named {detector.name!r}")
        names.add(detector.name)
        for kind in detector.kinds:
            if kind.name in kinds:
                raise ValueError(f"alert kind {kind.name!r} is declared twice ({detector.name})")
            kinds[kind.name] = kind
    return MappingProxyType(kinds)


DETECTORS = discover()
ALERT_KINDS = alert_kinds(DETECTORS)
_DEADLINES = tuple(detector.deadlines for detector in DETECTORS if detector.deadlines is not None)
_JUDGES_OF_USES = tuple(
    detector.judge_use for detector in DETECTORS if detector.judge_use is not None
)


def severity(kind: str, identity_kind: str) -> str:
    alert_kind = ALERT_KINDS.get(kind)
    if alert_kind is None:
        return DEFAULT_SEVERITY
    return alert_kind.severity.get(identity_kind, DEFAULT_SEVERITY)


def evaluate(
    identity_id: str,
    state: State,
    watermark_us: int,
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """What the facts now prove and was not yet emitted, appended to ``result``."""
    for detector in DETECTORS:
        detector.evaluate(identity_id, state, watermark_us, now_us, config, result)


def judge_use(
    identity_id: str,
    state: State,
    use: list[Any],
    now_us: int,
    config: DetectionConfig,
    result: Result,
) -> None:
    """One arriving use, judged by the detectors that judge uses (the identity stage's
    short path for use messages)."""
    for judge in _JUDGES_OF_USES:
        judge(identity_id, state, use, now_us, config, result)


def next_deadline(
    identity_id: str, state: State, config: DetectionConfig, evaluated_until: int | None = None
) -> int | None:
    """The earliest event time at which an absence may become a finding not yet raised.

    Deadlines at or before ``evaluated_until`` (the watermark the detectors were just
    evaluated at) have been judged already and need no wake-up.
    """
    # Called for every message an identity handles: a plain loop over the functions
    # found once, no list built per call (the bench's detect stage measures it).
    earliest: int | None = None
    for deadlines_of in _DEADLINES:
        for deadline in deadlines_of(identity_id, state, config):
            if evaluated_until is not None and deadline <= evaluated_until:
                continue
            if earliest is None or deadline < earliest:
                earliest = deadline
    return earliest


__all__ = [
    "ALERT_KINDS",
    "DETECTORS",
    "AlertKind",
    "Detector",
    "evaluate",
    "judge_use",
    "next_deadline",
    "severity",
]
