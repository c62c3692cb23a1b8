"""What a detector is, as plain data: the alert kinds it raises and the functions that
judge one identity's facts.

A detector is a module of this package that declares ``DETECTOR = Detector(...)``;
the package finds it (``accessdrift.core.detectors``), nothing else lists it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from accessdrift.core.config import DetectionConfig
from accessdrift.core.state import Result, State

# (identity_id, state, watermark_us, now_us, config, result): appends to ``result``
# what the facts now prove and was not yet emitted (``state["emitted"]`` remembers).
Evaluate = Callable[[str, State, int, int, DetectionConfig, Result], None]
# (identity_id, state, config): the event times at which an absence may become a
# finding not yet raised (the identity stage wakes the identity then).
Deadlines = Callable[[str, State, DetectionConfig], list[int]]
# (identity_id, state, use, now_us, config, result): one use as it arrives. The identity
# stage judges a use message with this alone (most messages are uses), so a detector
# whose findings depend on uses must have one.
JudgeUse = Callable[[str, State, list[Any], int, DetectionConfig, Result], None]


@dataclass(frozen=True)
class AlertKind:
    name: str  # the Avro enum symbol of Alert.kind (accessdrift/schemas/Alert.avsc)
    description: str  # one line, for the docs and the catalogue
    severity: Mapping[str, str]  # identity kind ("human"/"nhi") -> severity
    title: Mapping[str, str]  # identity kind -> the title a person reads in chat
    # The severity when the finding is about a privileged entitlement (None: no change).
    privileged_severity: str | None = None


@dataclass(frozen=True)
class Detector:
    name: str
    order: int  # evaluation order: the order of the alerts, lags and pairs in a Result
    kinds: tuple[AlertKind, ...]
    evaluate: Evaluate
    deadlines: Deadlines | None
    judge_use: JudgeUse | None = None
