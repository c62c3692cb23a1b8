"""`accessdrift evaluate`: what landed in ClickHouse against a simulation's ground truth."""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from accessdrift.errors import ConfigError

# (kind, identity, account, credential, entitlement): an entitlement's findings are one
# per entitlement of an account.
AlertKey = tuple[str, str, str | None, str | None, str | None]
# (identity, change type, account, credential, entitlement): a mover's retained
# entitlement has a row of its own beside its account's.
LagKey = tuple[str, str, str, str | None, str | None]

ALERTS_SQL = (
    "SELECT kind, identity_id, account_id, credential_id, entitlement, used_at FROM alerts FINAL"
)
LAGS_SQL = (
    "SELECT identity_id, change_type, account_id, credential_id, entitlement, status, "
    "lag_seconds FROM provisioning_lag FINAL"
)
DUPLICATES_SQL = (
    "SELECT count() AS n FROM (SELECT kind, identity_id, account_id, credential_id, "
    "entitlement, deprovisioned_at, count() AS c FROM alerts FINAL GROUP BY kind, identity_id, "
    "account_id, credential_id, entitlement, deprovisioned_at HAVING c > 1)"
)
# Lag rows scored apart as well: an account's or credential's, and a mover's retained
# entitlement's.
LAG_GROUPS = ("access", "entitlement")


@dataclass
class KindScore:
    expected: int = 0
    detected: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


@dataclass
class Evaluation:
    alerts: dict[str, KindScore] = field(default_factory=dict)
    lags: KindScore = field(default_factory=KindScore)
    lag_groups: dict[str, KindScore] = field(default_factory=dict)
    lag_status_mismatches: int = 0
    lag_error_max_seconds: float = 0.0
    used_at_mismatches: int = 0
    duplicates: int = 0
    missing: list[Any] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)

    @property
    def perfect(self) -> bool:
        return (
            all(score.precision == 1.0 and score.recall == 1.0 for score in self.alerts.values())
            and self.lags.precision == 1.0
            and self.lags.recall == 1.0
            and self.lag_status_mismatches == 0
            and self.lag_error_max_seconds < 0.001
            and self.used_at_mismatches == 0
            and self.duplicates == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts": {
                kind: {
                    "expected": score.expected,
                    "detected": score.detected,
                    "precision": round(score.precision, 4),
                    "recall": round(score.recall, 4),
                }
                for kind, score in sorted(self.alerts.items())
            },
            "lags": {
                "expected": self.lags.expected,
                "detected": self.lags.detected,
                "precision": round(self.lags.precision, 4),
                "recall": round(self.lags.recall, 4),
                "status_mismatches": self.lag_status_mismatches,
                "max_error_seconds": round(self.lag_error_max_seconds, 6),
                "groups": {
                    group: {
                        "expected": score.expected,
                        "detected": score.detected,
                        "precision": round(score.precision, 4),
                        "recall": round(score.recall, 4),
                    }
                    for group, score in self.lag_groups.items()
                },
            },
            "used_at_mismatches": self.used_at_mismatches,
            "duplicates": self.duplicates,
            "perfect": self.perfect,
            "missing": self.missing[:20],
            "unexpected": self.unexpected[:20],
        }


def load_truth(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the ground truth {path}: {error}") from error
    if not isinstance(loaded, dict) or not all(
        isinstance(loaded.get(name), list) for name in ("alerts", "lags")
    ):
        raise ConfigError(
            f"{path} is not a ground truth written by `accessdrift simulate --truth` "
            "(no lists 'alerts' and 'lags')"
        )
    return loaded


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromisoformat(str(value)).isoformat()


def evaluate(
    truth: dict[str, Any],
    alerts: list[dict[str, Any]],
    lags: list[dict[str, Any]],
    duplicates: int,
) -> Evaluation:
    result = Evaluation(duplicates=duplicates)
    expected_alerts: dict[AlertKey, dict[str, Any]] = {_alert_key(a): a for a in truth["alerts"]}
    detected_alerts: dict[AlertKey, dict[str, Any]] = {_alert_key(a): a for a in alerts}
    kinds = {key[0] for key in expected_alerts} | {key[0] for key in detected_alerts}
    for kind in kinds:
        result.alerts[kind] = KindScore(
            expected=sum(1 for key in expected_alerts if key[0] == kind),
            detected=sum(1 for key in detected_alerts if key[0] == kind),
            matched=sum(1 for key in expected_alerts if key[0] == kind and key in detected_alerts),
        )
    for key, expected in expected_alerts.items():
        if key not in detected_alerts:
            result.missing.append({"alert": key})
        elif expected.get("used_at") and _iso(expected["used_at"]) != _iso(
            detected_alerts[key]["used_at"]
        ):
            result.used_at_mismatches += 1
    result.unexpected += [{"alert": key} for key in detected_alerts if key not in expected_alerts]

    expected_lags: dict[LagKey, dict[str, Any]] = {_lag_key(lag): lag for lag in truth["lags"]}
    detected_lags: dict[LagKey, dict[str, Any]] = {_lag_key(lag): lag for lag in lags}
    result.lags = KindScore(
        expected=len(expected_lags),
        detected=len(detected_lags),
        matched=sum(1 for key in expected_lags if key in detected_lags),
    )
    for group in LAG_GROUPS:
        expected_keys = [key for key in expected_lags if _lag_group(key) == group]
        result.lag_groups[group] = KindScore(
            expected=len(expected_keys),
            detected=sum(1 for key in detected_lags if _lag_group(key) == group),
            matched=sum(1 for key in expected_keys if key in detected_lags),
        )
    for key, expected in expected_lags.items():
        found = detected_lags.get(key)
        if found is None:
            result.missing.append({"lag": key})
            continue
        if found["status"] != expected["status"]:
            result.lag_status_mismatches += 1
            result.missing.append(
                {"lag_status": key, "expected": expected["status"], "found": found["status"]}
            )
        if expected["lag_seconds"] is not None and found["lag_seconds"] is not None:
            error = abs(float(found["lag_seconds"]) - float(expected["lag_seconds"]))
            result.lag_error_max_seconds = max(result.lag_error_max_seconds, error)
    result.unexpected += [{"lag": key} for key in detected_lags if key not in expected_lags]
    return result


def _alert_key(alert: dict[str, Any]) -> AlertKey:
    # .get: a truth file written before entitlements has none.
    return (
        alert["kind"],
        alert["identity_id"],
        alert["account_id"],
        alert["credential_id"],
        alert.get("entitlement"),
    )


def _lag_key(lag: dict[str, Any]) -> LagKey:
    return (
        lag["identity_id"],
        lag["change_type"],
        lag["account_id"],
        lag["credential_id"],
        lag.get("entitlement"),
    )


def _lag_group(key: LagKey) -> str:
    return "entitlement" if key[4] is not None else "access"


def summarize_counts(rows: list[dict[str, Any]], field_name: str) -> dict[str, int]:
    counts: Counter[str] = Counter(str(row[field_name]) for row in rows)
    return dict(sorted(counts.items()))


def by_system(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["status"] == "closed" and row["lag_seconds"] is not None:
            grouped[str(row["account_id"]).split(":", 1)[0]].append(float(row["lag_seconds"]))
    return grouped
