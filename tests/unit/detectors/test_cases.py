"""Every detector's sample cases (``cases/<detector>.yaml``), each through the whole core."""

from typing import Any

import pytest

from accessdrift.core.detectors import DETECTORS
from tests.unit.detectors.case_files import Case, load_cases, run, unmatched

CASES = load_cases()


def _show(findings: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {finding}" for finding in findings) or "  (none)"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    engine = run(case)
    expected = [
        ("alerts", case.alerts, list(engine.findings.alerts.values())),
        ("lags", case.lags, list(engine.findings.lags.values())),
    ]
    if case.pairs is not None:
        expected.append(("pairs", case.pairs, list(engine.findings.pairs.values())))
    if case.ledger is not None:
        # The ledger of the case's identities (an admin's own account is in it too).
        named = {record["identity_id"] for record in case.records if "identity_id" in record}
        held = [
            row
            for row in engine.findings.ledger.values()
            if not row["removed"] and row["identity_id"] in named
        ]
        expected.append(("ledger", case.ledger, held))
    for what, wanted, actual in expected:
        missing, extra = unmatched(wanted, actual)
        assert not missing and not extra, (
            f"{what}: expected but not found:\n{_show(missing)}\nfound but not expected:\n"
            f"{_show(extra)}"
        )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_case_says_what_it_expects(case: Case) -> None:
    """``fires`` agrees with the findings: a case about a kind expects an alert of that
    kind or none; a case about no kind (lag rows) expects some finding or none."""
    if case.kind is None:
        fired = bool(case.alerts or case.lags)
    else:
        fired = any(alert.get("kind") == case.kind for alert in case.alerts)
    assert fired == case.fires
    detector = next(detector for detector in DETECTORS if detector.name == case.detector)
    assert case.kind is None or case.kind in [kind.name for kind in detector.kinds]


def test_every_detector_and_kind_has_positive_and_negative_cases() -> None:
    assert {case.detector for case in CASES} == {detector.name for detector in DETECTORS}
    for detector in DETECTORS:
        cases = [case for case in CASES if case.detector == detector.name]
        assert sum(case.fires for case in cases) >= 2, detector.name
        assert sum(not case.fires for case in cases) >= 2, detector.name
        for kind in detector.kinds:
            about = [case.fires for case in cases if case.kind == kind.name]
            assert True in about and False in about, f"{kind.name}: {about}"
