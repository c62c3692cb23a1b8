"""`accessdrift evaluate`'s scoring (accessdrift/commands/evaluate.py), and the demo's
worker told the SLAs its ground truth was derived with."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from accessdrift.commands.evaluate import evaluate
from accessdrift.demo import OPTIONS, worker_env
from accessdrift.settings import Settings
from accessdrift.simulate.organisation import MARGIN

T0 = "2026-03-02T10:00:00+00:00"


def alert(kind: str, account: str, entitlement: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "identity_id": "E1",
        "account_id": account,
        "credential_id": None,
        "entitlement": entitlement,
        "used_at": None,
        "deprovisioned_at": T0,
        **more,
    }


def lag(
    account: str, entitlement: str | None, status: str, seconds: float | None
) -> dict[str, Any]:
    return {
        "identity_id": "E1",
        "change_type": "mover",
        "account_id": account,
        "credential_id": None,
        "entitlement": entitlement,
        "status": status,
        "lag_seconds": seconds,
    }


def test_two_entitlements_of_one_account_are_two_findings_and_two_lag_rows() -> None:
    account = "aws:1:user/e1"
    truth = {
        "alerts": [
            alert("mover_access_retained", account, "aws:policy/ReadOnlyAccess"),
            alert("mover_access_retained", account, "aws:group/developers"),
        ],
        "lags": [
            lag(account, None, "closed", 60.0),
            lag(account, "aws:policy/ReadOnlyAccess", "overdue", None),
            lag(account, "aws:group/developers", "closed", 900000.0),
        ],
    }
    found = evaluate(truth, truth["alerts"][:1], truth["lags"], 0)
    assert not found.perfect
    assert found.alerts["mover_access_retained"].expected == 2
    assert found.alerts["mover_access_retained"].matched == 1
    assert found.missing == [
        {"alert": ("mover_access_retained", "E1", account, None, "aws:group/developers")}
    ]
    figures = found.as_dict()["lags"]
    assert figures["expected"] == figures["detected"] == 3
    assert figures["groups"] == {
        "access": {"expected": 1, "detected": 1, "precision": 1.0, "recall": 1.0},
        "entitlement": {"expected": 2, "detected": 2, "precision": 1.0, "recall": 1.0},
    }
    assert evaluate(truth, truth["alerts"], truth["lags"], 0).perfect


def test_an_entitlement_row_with_the_wrong_status_is_a_mismatch_not_the_account_row() -> None:
    account = "okta:00ue1"
    truth = {"alerts": [], "lags": [lag(account, None, "closed", 60.0)]}
    truth["lags"].append(lag(account, "okta:admin/SUPER_ADMIN", "overdue", None))
    detected = [lag(account, None, "closed", 60.0)]
    detected.append(lag(account, "okta:admin/SUPER_ADMIN", "closed", 700000.0))
    found = evaluate(truth, [], detected, 0)
    assert found.lag_status_mismatches == 1
    assert found.lag_groups["entitlement"].matched == 1
    assert found.missing[0]["lag_status"][4] == "okta:admin/SUPER_ADMIN"


def test_a_truth_written_before_entitlements_is_scored_as_before() -> None:
    old = alert("deprovision_overdue", "gcp:e1")
    del old["entitlement"]
    old_lag = lag("gcp:e1", None, "overdue", None)
    del old_lag["entitlement"]
    detected = alert("deprovision_overdue", "gcp:e1")
    found = evaluate({"alerts": [old], "lags": [old_lag]}, [detected], [old_lag], 0)
    assert found.perfect, found.as_dict()


def test_the_demo_worker_is_told_the_slas_of_its_ground_truth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in list(os.environ):
        if key.startswith("ACCESSDRIFT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in worker_env(OPTIONS).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.mover_sla == OPTIONS.mover_sla
    assert settings.deprovision_sla == OPTIONS.sla
    assert settings.grace == OPTIONS.grace
    assert settings.lookback == OPTIONS.lookback
    # Movers are judged inside the demo's days: its mover SLA is not the default week.
    assert OPTIONS.mover_sla + MARGIN < timedelta(days=OPTIONS.days)
