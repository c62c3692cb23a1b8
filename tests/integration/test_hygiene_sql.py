"""The credential hygiene SQL (migration 0009's views, docs/hygiene.md's questions, the
built-in dashboard's hygiene statements and the Grafana credential hygiene panels) on a
handful of alerts of the six kinds written by hand into an embedded ClickHouse, each
answer known row by row.

No broker and no simulator: the rows are chosen for the edges the views must get right
(a stale alert and its resolved newer version, each age bucket, an unowned account
claimed since, another kind beside them). Every query runs read-only, through the
analysts' guard, as `accessdrift query` runs it.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accessdrift.dashboard import collect_dashboard
from accessdrift.dashboard.data import HygieneCounts, HygieneTotals
from accessdrift.sinks.clickhouse import ClickHouse
from accessdrift.sinks.migrate import migrate
from accessdrift.sinks.rows import ALL_TABLES, Columns, to_columns
from deploy.grafana import dashboards
from tests.grafana_macros import ALL, QueryContext, Variable, render
from tests.helpers import REPO

Rows = list[dict[str, Any]]
W = datetime(2026, 6, 1, tzinfo=UTC)  # the latest event time: "now" of every view
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
VERSION = datetime(2026, 6, 1, 12, tzinfo=UTC)  # detected_at of a first version

DOC = REPO / "docs" / "hygiene.md"
HEADING = re.compile(r'(?P<question>.+?)\s*<a id="(?P<slug>[a-z0-9-]+)"></a>')


def doc_questions() -> dict[str, str]:
    """slug -> the one sql block of each `###` question of docs/hygiene.md's Questions."""
    section = DOC.read_text().split("\n## Questions\n", 1)[1]
    found = {}
    for part in section.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        match = HEADING.fullmatch(heading.strip())
        assert match, f'a question without an <a id="slug"></a>: {heading!r}'
        blocks = re.findall(r"```sql\n(.*?)```", body, re.S)
        assert len(blocks) == 1, f"{match['slug']}: one sql block, found {len(blocks)}"
        found[match["slug"]] = blocks[0]
    return found


def alert(
    alert_id: str,
    kind: str,
    severity: str,
    identity: str,
    identity_kind: str,
    system: str,
    reference: datetime,
    *,
    account: str | None = None,
    credential: str | None = None,
    used: datetime | None = None,
    resolved: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    version: int = 0,
) -> dict[str, Any]:
    """An Alert record as the detector emits it (accessdrift/schemas/Alert.avsc), written through the
    sink's own row building: the resolved_at column is what 0009 added."""
    return {
        "alert_id": alert_id,
        "kind": kind,
        "severity": severity,
        "identity_id": identity,
        "identity_kind": identity_kind,
        "account_id": account,
        "credential_id": credential,
        "deprovisioned_at": reference,
        "used_at": used,
        "seconds_after": (used - reference).total_seconds() if used is not None else None,
        "system": system,
        "action": "s3:ListBuckets" if used is not None else None,
        "source_ip": "198.51.100.9" if used is not None else None,
        "detected_at": VERSION + timedelta(hours=version),
        "evidence": json.dumps(evidence or {}),
        "entitlement": None,
        "resolved_at": resolved,
    }


def stale_evidence(since: datetime) -> dict[str, Any]:
    return {"unused_since": since.isoformat(), "stale_at": (since + 90 * DAY).isoformat()}


S1_SINCE, S2_SINCE, S3_SINCE = W - 120 * DAY, W - 100 * DAY, W - 400 * DAY
S2_RESOLVED = W - 5 * DAY
CREATED, OVERDUE_USE = W - 200 * DAY, W - 10 * DAY
H1_FIRST, H2_FIRST = W - 2 * DAY, W - 40 * DAY
U1_SEEN, U2_SEEN = W - 30 * DAY, W - DAY
T1_LEFT, T2_LEFT = W - 45 * DAY, W - 3 * DAY
T1_ASSUMED, T2_ASSUMED = T1_LEFT + 3 * DAY, T2_LEFT + 2 * DAY
ROLE, SA = "aws:111122223333:role/deploy", "gcp:build@p.iam.gserviceaccount.com"


