"""The access ledger in the embedded engine (chDB, no broker): migration 0008 on a fresh
and on an existing database, AccessInterval rows as the findings ingest writes them, the
views, `access_at` through the analyst path (and what stays refused), `accessdrift
access`, and the evidence and report built on the ledger.

The rows are written here by hand, through the sink's own row building (accessdrift/sinks/rows.py):
what the worker writes for drift.ledger."""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import accessdrift.sinks.migrate
from accessdrift.commands.access import identity_access
from accessdrift.errors import IdentityNotFound, QueryRefused
from accessdrift.evidence import collect_evidence, collect_report, to_html, to_markdown
from accessdrift.evidence.holdings import Slas
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import available_migrations, migrate
from accessdrift.sinks.rows import ALL_TABLES, to_columns
from tests.helpers import REPO, free_port

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ALICE = "aws:111122223333:user/alice"
BOB = "okta:00ub0b"


def interval(
    interval_id: str,
    identity: str,
    account: str,
    subject_type: str,
    subject: str,
    start: datetime,
    end: datetime | None = None,
    privileged: bool = False,
    removed: bool = False,
    version: datetime = T0 + 40 * DAY,
) -> dict[str, Any]:
    return {
        "interval_id": interval_id,
        "system": account.split(":", 1)[0],
        "account_id": account,
        "subject_type": subject_type,
        "subject": subject,
        "identity_id": identity,
        "identity_kind": "human",
        "valid_from": start,
        "valid_to": end,
        "opened_by": f"ev-open-{interval_id}",
        "closed_by": f"ev-close-{interval_id}" if end else None,
        "privileged": privileged,
        "removed": removed,
        "updated_at": version,
    }


ADMIN = "aws:policy/AdministratorAccess"
LEDGER = [
    # E1 leaves at T0: its account is deleted 3 days later, its key in time, its admin
    # policy never taken away, a group granted the day after it left.
    interval("a1", "E1", ALICE, "account", ALICE, T0 - 90 * DAY, T0 + 3 * DAY),
    interval("k1", "E1", ALICE, "credential", "aws:AKIAEXAMPLE1", T0 - 60 * DAY, T0 + HOUR),
    interval("e1", "E1", ALICE, "entitlement", ADMIN, T0 - 30 * DAY, privileged=True),
    interval("e2", "E1", ALICE, "entitlement", "aws:group/dev", T0 - 30 * DAY, T0 + 2 * HOUR),
    interval("e3", "E1", ALICE, "entitlement", "aws:group/late", T0 + DAY),
    # A late event merged this one into e2: its tombstone is the latest version.
    interval("e4", "E1", ALICE, "entitlement", "aws:group/ghost", T0 - 10 * DAY),
    # E2 moves at T0; the new role lists okta:group/data.
    interval("b1", "E2", BOB, "account", BOB, T0 - 90 * DAY),
    interval("m1", "E2", BOB, "entitlement", "okta:group/finance", T0 - 20 * DAY),
    interval("m2", "E2", BOB, "entitlement", "okta:group/data", T0 - 20 * DAY),
    interval("m3", "E2", BOB, "entitlement", "okta:admin/SUPER_ADMIN", T0 - 20 * DAY,
             T0 + 2 * DAY, privileged=True),
]  # fmt: skip
TOMBSTONE = interval(
    "e4", "E1", ALICE, "entitlement", "aws:group/ghost", T0 - 10 * DAY, removed=True,
    version=T0 + 41 * DAY,
)  # fmt: skip


def directory_change(
    event_id: str, identity: str, change_type: str, at: datetime, entitlements: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_time": at,
        "source": "hr",
        "identity_id": identity,
        "identity_kind": "human",
        "change_type": change_type,
        "accounts": None,
        "owner_id": None,
        "attributes": {"entitlements": entitlements} if entitlements is not None else None,
        "email": None,
    }


def retained_alert() -> dict[str, Any]:
    evidence = {"deadline": (T0 + 7 * DAY).isoformat(), "privileged": False,
                "granted_at": (T0 - 20 * DAY).isoformat()}  # fmt: skip
    return {
        "alert_id": "alert-retained-1",
        "kind": "mover_access_retained",
        "severity": "medium",
        "identity_id": "E2",
        "identity_kind": "human",
        "account_id": BOB,
        "credential_id": None,
        "deprovisioned_at": T0,
        "used_at": None,
        "seconds_after": None,
        "system": "okta",
        "action": None,
        "source_ip": None,
        "detected_at": T0 + 7 * DAY,
        "evidence": json.dumps(evidence),
        "entitlement": "okta:group/finance",
    }


