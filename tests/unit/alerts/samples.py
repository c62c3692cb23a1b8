"""Alerts as the notifier decodes them from ``drift.alerts``."""

from datetime import UTC, datetime
from typing import Any


def alert(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "alert_id": "al-0001",
        "kind": "used_after_deprovision",
        "severity": "critical",
        "identity_id": "e00042",
        "identity_kind": "human",
        "account_id": "aws:111122223333:user/e00042",
        "credential_id": "aws:key/AKIAE00042",
        "deprovisioned_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        "used_at": datetime(2026, 3, 1, 13, 30, 5, 123456, tzinfo=UTC),
        "seconds_after": 16205.123456,
        "system": "aws",
        "action": "s3:GetObject",
        "source_ip": "198.51.100.7",
        "detected_at": datetime(2026, 3, 1, 13, 30, 10, tzinfo=UTC),
        "evidence": '{"use": {"event_id": "ce-1", "user_agent": "aws-cli/2.15"}}',
    }
    base.update(overrides)
    return base
