"""The entitlement drift SQL (docs/queries.md's ledger questions, the dashboard's drift
statements, the Grafana entitlement drift panels) on a handful of rows written by hand
into an embedded ClickHouse, each answer known row by row.

No broker and no simulator: the rows are chosen for the edges the views must get right
(an interval ending exactly at the moment asked, a tombstoned one, a superseded version,
a rehired leaver's new grant, a replaced alert). tests/integration/test_queries_doc.py
checks the same questions on the simulated organisation against its ground truth.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accessdrift.dashboard import collect_dashboard
from accessdrift.dashboard.data import DriftBySystem, DriftTotals
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import migrate
from accessdrift.sinks.rows import Columns
from deploy.grafana import dashboards
from tests.grafana_macros import ALL, QueryContext, Variable, render
from tests.integration.test_queries_doc import Question, questions

Rows = list[dict[str, Any]]
DOC = {question.slug: question for question in questions()}
# The identity and the moment the doc's access-at question names: the rows below are
# built around them, so the doc's query runs here as printed.
_ACCESS_AT = DOC["access-at"].sql
IDENTITY = re.search(r"identity_id = '([^']+)'", _ACCESS_AT).group(1)  # type: ignore[union-attr]
AT = datetime.fromisoformat(
    re.search(r"access_at\(at = '([^']+)'\)", _ACCESS_AT).group(1)  # type: ignore[union-attr]
).replace(tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
LEFT = AT - DAY  # the leaver's time
MOVED = AT - 10 * DAY  # the movers' time
DUE = MOVED + 7 * DAY  # the default mover SLA
VERSION = datetime(2026, 1, 1, tzinfo=UTC)  # updated_at of a first version

LEDGER_COLUMNS = [
    "interval_id", "system", "account_id", "subject_type", "subject", "identity_id",
    "identity_kind", "valid_from", "valid_to", "opened_by", "closed_by", "privileged",
    "removed", "updated_at",
]  # fmt: skip
ALERT_COLUMNS = [
    "alert_id", "kind", "severity", "identity_id", "identity_kind", "account_id",
    "credential_id", "deprovisioned_at", "used_at", "seconds_after", "system", "action",
    "source_ip", "detected_at", "evidence", "entitlement",
]  # fmt: skip


def interval(
    interval_id: str,
    identity: str,
    account: str,
    subject_type: str,
    subject: str,
    valid_from: datetime,
    valid_to: datetime | None = None,
    *,
    privileged: bool = False,
    removed: bool = False,
    version: int = 0,
) -> tuple[Any, ...]:
    return (
        interval_id,
        account.split(":", 1)[0],
        account,
        subject_type,
        subject,
        identity,
        "human",
        valid_from,
        valid_to,
        f"open-{interval_id}",
        f"close-{interval_id}" if valid_to is not None else None,
        privileged,
        removed,
        VERSION + timedelta(seconds=version),
    )


def ledger_rows() -> list[tuple[Any, ...]]:
    me, okta, aws = IDENTITY, f"okta:{IDENTITY}", "aws:111122223333:user/me"
    return [
        # What IDENTITY holds at AT: its two accounts, a key, two entitlements.
        interval("a1", me, okta, "account", okta, AT - 10 * DAY),
        interval("a2", me, aws, "account", aws, AT - 10 * DAY),
        interval("c1", me, aws, "credential", "aws:AKIAME", AT - DAY),
        interval("e1", me, okta, "entitlement", "okta:admin/SUPER_ADMIN", AT - 2 * DAY,
                 AT + HOUR, privileged=True),
        interval("e2", me, okta, "entitlement", "okta:group/begins-at", AT),
        # Not held at AT: ended before it, ended exactly at it, begun after it.
        interval("e3", me, okta, "entitlement", "okta:group/ended", AT - 5 * DAY, AT - HOUR),
        interval("e4", me, okta, "entitlement", "okta:group/ends-at", AT - 5 * DAY, AT),
        interval("e5", me, okta, "entitlement", "okta:group/later", AT + HOUR),
        # A tombstone (a late event merged it into another) and a superseded version.
        interval("e6", me, aws, "entitlement", "aws:policy/AdministratorAccess", AT - 3 * DAY,
                 privileged=True),
        interval("e6", me, aws, "entitlement", "aws:policy/AdministratorAccess", AT - 3 * DAY,
                 privileged=True, removed=True, version=1),
        interval("e7", me, aws, "entitlement", "aws:group/ops", AT - 3 * DAY),
        interval("e7", me, aws, "entitlement", "aws:group/ops", AT - 3 * DAY, AT - HOUR,
                 version=1),
        # Someone else's, held at AT.
        interval("o1", "E-OTHER", "okta:other", "entitlement", "okta:group/x", AT - DAY),
        # The leaver: held when leaving (privileged), granted after it (one privileged),
        # ended before it; a rehired leaver's grant after the return.
        interval("l1", "E-LEAVER", "gcp:leaver@corp", "entitlement",
                 "gcp:projects/p#roles/owner", LEFT - 10 * DAY, privileged=True),
        interval("l2", "E-LEAVER", "gcp:leaver@corp", "entitlement",
                 "gcp:projects/p#roles/viewer", LEFT + 2 * HOUR, LEFT + 5 * HOUR),
        interval("l3", "E-LEAVER", "gcp:leaver@corp", "entitlement",
                 "gcp:projects/p#roles/editor", LEFT + 3 * HOUR, privileged=True),
        interval("l4", "E-LEAVER", "gcp:leaver@corp", "entitlement",
                 "gcp:projects/p#roles/browser", LEFT - 20 * DAY, LEFT - DAY),
        interval("r1", "E-REHIRED", "vault:entity/rehired", "entitlement", "vault:policy/root",
                 LEFT + 2 * DAY, privileged=True),
        # The movers' entitlements, held since before the move.
        interval("m1", "E-MOVER", "aws:111122223333:user/mover", "entitlement",
                 "aws:policy/AdministratorAccess", MOVED - 30 * DAY, privileged=True),
        interval("m2", "E-MOVER", "aws:111122223333:user/mover", "entitlement",
                 "aws:group/dev", MOVED - 30 * DAY, DUE + DAY),
        interval("m3", "E-MOVER2", "okta:mover2", "entitlement", "okta:admin/ORG_ADMIN",
                 MOVED - 5 * DAY, DUE + 2 * DAY, privileged=True),
    ]  # fmt: skip


def alert(
    alert_id: str,
    kind: str,
    severity: str,
    identity: str,
    account: str,
    reference: datetime,
    *,
    used: datetime | None = None,
    credential: str | None = None,
    entitlement: str | None = None,
    evidence: dict[str, Any],
    version: int = 0,
) -> tuple[Any, ...]:
    return (
        alert_id,
        kind,
        severity,
        identity,
        "human",
        account,
        credential,
        reference,
        used,
        (used - reference).total_seconds() if used is not None else None,
        account.split(":", 1)[0],
        "permission_granted" if used is not None else None,
        None,
        VERSION + timedelta(seconds=version),
        json.dumps(evidence),
        entitlement,
    )


def alert_rows() -> list[tuple[Any, ...]]:
    granted, retained = "granted_after_deprovision", "mover_access_retained"
    leaver, mover = "gcp:leaver@corp", "aws:111122223333:user/mover"

    def moved(privileged: bool) -> dict[str, Any]:
        return {"deadline": DUE.isoformat(), "privileged": privileged}

    return [
        alert("g1", granted, "high", "E-LEAVER", leaver, LEFT, used=LEFT + 2 * HOUR,
              entitlement="gcp:projects/p#roles/viewer", evidence={"privileged": False}),
        # First raised on a later grant, then improved by the earlier one: FINAL keeps that.
        alert("g2", granted, "critical", "E-LEAVER", leaver, LEFT, used=LEFT + 9 * HOUR,
              entitlement="gcp:projects/p#roles/editor", evidence={"privileged": True}),
        alert("g2", granted, "critical", "E-LEAVER", leaver, LEFT, used=LEFT + 3 * HOUR,
              entitlement="gcp:projects/p#roles/editor", evidence={"privileged": True},
              version=1),
        alert("g3", granted, "high", "E-LEAVER", leaver, LEFT, used=LEFT + 4 * HOUR,
              credential="gcp:key/k9", evidence={"privileged": False}),
        alert("t1", retained, "high", "E-MOVER", mover, MOVED,
              entitlement="aws:policy/AdministratorAccess", evidence=moved(True)),
        alert("t2", retained, "medium", "E-MOVER", mover, MOVED, entitlement="aws:group/dev",
              evidence=moved(False)),
        alert("t3", retained, "high", "E-MOVER2", "okta:mover2", MOVED,
              entitlement="okta:admin/ORG_ADMIN", evidence=moved(True)),
        # Another kind: never entitlement drift.
        alert("u1", "used_after_deprovision", "critical", "E-LEAVER", leaver, LEFT,
              used=LEFT + HOUR, evidence={}),
    ]  # fmt: skip


def directory_rows() -> list[tuple[Any, ...]]:
    def change(event_id: str, identity: str, change_type: str, at: datetime) -> tuple[Any, ...]:
        return (event_id, at, "hr", identity, "human", change_type, [], None, {}, None)

    return [
        change("d1", "E-LEAVER", "leaver", LEFT),
        change("d2", "E-REHIRED", "leaver", LEFT),
        change("d3", "E-REHIRED", "joiner", LEFT + DAY),
        change("d4", "E-MOVER", "mover", MOVED),
        change("d5", "E-MOVER2", "mover", MOVED),
    ]


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    database = ClickHouse(
        f"chdb://{tmp_path_factory.mktemp('drift') / 'clickhouse'}", "accessdrift"
    )
    migrate(database)
    names = "event_id event_time source identity_id identity_kind change_type accounts "
    names += "owner_id attributes email"
    for table, columns, rows in (
        ("access_ledger", LEDGER_COLUMNS, ledger_rows()),
        ("alerts", ALERT_COLUMNS, alert_rows()),
        ("directory_changes", names.split(), directory_rows()),
    ):
        # A row per insert: the versions of one interval or alert land in parts of
        # their own, as the sink writes them, and only FINAL folds them.
        for index, row in enumerate(rows):
            database.insert(table, Columns.from_rows(columns, [row]), f"{table}:{index}")
    yield database
    database.close()


def run(clickhouse: ClickHouse, sql: str) -> Rows:
    result = clickhouse.query(sql)  # read-only, as the analysts' door runs it
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def doc_rows(clickhouse: ClickHouse, slug: str) -> Rows:
    question: Question = DOC[slug]
    return run(clickhouse, question.sql)


# -- docs/queries.md ------------------------------------------------------------------


def test_what_one_identity_held_at_a_moment(clickhouse: ClickHouse) -> None:
    rows = doc_rows(clickhouse, "access-at")
    okta, aws = f"okta:{IDENTITY}", "aws:111122223333:user/me"
    assert [(row["system"], row["subject_type"], row["subject"]) for row in rows] == [
        ("aws", "account", aws),
        ("aws", "credential", "aws:AKIAME"),
        ("okta", "account", okta),
        ("okta", "entitlement", "okta:admin/SUPER_ADMIN"),
        ("okta", "entitlement", "okta:group/begins-at"),
    ]
    admin = rows[3]
    assert admin["privileged"] is True and admin["valid_to"] == AT + HOUR
    assert (admin["opened_by"], admin["closed_by"]) == ("open-e1", "close-e1")
    assert rows[0]["valid_to"] is None and rows[0]["closed_by"] is None


def test_who_kept_admin_after_moving(clickhouse: ClickHouse) -> None:
    rows = doc_rows(clickhouse, "kept-admin-after-move")
    found = [
        (row["identity_id"], row["entitlement"], row["still_held"], row["revoked_at"])
        for row in rows
    ]
    assert found == [
        ("E-MOVER", "aws:policy/AdministratorAccess", True, None),
        ("E-MOVER2", "okta:admin/ORG_ADMIN", False, DUE + 2 * DAY),
    ]
    assert all(row["moved_at"] == MOVED and row["due_at"] == DUE for row in rows)
    assert [row["granted_at"] for row in rows] == [MOVED - 30 * DAY, MOVED - 5 * DAY]


def test_what_was_granted_to_leavers(clickhouse: ClickHouse) -> None:
    rows = doc_rows(clickhouse, "granted-to-leavers")
    found = [
        (row["identity_id"], row["entitlement"], row["privileged"], row["still_held"])
        for row in rows
    ]
    # Privileged first; not what it held when it left, nor the rehired one's new grant.
    assert found == [
        ("E-LEAVER", "gcp:projects/p#roles/editor", True, True),
        ("E-LEAVER", "gcp:projects/p#roles/viewer", False, False),
    ]
    assert [row["seconds_after_leaving"] for row in rows] == [3 * 3600, 2 * 3600]
    assert [row["revoked_at"] for row in rows] == [None, LEFT + 5 * HOUR]


def test_what_the_granted_after_deprovision_alerts_say(clickhouse: ClickHouse) -> None:
    rows = doc_rows(clickhouse, "granted-after-deprovision")
    found = [
        (row["granted_at"], row["credential_id"], row["entitlement"], row["privileged"])
        for row in rows
    ]
    assert found == [
        (LEFT + 2 * HOUR, None, "gcp:projects/p#roles/viewer", False),
        (LEFT + 3 * HOUR, None, "gcp:projects/p#roles/editor", True),  # the improved version
        (LEFT + 4 * HOUR, "gcp:key/k9", None, False),
    ]
    assert [row["severity"] for row in rows] == ["high", "critical", "high"]
    assert all(row["left_at"] == LEFT for row in rows)
    assert [row["seconds_after"] for row in rows] == [7200.0, 10800.0, 14400.0]


# -- the built-in dashboard -----------------------------------------------------------


def test_the_dashboard_counts_and_lists_the_drift(clickhouse: ClickHouse) -> None:
    data = collect_dashboard(lambda sql: clickhouse.query(sql))
    assert data.drift_totals == DriftTotals(
        granted=3, granted_privileged=1, retained=3, retained_privileged=2
    )
    # The most findings first.
    assert data.drift_by_system == (
        DriftBySystem("gcp", granted_privileged=1, granted_other=2, retained_privileged=0,
                      retained_other=0),
        DriftBySystem("aws", granted_privileged=0, granted_other=0, retained_privileged=1,
                      retained_other=1),
        DriftBySystem("okta", granted_privileged=0, granted_other=0, retained_privileged=1,
                      retained_other=0),
    )  # fmt: skip
    latest = [
        (item.kind, item.identity_id, item.entitlement, item.privileged, item.at)
        for item in data.drift_findings
    ]
    granted, retained = "granted_after_deprovision", "mover_access_retained"
    # The latest first: the grants (at the grant), then the movers (at their deadline).
    assert latest == [
        (granted, "E-LEAVER", "gcp:key/k9", False, LEFT + 4 * HOUR),
        (granted, "E-LEAVER", "gcp:projects/p#roles/editor", True, LEFT + 3 * HOUR),
        (granted, "E-LEAVER", "gcp:projects/p#roles/viewer", False, LEFT + 2 * HOUR),
        (retained, "E-MOVER", "aws:group/dev", False, DUE),
        (retained, "E-MOVER", "aws:policy/AdministratorAccess", True, DUE),
        (retained, "E-MOVER2", "okta:admin/ORG_ADMIN", True, DUE),
    ]
    details = [item.detail for item in data.drift_findings]
    assert details[0] == "4h after leaving"
    assert details[3].endswith(f"revoked {(DUE + DAY):%Y-%m-%d %H:%M} UTC")
    assert details[4].endswith("still held")


# -- the Grafana entitlement drift dashboard ------------------------------------------


def grafana_rows(clickhouse: ClickHouse, selection: dict[str, list[str]]) -> dict[str, Rows]:
    board = json.loads(dashboards.render(dashboards.entitlements_dashboard().build()))
    ctx = QueryContext(MOVED - 60 * DAY, AT + DAY, timedelta(hours=1))
    options = {"system": ["aws", "gcp", "okta", "vault"], "identity_kind": ["human", "nhi"]}
    variables = {
        name: Variable(name, selection.get(name, ALL), values) for name, values in options.items()
    }
    found: dict[str, Rows] = {}
    for panel in board["panels"]:
        (target,) = panel["targets"]
        found[panel["title"]] = run(clickhouse, render(target["rawSql"], ctx, variables))
    return found


def test_the_grafana_panels_answer(clickhouse: ClickHouse) -> None:
    panels = grafana_rows(clickhouse, {})
    assert panels["Granted after deprovisioning"] == [{"granted": 3}]
    assert panels["Privileged grants after deprovisioning"] == [{"privileged_grants": 1}]
    assert panels["Kept after a move, still held now"] == [{"held_now": 1}]
    assert panels["Privileged, kept after a move, now"] == [{"privileged_held_now": 1}]
    series = {(row["time"], row["finding"]): row["alerts"] for row in panels["Entitlement drift"]}

    def hour(at: datetime) -> datetime:  # the panel's bucket ($__timeInterval, 1 h here)
        return at.replace(minute=0, second=0, microsecond=0)

    assert series == {
        (hour(LEFT + 2 * HOUR), "gcp granted after deprovision"): 1,
        (hour(LEFT + 3 * HOUR), "gcp granted after deprovision, privileged"): 1,
        (hour(LEFT + 4 * HOUR), "gcp granted after deprovision"): 1,
        (hour(DUE), "aws mover access retained"): 1,
        (hour(DUE), "aws mover access retained, privileged"): 1,
        (hour(DUE), "okta mover access retained, privileged"): 1,
    }
    findings = panels["Entitlement drift findings"]
    assert [row["entitlement"] for row in findings] == [
        "gcp:key/k9",
        "gcp:projects/p#roles/editor",
        "gcp:projects/p#roles/viewer",
        "aws:group/dev",
        "aws:policy/AdministratorAccess",
        "okta:admin/ORG_ADMIN",
    ]
    leavers = panels["Leavers' entitlements"]
    assert [(row["entitlement"], row["held_at_leave"], row["still_held"]) for row in leavers] == [
        ("gcp:projects/p#roles/editor", False, True),
        ("gcp:projects/p#roles/owner", True, True),
        ("gcp:projects/p#roles/viewer", False, False),
    ]
    movers = panels["Access kept after a move"]
    assert [(row["entitlement"], row["still_held"]) for row in movers] == [
        ("aws:policy/AdministratorAccess", True),
        ("okta:admin/ORG_ADMIN", False),
        ("aws:group/dev", False),
    ]


def test_the_grafana_panels_narrow_to_a_system(clickhouse: ClickHouse) -> None:
    panels = grafana_rows(clickhouse, {"system": ["aws"]})
    assert panels["Granted after deprovisioning"] == [{"granted": 0}]
    assert [row["identity_id"] for row in panels["Entitlement drift findings"]] == ["E-MOVER"] * 2
    assert panels["Leavers' entitlements"] == []
    nhi = grafana_rows(clickhouse, {"identity_kind": ["nhi"]})
    assert all(not rows or list(rows[0].values()) == [0] for rows in nhi.values()), nhi