def grant_event() -> dict[str, Any]:
    """A permission_granted with the new fields; its time is the data's watermark."""
    return {
        "event_id": "ct-grant-1",
        "event_time": T0 + 30 * DAY,
        "system": "aws",
        "account_id": "aws:111122223333:user/admin",
        "credential_id": None,
        "action": "AttachUserPolicy",
        "kind": "permission_granted",
        "target_account_id": ALICE,
        "target_credential_id": None,
        "outcome": "success",
        "source_ip": None,
        "user_agent": None,
        "entitlement": ADMIN,
        "privileged": True,
    }


def insert(clickhouse: ClickHouse, record: str, rows: list[dict[str, Any]], token: str) -> None:
    spec = ALL_TABLES[record]
    clickhouse.insert(spec.table, to_columns(spec, rows), token)


def build(path: Path) -> ClickHouse:
    clickhouse = ClickHouse(f"chdb://{path}", "accessdrift")
    migrate(clickhouse)
    insert(clickhouse, "AccessInterval", LEDGER, "ledger-1")
    insert(clickhouse, "AccessInterval", [TOMBSTONE], "ledger-2")
    insert(clickhouse, "DirectoryChange", [
        directory_change("dc-j1", "E1", "joiner", T0 - 100 * DAY),
        directory_change("dc-l1", "E1", "leaver", T0),
        directory_change("dc-m2", "E2", "mover", T0, "okta:group/data"),
    ], "changes")  # fmt: skip
    insert(clickhouse, "Alert", [retained_alert()], "alerts")
    insert(clickhouse, "CloudAuditEvent", [grant_event()], "audit")
    return clickhouse


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    connection = build(tmp_path_factory.mktemp("ledger") / "clickhouse")
    yield connection
    connection.close()