def trust_evidence(path: str, leaver: str, by: str, creator: str | None) -> dict[str, Any]:
    """What trust.py writes: the role, the path, the leaver, the assumption, the creation."""
    return {
        "path": path,
        "leaver": leaver,
        "assumed": {"by_account": by, "with_credential": f"{by}/key", "source_ip": "203.0.113.8"},
        "created": {"by_account": creator, "event_time": None, "event_id": None},
    }


def alerts() -> list[dict[str, Any]]:
    ci, ghost = "aws:111122223333:user/ci", "aws:111122223333:user/ghost"
    return [
        # Open, 120 days unused.
        alert("s1", "stale_credential", "medium", "svc-ci", "nhi", "aws", S1_SINCE,
              account=ci, credential="aws:AKIAOLD", evidence=stale_evidence(S1_SINCE)),
        # Raised, then resolved by a use 95 days on: two versions, FINAL keeps the second.
        alert("s2", "stale_account", "low", "E00002", "human", "okta", S2_SINCE,
              account="okta:u2", evidence=stale_evidence(S2_SINCE)),
        alert("s2", "stale_account", "low", "E00002", "human", "okta", S2_SINCE,
              account="okta:u2", resolved=S2_RESOLVED, evidence=stale_evidence(S2_SINCE),
              version=1),
        # Open, over a year.
        alert("s3", "stale_credential", "low", "E00003", "human", "gcp", S3_SINCE,
              account="gcp:e3@corp", credential="gcp:key/old", evidence=stale_evidence(S3_SINCE)),
        alert("r1", "rotation_overdue", "high", "svc-ci", "nhi", "aws", CREATED, account=ci,
              credential="aws:AKIAROT", used=OVERDUE_USE,
              evidence={"privileged_entitlement": "aws:policy/AdministratorAccess"}),
        alert("h1", "shared_credential", "medium", "svc-ci", "nhi", "aws", H1_FIRST,
              account=ci, credential="aws:AKIASHARED", used=H1_FIRST + 3 * HOUR,
              evidence={"how": "uses", "first_use": {"account_id": ci},
                        "second_use": {"account_id": "aws:111122223333:user/alice"}}),
        alert("h2", "shared_credential", "high", "E00005", "human", "okta", H2_FIRST,
              account="okta:shared", used=H2_FIRST + HOUR,
              evidence={"how": "links", "other_identity_id": "E00004"}),
        alert("u1", "uncorrelated_account_active", "low", ghost, "human", "aws", U1_SEEN,
              account=ghost, used=U1_SEEN + 10 * DAY, evidence={"privileged_entitlement": None}),
        alert("u2", "uncorrelated_account_active", "medium", "gcp:admin@p", "nhi", "gcp",
              U2_SEEN, account="gcp:admin@p", used=U2_SEEN + HOUR,
              evidence={"privileged_entitlement": "gcp:projects/p#roles/owner"}),
        # A role its creator left behind, assumed 3 days after; a workload's role whose
        # owner left, 2 days after.
        alert("t1", "trust_path_of_leaver", "high", "E00006", "human", "aws", T1_LEFT,
              account=ROLE, used=T1_ASSUMED,
              evidence=trust_evidence("created by the leaver", "aws:111122223333:user/e6",
                                      "aws:111122223333:user/bob", "aws:111122223333:user/e6")),
        alert("t2", "trust_path_of_leaver", "high", "svc-build", "nhi", "gcp", T2_LEFT,
              account=SA, used=T2_ASSUMED,
              evidence=trust_evidence("held by a workload whose owner left", "E00008",
                                      "gcp:carol@corp", None)),
        # Another kind: never hygiene.
        alert("x1", "used_after_deprovision", "critical", "E00009", "human", "aws", W - DAY,
              account="aws:111122223333:user/x", used=W - HOUR),
    ]  # fmt: skip


