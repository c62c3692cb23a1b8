"""The severities of an alert, as the routing file names them (``min_severity``)."""

from typing import Literal

SEVERITIES = ("info", "low", "medium", "high", "critical")
"""Lowest first."""

Severity = Literal["info", "low", "medium", "high", "critical"]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