def rows(clickhouse: ClickHouse, sql: str) -> list[dict[str, Any]]:
    result = clickhouse.query(sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_an_existing_database_is_upgraded_and_migrating_again_changes_nothing(
    clickhouse: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = ClickHouse(clickhouse.dsn, "accessdrift_before_0008")
    try:
        everything = available_migrations()
        monkeypatch.setattr(
            accessdrift.sinks.migrate,
            "available_migrations",
            lambda: [m for m in everything if m.version < 8],
        )
        migrate(older)
        older.command(
            "INSERT INTO alerts (alert_id, kind, severity, identity_id, identity_kind, "
            "deprovisioned_at, detected_at, evidence) VALUES ('before', 'orphaned_nhi', 'high', "
            "'E9', 'nhi', '2026-01-01 00:00:00', '2026-01-02 00:00:00', '{}')"
        )
        monkeypatch.setattr(accessdrift.sinks.migrate, "available_migrations", lambda: everything)
        # 0008 and every migration after it (0009_hygiene came later).
        assert migrate(older) == [f"{m.version:04d}_{m.name}" for m in everything if m.version >= 8]
        assert migrate(older) == []
        assert rows(older, "SELECT alert_id, entitlement FROM alerts FINAL") == [
            {"alert_id": "before", "entitlement": None}
        ]
        insert(older, "CloudAuditEvent", [grant_event()], "after-upgrade")
        assert rows(older, "SELECT entitlement, privileged FROM cloud_audit FINAL") == [
            {"entitlement": ADMIN, "privileged": True}
        ]
    finally:
        older.close()
    assert migrate(clickhouse) == []


def test_the_ledger_table_has_the_records_columns_and_keeps_the_latest_version(
    clickhouse: ClickHouse,
) -> None:
    columns = [row[0] for row in clickhouse.query("DESCRIBE TABLE access_ledger").rows]
    assert tuple(columns) == ALL_TABLES["AccessInterval"].columns
    # A retried batch, and a replay of the same versions, change nothing.
    insert(clickhouse, "AccessInterval", LEDGER, "ledger-1")
    insert(clickhouse, "AccessInterval", LEDGER, "ledger-replayed")
    kept = rows(clickhouse, "SELECT interval_id FROM access_ledger FINAL ORDER BY interval_id")
    assert [row["interval_id"] for row in kept] == sorted(
        i["interval_id"] for i in LEDGER if i["interval_id"] != "e4"
    ), "one row per interval; the tombstoned one is left out by FINAL itself"


def test_access_at_is_what_was_held_then(clickhouse: ClickHouse) -> None:
    def held(at: str, identity: str = "E1") -> set[str]:
        found = rows(
            clickhouse,
            f"SELECT subject FROM access_at(at = '{at}') WHERE identity_id = '{identity}'",
        )
        return {row["subject"] for row in found}

    assert held("2026-03-02 09:00:00") == {ALICE, "aws:AKIAEXAMPLE1", ADMIN, "aws:group/dev"}
    # valid_to is excluded: the key was revoked at exactly T0 + 1 h.
    assert held("2026-03-02 10:00:00") == {ALICE, ADMIN, "aws:group/dev"}
    assert held("2026-03-10 00:00:00") == {ADMIN, "aws:group/late"}
    columns = clickhouse.query("SELECT * FROM access_at(at = '2026-03-02 09:00:00') LIMIT 1")
    assert columns.columns == [
        "identity_id", "identity_kind", "system", "account_id", "subject_type", "subject",
        "privileged", "valid_from", "valid_to", "opened_by", "closed_by",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM accessdrift.access_at(at = '2026-03-02 09:00:00')",
        "SELECT * FROM system.access_at(at = '2026-03-02 09:00:00')",
        "SELECT * FROM `accessdrift.access_at`(at = '2026-03-02 09:00:00')",
        "SELECT * FROM ACCESS_AT(at = '2026-03-02 09:00:00')",
        "SELECT * FROM access_at(at = (SELECT max(x) FROM file('/etc/passwd', 'LineAsString', 'x String')))",
        "SELECT * FROM access_at(at = '2026-03-02') AS a JOIN url('http://127.0.0.1:1/', 'CSV', 'x String') AS u ON 1",
        "SELECT * FROM remote('127.0.0.1', system.one)",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM entitlements_of_leavers(at = '2026-03-02')",
    ],
)  # fmt: skip
def test_only_the_projects_own_view_by_its_bare_name_passes_the_guard(
    clickhouse: ClickHouse, sql: str
) -> None:
    with pytest.raises(QueryRefused, match=r"table function|function file\(\)"):
        clickhouse.query(sql)


def test_entitlements_of_leavers(clickhouse: ClickHouse) -> None:
    found = {
        row["entitlement"]: row
        for row in rows(
            clickhouse, "SELECT * FROM entitlements_of_leavers WHERE identity_id = 'E1'"
        )
    }
    assert set(found) == {ADMIN, "aws:group/dev", "aws:group/late"}
    admin, dev, late = found[ADMIN], found["aws:group/dev"], found["aws:group/late"]
    assert (admin["held_at_leave"], admin["still_held"], admin["privileged"]) == (True, True, True)
    assert admin["removed_after_seconds"] is None and admin["left_at"] == T0
    assert (dev["held_at_leave"], dev["still_held"], dev["removed_after_seconds"]) == (
        True,
        False,
        7200,
    )
    assert (late["held_at_leave"], late["granted_after_leave"]) == (False, True)


def test_access_retained_after_move(clickhouse: ClickHouse) -> None:
    (row,) = rows(clickhouse, "SELECT * FROM access_retained_after_move")
    assert row == {
        "alert_id": "alert-retained-1",
        "severity": "medium",
        "identity_id": "E2",
        "identity_kind": "human",
        "moved_at": T0,
        "due_at": T0 + 7 * DAY,
        "system": "okta",
        "account_id": BOB,
        "entitlement": "okta:group/finance",
        "privileged": False,
        "granted_at": T0 - 20 * DAY,
        "revoked_at": None,
        "still_held": True,
    }


@pytest.mark.parametrize("hostile", ["E1' OR 1=1 --", "E1\\' OR 1=1 --", "{at:String}", "E1\n"])
def test_the_access_of_an_identity_and_a_hostile_id_reaches_sql_as_text(
    clickhouse: ClickHouse, hostile: str
) -> None:
    now = identity_access(clickhouse.query, "E1", None)
    assert [row[3] for row in now.rows] == ["aws:group/late", ADMIN]
    then = identity_access(clickhouse.query, "E1", T0 + 30 * 60 * timedelta(seconds=1))
    assert [(row[2], row[3]) for row in then.rows] == [
        ("account", ALICE),
        ("credential", "aws:AKIAEXAMPLE1"),
        ("entitlement", "aws:group/dev"),
        ("entitlement", ADMIN),
    ], "per system and account: the account, its keys, its entitlements"
    with pytest.raises(IdentityNotFound):
        identity_access(clickhouse.query, hostile, None)


def test_the_evidence_shows_what_was_held_at_each_change_and_its_sla(
    clickhouse: ClickHouse,
) -> None:
    evidence = collect_evidence(clickhouse.query, "E1", Slas())
    assert evidence["ledger_intervals"] == 5
    leaver = next(c for c in evidence["changes"] if c["change_type"] == "leaver")
    (aws,) = leaver["held_at_change"]
    assert {e["entitlement"] for e in aws["entitlements"]} == {ADMIN, "aws:group/dev"}
    (at_sla,) = leaver["held_at_sla"]
    assert at_sla["at"] == (T0 + DAY).isoformat() and at_sla["reached"] is True
    assert [a["account_id"] for a in at_sla["accounts"]] == [ALICE]
    # Granted at exactly T0 + 1 day: held at that moment (valid_from <= T).
    assert [e["entitlement"] for e in at_sla["entitlements"]] == ["aws:group/late", ADMIN]
    assert {(n["subject_type"], n["subject"]) for n in leaver["not_matched_at_sla"]} == {
        ("account", ALICE),
        ("entitlement", "aws:group/late"),
        ("entitlement", ADMIN),
    }
    joiner = next(c for c in evidence["changes"] if c["change_type"] == "joiner")
    assert joiner["held_at_change"] == [] and joiner["not_matched_at_sla"] is None
    assert "NOT removed by its SLA" in to_markdown(evidence)
    assert "aws:group/ghost" not in json.dumps(evidence), "a tombstoned interval never shows"
    assert 'class="held-at-sla"' in to_html(evidence)

    mover = collect_evidence(clickhouse.query, "E2", Slas())["changes"][0]
    assert [n["subject"] for n in mover["not_matched_at_sla"]] == ["okta:group/finance"]
    shorter = collect_evidence(clickhouse.query, "E2", Slas(mover=DAY))["changes"][0]
    assert [n["subject"] for n in shorter["not_matched_at_sla"]] == [
        "okta:admin/SUPER_ADMIN",
        "okta:group/finance",
    ], "at T0 + 1 day the admin role was still there too"


def test_the_report_names_the_leavers_and_movers_not_matched_by_their_sla(
    clickhouse: ClickHouse,
) -> None:
    report = collect_report(
        clickhouse.query, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    )
    assert report["totals"]["leavers_not_matched_by_sla"] == 1
    assert report["totals"]["movers_not_matched_by_sla"] == 1
    by_identity = {row["identity_id"]: row for row in report["not_matched_by_sla"]}
    assert by_identity["E1"]["change_type"] == "leaver" and by_identity["E1"]["privileged"]
    assert {h["subject"] for h in by_identity["E1"]["held"]} == {ALICE, ADMIN, "aws:group/late"}
    assert by_identity["E2"]["held"] == [
        {"subject_type": "entitlement", "subject": "okta:group/finance", "account_id": BOB,
         "privileged": False}
    ]  # fmt: skip
    before = collect_report(
        clickhouse.query, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert before["not_matched_by_sla"] == [], "changes outside the period are not reported"


def cli(database: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "ACCESSDRIFT_CLICKHOUSE_URL": f"chdb://{database}",
        "ACCESSDRIFT_CLICKHOUSE_DATABASE": "accessdrift",
        "ACCESSDRIFT_DATA_DIR": str(tmp_path / "data"),
        # No worker answers there: the CLI opens the engine itself.
        "ACCESSDRIFT_WORKER_WEB_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "accessdrift.cli", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_access_command_as_a_user_runs_it(tmp_path: Path) -> None:
    # Built in a process of its own: the engine opens one folder per process, and this
    # one holds the module's already.
    database = tmp_path / "clickhouse"
    made = subprocess.run(
        [sys.executable, "-c", "from pathlib import Path; from tests.integration."
         f"test_access_ledger import build; build(Path({str(database)!r})).close()"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    table = cli(database, tmp_path, "access", "E1")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["system", "account_id", "subject_type", "subject"]
    assert lines[-1] == "(2 rows)" and ADMIN in table.stdout

    then = cli(database, tmp_path, "access", "E1", "--at", "2026-03-02T11:30:00+02:00",
               "--format", "json")  # fmt: skip
    assert then.returncode == 0, then.stderr
    held = [json.loads(line) for line in then.stdout.splitlines()]
    assert [(row["subject_type"], row["subject"]) for row in held] == [
        ("account", ALICE),
        ("credential", "aws:AKIAEXAMPLE1"),
        ("entitlement", "aws:group/dev"),
        ("entitlement", ADMIN),
    ]
    assert held[0]["valid_from"] == "2025-12-02T09:00:00+00:00" and held[0]["opened_by"]

    for bad in ("last tuesday", "2026-03-02T09:00:00"):
        wrong = cli(database, tmp_path, "access", "E1", "--at", bad)
        assert wrong.returncode == 2 and wrong.stdout == ""
        assert re.fullmatch(r"accessdrift: --at: .*\n", wrong.stderr), wrong.stderr

    unknown = cli(database, tmp_path, "access", "nobody' OR '1'='1")
    assert unknown.returncode == 1 and "no interval of" in unknown.stderr

    query = cli(database, tmp_path, "query", "--format", "json",
                "SELECT count() AS n FROM access_at(at = '2026-03-02 09:00:00')")  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == {"n": 8}, "four intervals of E1, four of E2"