def claims() -> list[tuple[Any, ...]]:
    ghost = "aws:111122223333:user/ghost"
    return [
        ("gcp:admin@p", "account", "gcp", "E00007", "nhi", True, "link", "link", None,
         W - 2 * HOUR, W - HOUR),
        (ghost, "account", "aws", ghost, "human", False, "fallback", "fallback", None, None,
         W - HOUR),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    database = ClickHouse(
        f"chdb://{tmp_path_factory.mktemp('hygiene') / 'clickhouse'}", "accessdrift"
    )
    migrate(database)
    spec = ALL_TABLES["Alert"]
    # A row per insert: the versions of one alert land in parts of their own, as the
    # sink writes them, and only FINAL folds them.
    for index, record in enumerate(alerts()):
        database.insert(spec.table, to_columns(spec, [record]), f"alerts:{index}")
    directory = "event_id event_time source identity_id identity_kind change_type accounts "
    directory += "owner_id attributes email"
    database.insert(
        "directory_changes",
        Columns.from_rows(
            directory.split(), [("d1", W, "hr", "E00009", "human", "leaver", [], None, {}, None)]
        ),
        "directory:1",
    )
    # u2 was claimed since by E00007 (a link arrived); u1 is still nobody's.
    ownership = "subject subject_kind system identity_id identity_kind correlated claim "
    ownership += "claim_source parent_id claimed_at resolved_at"
    database.insert("ownership", Columns.from_rows(ownership.split(), claims()), "ownership:1")
    yield database
    database.close()


def run(clickhouse: ClickHouse, sql: str) -> Rows:
    result = clickhouse.query(sql)  # read-only, through the analysts' guard
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


# -- The views --------------------------------------------------------------------------


def test_the_sink_writes_resolved_at_and_final_keeps_the_resolved_version(
    clickhouse: ClickHouse,
) -> None:
    # (Without FINAL the engine may have merged the two parts already: not asserted.)
    final = run(clickhouse, "SELECT resolved_at FROM alerts FINAL WHERE alert_id = 's2'")
    assert final == [{"resolved_at": S2_RESOLVED}]


def test_stale_credentials_is_one_row_per_stale_alert_in_its_latest_version(
    clickhouse: ClickHouse,
) -> None:
    rows = run(clickhouse, "SELECT * FROM stale_credentials ORDER BY alert_id")
    found = [
        (row["alert_id"], row["kind"], row["subject_kind"], row["subject"], row["system"],
         row["days_stale"], row["open"], row["resolved_at"])
        for row in rows
    ]  # fmt: skip
    assert found == [
        ("s1", "stale_credential", "credential", "aws:AKIAOLD", "aws", 120, True, None),
        ("s2", "stale_account", "account", "okta:u2", "okta", 95, False, S2_RESOLVED),
        ("s3", "stale_credential", "credential", "gcp:key/old", "gcp", 400, True, None),
    ]
    s1 = rows[0]
    assert (s1["since"], s1["stale_at"]) == (S1_SINCE, S1_SINCE + 90 * DAY)
    assert (s1["identity_id"], s1["identity_kind"], s1["account_id"]) == (
        "svc-ci",
        "nhi",
        "aws:111122223333:user/ci",
    )
    assert rows[1]["credential_id"] is None and rows[1]["account_id"] == "okta:u2"


def test_credential_hygiene_counts_by_kind_system_and_age(clickhouse: ClickHouse) -> None:
    rows = run(
        clickhouse,
        "SELECT kind, system, identity_kind, age_bucket, age_from_days, open, resolved, alerts "
        "FROM credential_hygiene ORDER BY kind, system, age_from_days",
    )
    assert [tuple(row.values()) for row in rows] == [
        ("rotation_overdue", "aws", "nhi", "180-365d", 180, 1, 0, 1),
        ("shared_credential", "aws", "nhi", "< 30d", 0, 1, 0, 1),
        ("shared_credential", "okta", "human", "30-90d", 30, 1, 0, 1),
        # Its age runs to its resolution: 95 days unused.
        ("stale_account", "okta", "human", "90-180d", 90, 0, 1, 1),
        ("stale_credential", "aws", "nhi", "90-180d", 90, 1, 0, 1),
        ("stale_credential", "gcp", "human", "365d+", 365, 1, 0, 1),
        # Their age runs from the leaver's T0.
        ("trust_path_of_leaver", "aws", "human", "30-90d", 30, 1, 0, 1),
        ("trust_path_of_leaver", "gcp", "nhi", "< 30d", 0, 1, 0, 1),
        ("uncorrelated_account_active", "aws", "human", "30-90d", 30, 1, 0, 1),
        ("uncorrelated_account_active", "gcp", "nhi", "< 30d", 0, 1, 0, 1),
    ]


def test_shared_credentials_name_both_parties(clickhouse: ClickHouse) -> None:
    rows = run(clickhouse, "SELECT * FROM shared_credentials ORDER BY alert_id")
    assert [
        (row["subject"], row["how"], row["first_party"], row["second_party"],
         row["first_at"], row["second_at"], row["seconds_apart"])
        for row in rows
    ] == [
        ("aws:AKIASHARED", "uses", "aws:111122223333:user/ci", "aws:111122223333:user/alice",
         H1_FIRST, H1_FIRST + 3 * HOUR, 3 * 3600.0),
        ("okta:shared", "links", "E00004", "E00005", H2_FIRST, H2_FIRST + HOUR, 3600.0),
    ]  # fmt: skip


def test_uncorrelated_accounts_in_use_say_who_claims_them_now(clickhouse: ClickHouse) -> None:
    rows = run(clickhouse, "SELECT * FROM uncorrelated_accounts_in_use ORDER BY alert_id")
    assert [
        (row["account_id"], row["system"], row["first_seen"], row["seconds_after_first_seen"],
         row["privileged_entitlement"], row["privileged"], row["still_unclaimed"],
         row["claimed_by"])
        for row in rows
    ] == [
        ("aws:111122223333:user/ghost", "aws", U1_SEEN, 10 * 86400.0, None, False, True, None),
        ("gcp:admin@p", "gcp", U2_SEEN, 3600.0, "gcp:projects/p#roles/owner", True, False,
         "E00007"),
    ]  # fmt: skip


# -- docs/hygiene.md ----------------------------------------------------------------------


def test_every_question_of_the_doc_has_its_check_here() -> None:
    assert set(doc_questions()) == {
        "stale-now",
        "stale-resolved",
        "hygiene-by-system-and-age",
        "rotation-overdue",
        "shared",
        "uncorrelated-in-use",
    }


def test_the_docs_questions_answer(clickhouse: ClickHouse) -> None:
    sql = doc_questions()
    stale = run(clickhouse, sql["stale-now"])
    assert [(row["subject"], row["days_stale"]) for row in stale] == [
        ("gcp:key/old", 400),
        ("aws:AKIAOLD", 120),
    ]
    resolved = run(clickhouse, sql["stale-resolved"])
    assert [(row["subject"], row["resolved_at"], row["days_stale"]) for row in resolved] == [
        ("okta:u2", S2_RESOLVED, 95)
    ]
    counts = run(clickhouse, sql["hygiene-by-system-and-age"])
    assert [tuple(row.values()) for row in counts] == [
        ("aws", "rotation_overdue", "180-365d", 1, 0),
        ("aws", "shared_credential", "< 30d", 1, 0),
        ("aws", "stale_credential", "90-180d", 1, 0),
        ("aws", "trust_path_of_leaver", "30-90d", 1, 0),
        ("aws", "uncorrelated_account_active", "30-90d", 1, 0),
        ("gcp", "stale_credential", "365d+", 1, 0),
        ("gcp", "trust_path_of_leaver", "< 30d", 1, 0),
        ("gcp", "uncorrelated_account_active", "< 30d", 1, 0),
        ("okta", "shared_credential", "30-90d", 1, 0),
        ("okta", "stale_account", "90-180d", 0, 1),
    ]
    (rotation,) = run(clickhouse, sql["rotation-overdue"])
    assert (rotation["credential_id"], rotation["created_at"], rotation["used_at"]) == (
        "aws:AKIAROT",
        CREATED,
        OVERDUE_USE,
    )
    assert rotation["age_days_at_use"] == 190
    assert rotation["privileged_entitlement"] == "aws:policy/AdministratorAccess"
    shared = run(clickhouse, sql["shared"])
    assert [(row["subject"], row["how"]) for row in shared] == [
        ("aws:AKIASHARED", "uses"),
        ("okta:shared", "links"),
    ]
    unowned = run(clickhouse, sql["uncorrelated-in-use"])
    assert [(row["account_id"], row["still_unclaimed"]) for row in unowned] == [
        ("aws:111122223333:user/ghost", True),
        ("gcp:admin@p", False),
    ]


# -- The built-in dashboard --------------------------------------------------------------


def test_the_dashboard_counts_and_lists_the_hygiene_findings(clickhouse: ClickHouse) -> None:
    data = collect_dashboard(lambda sql: clickhouse.query(sql))
    assert data.hygiene_totals == HygieneTotals(
        stale=2, stale_resolved=1, rotation=1, shared=2, uncorrelated=2, trust=2
    )
    # The most open findings first; okta's only stale one is resolved.
    assert data.hygiene_by_system == (
        HygieneCounts("aws", stale=1, rotation=1, shared=1, uncorrelated=1, trust=1),
        HygieneCounts("gcp", stale=1, rotation=0, shared=0, uncorrelated=1, trust=1),
        HygieneCounts("okta", stale=0, rotation=0, shared=1, uncorrelated=0, trust=0),
    )
    assert data.hygiene_by_age == (
        HygieneCounts("< 30d", stale=0, rotation=0, shared=1, uncorrelated=1, trust=1),
        HygieneCounts("30-90d", stale=0, rotation=0, shared=1, uncorrelated=1, trust=1),
        HygieneCounts("90-180d", stale=1, rotation=0, shared=0, uncorrelated=0, trust=0),
        HygieneCounts("180-365d", stale=0, rotation=1, shared=0, uncorrelated=0, trust=0),
        HygieneCounts("365d+", stale=1, rotation=0, shared=0, uncorrelated=0, trust=0),
    )
    oldest = [
        (item.kind, item.subject, item.age_seconds // 86400) for item in data.hygiene_findings
    ]
    assert oldest == [
        ("stale_credential", "gcp:key/old", 400),
        ("rotation_overdue", "aws:AKIAROT", 200),
        ("stale_credential", "aws:AKIAOLD", 120),
        ("trust_path_of_leaver", ROLE, 45),
        ("shared_credential", "okta:shared", 40),
        ("uncorrelated_account_active", "aws:111122223333:user/ghost", 30),
        ("trust_path_of_leaver", SA, 3),
        ("shared_credential", "aws:AKIASHARED", 2),
        ("uncorrelated_account_active", "gcp:admin@p", 1),
    ]
    details = {item.subject: item.detail for item in data.hygiene_findings}
    assert details["aws:AKIAROT"] == "created 200d ago, used at 190d old"
    assert details["aws:AKIASHARED"] == "two parties 3h apart (2026-05-30 03:00 UTC)"
    assert details[ROLE] == "assumed 3d after its owner left (2026-04-20 00:00 UTC)"


# -- The Grafana credential hygiene dashboard ----------------------------------------------


def grafana_rows(clickhouse: ClickHouse, selection: dict[str, list[str]]) -> dict[str, Rows]:
    board = json.loads(dashboards.render(dashboards.hygiene_dashboard().build()))
    ctx = QueryContext(W - 500 * DAY, W + DAY, timedelta(days=1))
    options = {"system": ["aws", "gcp", "okta"], "identity_kind": ["human", "nhi"]}
    variables = {
        name: Variable(name, selection.get(name, ALL), values) for name, values in options.items()
    }
    found: dict[str, Rows] = {}
    for panel in board["panels"]:
        (target,) = panel["targets"]
        assert panel["title"] not in found, panel["title"]
        found[panel["title"]] = run(clickhouse, render(target["rawSql"], ctx, variables))
    return found


def test_the_grafana_panels_answer(clickhouse: ClickHouse) -> None:
    panels = grafana_rows(clickhouse, {})
    assert panels["Unused credentials and accounts, open now"] == [{"open_stale": 2}]
    assert panels["Overdue keys used"] == [{"overdue": 1}]
    assert panels["Credentials shared"] == [{"shared": 2}]
    assert panels["Unowned accounts used"] == [{"uncorrelated": 2}]
    assert panels["Roles assumed after their owner left"] == [{"outlived": 2}]
    series = {
        (row["time"], row["finding"]): row["alerts"]
        for row in panels["Credential hygiene findings"]
    }

    def day(at: datetime) -> datetime:  # the panel's bucket ($__timeInterval, 1 d here)
        return at.replace(hour=0, minute=0, second=0, microsecond=0)

    assert series == {
        (day(S3_SINCE + 90 * DAY), "gcp stale credential"): 1,
        (day(S2_SINCE + 90 * DAY), "okta stale account"): 1,
        (day(S1_SINCE + 90 * DAY), "aws stale credential"): 1,
        (day(OVERDUE_USE), "aws rotation overdue"): 1,
        (day(H1_FIRST + 3 * HOUR), "aws shared credential"): 1,
        (day(H2_FIRST + HOUR), "okta shared credential"): 1,
        (day(U1_SEEN + 10 * DAY), "aws uncorrelated account active"): 1,
        (day(U2_SEEN + HOUR), "gcp uncorrelated account active"): 1,
        (day(T1_ASSUMED), "aws trust path of leaver"): 1,
        (day(T2_ASSUMED), "gcp trust path of leaver"): 1,
    }
    by_age = panels["Open findings by system and age"]
    assert [(row["system"], row["age"], row["unused"], row["unused_resolved"]) for row in by_age][
        -1
    ] == ("okta", "90-180d", 0, 1)
    assert sum(row["uncorrelated_in_use"] for row in by_age) == 2
    assert [(row["system"], row["age"]) for row in by_age if row["outlived_owner"]] == [
        ("aws", "30-90d"),
        ("gcp", "< 30d"),
    ]
    stale = panels["Unused credentials and accounts"]
    assert [(row["subject"], row["open"]) for row in stale] == [
        ("gcp:key/old", True),
        ("aws:AKIAOLD", True),
        ("okta:u2", False),  # resolved in the range
    ]
    (rotation,) = panels["Keys used past their rotation age"]
    assert rotation["age_at_use_seconds"] == 190 * 86400.0
    assert [row["how"] for row in panels["Shared credentials"]] == ["uses", "links"]
    unowned = panels["Uncorrelated accounts in use"]
    assert [(row["account_id"], row["claimed_by"]) for row in unowned] == [
        ("aws:111122223333:user/ghost", None),
        ("gcp:admin@p", "E00007"),
    ]
    outlived = panels["Roles that outlived their owners"]
    assert [
        (row["role"], row["path"], row["leaver"], row["left_at"], row["assumed_at"],
         row["seconds_after"], row["assumed_by"], row["with_credential"], row["assumed_from"],
         row["created_by"])
        for row in outlived
    ] == [
        (SA, "held by a workload whose owner left", "E00008", T2_LEFT, T2_ASSUMED, 2 * 86400.0,
         "gcp:carol@corp", "gcp:carol@corp/key", "203.0.113.8", ""),
        (ROLE, "created by the leaver", "aws:111122223333:user/e6", T1_LEFT, T1_ASSUMED,
         3 * 86400.0, "aws:111122223333:user/bob", "aws:111122223333:user/bob/key",
         "203.0.113.8", "aws:111122223333:user/e6"),
    ]  # fmt: skip
    for title in (
        "Keys used past their rotation age",
        "Uncorrelated accounts in use",
        "Roles that outlived their owners",
    ):
        assert panels[title] and all("severity" in row for row in panels[title])


def test_the_grafana_panels_narrow_to_a_system_and_a_kind(clickhouse: ClickHouse) -> None:
    okta = grafana_rows(clickhouse, {"system": ["okta"]})
    assert okta["Unused credentials and accounts, open now"] == [{"open_stale": 0}]
    assert [row["subject"] for row in okta["Unused credentials and accounts"]] == ["okta:u2"]
    assert okta["Keys used past their rotation age"] == []
    assert okta["Overdue keys used"] == [{"overdue": 0}]
    assert okta["Credentials shared"] == [{"shared": 1}]
    assert okta["Roles assumed after their owner left"] == [{"outlived": 0}]
    assert okta["Roles that outlived their owners"] == []
    people = grafana_rows(clickhouse, {"identity_kind": ["human"]})
    assert [row["subject"] for row in people["Shared credentials"]] == ["okta:shared"]
    assert [row["account_id"] for row in people["Uncorrelated accounts in use"]] == [
        "aws:111122223333:user/ghost"
    ]
    assert [row["role"] for row in people["Roles that outlived their owners"]] == [ROLE]
