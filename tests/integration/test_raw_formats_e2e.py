"""Vendor logs through raw.<format>, the normalizer agents, the detection core, into ClickHouse."""

from pathlib import Path

from accessdrift.schemas.codec import codec_for
from accessdrift.settings import Settings
from tests.helpers import REPO, Isolated, Worker, read_topic, wait_until

RAW = REPO / "tests/fixtures/raw"


def test_cloudtrail_key_deleted_then_used_raises_used_after_revocation_once(
    kafka: Settings, isolated: Isolated, worker: Worker
) -> None:
    result = isolated.cli(
        "replay", "--format", "cloudtrail", str(RAW / "cloudtrail-key-deleted-then-used.json")
    )
    assert result.returncode == 0, result.stderr
    assert f"{6:>8} -> {isolated.prefix}raw.cloudtrail" in result.stdout

    def alerts() -> list[dict[str, object]]:
        return worker.query(
            "SELECT kind, severity, identity_id, account_id, credential_id, deprovisioned_at, used_at, "
            "seconds_after, source_ip, action FROM alerts FINAL"
        )

    wait_until(
        lambda: (
            len(alerts()) == 1 and worker.count("SELECT count() AS n FROM cloud_audit FINAL") == 5
        ),
        timeout=60,
    )
    assert alerts() == [
        {
            "kind": "used_after_revocation",
            "severity": "high",
            "identity_id": "aws:111122223333:user/build-bot",
            "account_id": "aws:111122223333:user/build-bot",
            "credential_id": "aws:AKIABUILDBOT0000001",
            "deprovisioned_at": "2026-03-04T12:00:00+00:00",
            "used_at": "2026-03-04T12:30:00+00:00",
            "seconds_after": 1800.0,
            "source_ip": "203.0.113.66",
            "action": "GetObject",
        }
    ]
    kinds = worker.query(
        "SELECT event_id, kind, target_credential_id FROM cloud_audit FINAL ORDER BY event_time"
    )
    assert [row["kind"] for row in kinds] == [
        "credential_created",
        "usage",
        "credential_revoked",
        "usage",
        "usage",
    ]
    assert kinds[2]["target_credential_id"] == "aws:AKIABUILDBOT0000001"
    stats = worker.stats()
    assert stats["cloudtrail:ignored:cloudtrail digest file"] == 1
    assert stats["cloudtrail:CloudAuditEvent"] == 5


def test_hr_okta_and_vault_logs_measure_lag_and_catch_use_after_termination(
    kafka: Settings, isolated: Isolated, worker: Worker, tmp_path: Path
) -> None:
    for format_name, file in (
        ("hr-csv", "hr-export.csv"),
        ("okta", "okta-system-log.jsonl"),
        ("vault", "vault-audit.log"),
    ):
        result = isolated.cli("replay", "--format", format_name, str(RAW / file))
        assert result.returncode == 0, result.stderr

    expected_alerts = {
        ("used_after_deprovision", "critical", "E2001", "okta:00ucarol", None, 3600.0),
        (
            "used_after_deprovision",
            "critical",
            "E2001",
            "vault:entity/ent-carol",
            "vault:accessor/hmac-sha256:carol-token",
            36000.0,
        ),
        (
            "attempted_after_deprovision",
            "medium",
            "E2001",
            "vault:entity/ent-carol",
            "vault:accessor/hmac-sha256:carol-token",
            39600.0,
        ),
    }
    expected_lags = {
        ("joiner", "okta:00ucarol", "closed", 1200.0),
        ("leaver", "okta:00ucarol", "closed", 7200.0),
    }

    def landed() -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
        alerts = worker.query(
            "SELECT kind, severity, identity_id, account_id, credential_id, seconds_after FROM alerts FINAL"
        )
        lags = worker.query(
            "SELECT change_type, account_id, status, lag_seconds FROM provisioning_lag FINAL"
        )
        return {tuple(row.values()) for row in alerts}, {tuple(row.values()) for row in lags}

    wait_until(lambda: landed() == (expected_alerts, expected_lags), timeout=60)
    # The vault entity and its token have no deprovision yet, and event time has not
    # reached the 24h SLA: no overdue is raised early.
    assert (
        worker.count("SELECT count() AS n FROM alerts FINAL WHERE kind = 'deprovision_overdue'")
        == 0
    )
    assert worker.count("SELECT count() AS n FROM directory_changes FINAL") == 2

    letters = read_topic(kafka.kafka_bootstrap, f"{isolated.prefix}drift.deadletter", 2)
    reasons = sorted(
        codec_for("DeadLetter").decode_dict(message.value())["error"] for message in letters
    )
    assert len(reasons) == 2
    assert "not JSON" in reasons[0] or "not JSON" in reasons[1]
    assert any("'Sabbatical' is not mapped" in reason for reason in reasons)
