"""Audit evidence: one identity's (``collect_evidence``) and an organisation's report
for a period (``collect_report``), each rendered for an auditor who does not know SQL."""

from accessdrift.evidence.collect import collect_evidence
from accessdrift.evidence.render import to_html, to_json, to_markdown
from accessdrift.evidence.report import collect_report, report_to_html, report_to_json

__all__ = [
    "collect_evidence",
    "collect_report",
    "report_to_html",
    "report_to_json",
    "to_html",
    "to_json",
    "to_markdown",
]
