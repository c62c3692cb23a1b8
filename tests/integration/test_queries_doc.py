"""Every query in docs/queries.md, run on a simulated organisation in the embedded
engine, its answer checked against the simulator's ground truth (the truth's lags and
alerts, and its events where the truth has no list of its own).

A question of the file without a checker here fails the test: a new query is
documented and checked, or not shipped."""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import REPO
from tests.org_database import OrgDatabase, build

DOC = REPO / "docs" / "queries.md"
SLA = 24 * 3600.0
Rows = list[dict[str, Any]]


def questions() -> list[tuple[str, str, str]]:
    """(slug, question, sql) of each `###` section, in order."""
    found = []
    for section in DOC.read_text().split("\n### ")[1:]:
        heading, _, body = section.partition("\n")
        match = re.fullmatch(r"(.+?) \{#([a-z0-9-]+)\}", heading.strip())
        assert match, f"a question without a {{#slug}}: {heading!r}"
        blocks = re.findall(r"```sql\n(.*?)```", body, re.S)
        assert len(blocks) == 1, f"{match.group(2)}: one sql block, found {len(blocks)}"
        found.append((match.group(2), match.group(1), blocks[0]))
    return found


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgDatabase]:
    database = build(tmp_path_factory.mktemp("queries") / "clickhouse")
    yield database
    database.clickhouse.close()


def quantile(values: list[float], level: float) -> float:
    """ClickHouse's quantileExact: the element at floor(level * n) of the sorted values."""
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def subject(row: dict[str, Any]) -> Any:
    return row["credential_id"] or row["account_id"]


def leaver_lags(org: OrgDatabase) -> list[dict[str, Any]]:
    return [lag for lag in org.simulation.lags if lag["change_type"] == "leaver"]


def alerts_of(org: OrgDatabase, *kinds: str) -> list[dict[str, Any]]:
    return [alert for alert in org.simulation.alerts if alert["kind"] in kinds]


def system(account: str) -> str:
    return account.split(":", 1)[0]


def moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# -- one checker per question: the rows ClickHouse returned, against the truth ---------


def open_overdue(rows: Rows, org: OrgDatabase) -> None:
    expected = {(lag["identity_id"], lag["account_id"], lag["credential_id"]) for lag in leaver_lags(org) if lag["status"] == "overdue"}  # fmt: skip
    assert expected and {(r["identity_id"], r["account_id"], r["credential_id"]) for r in rows} == expected  # fmt: skip
    assert all(r["seconds_overdue"] > 0 for r in rows)


def access_after_leaving(rows: Rows, org: OrgDatabase) -> None:
    truth = {
        (lag["identity_id"], lag["account_id"], lag["credential_id"]): lag
        for lag in leaver_lags(org)
    }
    found = {(r["identity_id"], r["account_id"], r["credential_id"]): r for r in rows}
    assert set(found) == set(truth)
    for key, lag in truth.items():
        assert found[key]["status"] == lag["status"], key
        if lag["status"] == "closed":  # exposed as long as the lag, to the second
            assert abs(found[key]["exposed_seconds"] - lag["lag_seconds"]) <= 1, key
    exposures = [r["exposed_seconds"] for r in rows]
    assert exposures == sorted(exposures, reverse=True)


def uses_of(kind: str) -> Callable[[Rows, OrgDatabase], None]:
    def check(rows: Rows, org: OrgDatabase) -> None:
        truth = {(a["identity_id"], subject(a)): a for a in alerts_of(org, kind)}
        found = {(r["identity_id"], r["subject"]): r for r in rows}
        assert truth and set(found) == set(truth)
        for key, alert in truth.items():
            assert moment(found[key]["first_use"]) == moment(alert["used_at"]), key
            assert found[key]["uses"] >= 1 and found[key]["last_use"] >= found[key]["first_use"]

    return check


def lag_quantiles(group: Callable[[dict[str, Any]], str], only_leavers: bool) -> Callable[[Rows, OrgDatabase], None]:  # fmt: skip
    def check(rows: Rows, org: OrgDatabase) -> None:
        by: dict[str, list[float]] = {}
        for lag in org.simulation.lags:
            if lag["status"] == "closed" and (lag["change_type"] == "leaver" or not only_leavers):
                by.setdefault(group(lag), []).append(float(lag["lag_seconds"]))
        key = "system" if only_leavers else "change_type"
        found = {r[key]: r for r in rows}
        assert by and set(found) == set(by)
        for name, values in by.items():
            assert found[name]["closed"] == len(values), name
            assert abs(found[name]["p50_seconds"] - quantile(values, 0.5)) < 1e-6, name
            assert abs(found[name]["p95_seconds"] - quantile(values, 0.95)) < 1e-6, name

    return check


def sla_this_month(rows: Rows, org: OrgDatabase) -> None:
    # The simulated organisation lives in one month: all of it is "this month".
    due: Counter[str] = Counter()
    within: Counter[str] = Counter()
    for lag in leaver_lags(org):
        due[system(lag["account_id"])] += 1
        if lag["status"] == "closed" and lag["lag_seconds"] <= SLA:
            within[system(lag["account_id"])] += 1
    found = {r["system"]: r for r in rows}
    assert set(found) == set(due)
    for name in due:
        assert (found[name]["due_this_month"], found[name]["within_this_month"]) == (due[name], within[name]), name  # fmt: skip
        assert abs(found[name]["share_this_month"] - round(within[name] / due[name], 4)) < 1e-9
        assert found[name]["due_last_month"] == 0 and found[name]["share_last_month"] is None


def slowest_identities(rows: Rows, org: OrgDatabase) -> None:
    worst: dict[str, float] = {}
    for lag in org.simulation.lags:
        if lag["status"] == "closed":
            worst[lag["identity_id"]] = max(
                worst.get(lag["identity_id"], -1e18), lag["lag_seconds"]
            )
    expected = sorted(worst.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [(r["identity_id"], round(r["worst_lag_seconds"], 3)) for r in rows] == [
        (identity, round(value, 3)) for identity, value in expected
    ]


def every_system_reached(rows: Rows, org: OrgDatabase) -> None:
    pairs: Counter[str] = Counter()
    missing: dict[str, set[str]] = {}
    for lag in leaver_lags(org):
        pairs[lag["identity_id"]] += 1
        if lag["status"] == "overdue":
            missing.setdefault(lag["identity_id"], set()).add(system(lag["account_id"]))
    found = {r["identity_id"]: r for r in rows}
    assert set(found) == set(pairs)
    for identity, count in pairs.items():
        row = found[identity]
        assert row["pairs"] == count and row["reached"] + row["not_reached"] == count
        assert set(row["systems_not_reached"]) == missing.get(identity, set()), identity


def uncorrelated(rows: Rows, org: OrgDatabase) -> None:
    claimed: set[str] = set()
    acting_alone: set[str] = set()  # accounts that acted without a key
    for _, name, fields in org.simulation.events:
        if name == "DirectoryChange":
            claimed.update(fields.get("accounts") or [])
        elif name == "IdentityLink":
            claimed.update(v for v in (fields.get("account_id"), fields.get("credential_id")) if v)
        elif name == "CloudAuditEvent" and not fields.get("credential_id"):
            acting_alone.add(fields["account_id"])
    found = {r["account_id"] for r in rows}
    assert found, "the simulated organisation has unowned admin and provisioner accounts"
    assert not found & claimed, "nothing the directory or a link claims is uncorrelated"
    assert acting_alone - claimed <= found, "every unclaimed account seen acting is listed"


def orphaned_nhis(rows: Rows, org: OrgDatabase) -> None:
    truth = {a["identity_id"] for a in alerts_of(org, "orphaned_nhi")}
    assert truth and {r["identity_id"] for r in rows} == truth
    assert all(r["owner_id"] for r in rows)


def timeline(rows: Rows, org: OrgDatabase) -> None:
    alerts = {
        (a["kind"], subject(a)) for a in org.simulation.alerts if a["identity_id"] == "E00014"
    }
    assert {(r["what"], r["subject"]) for r in rows if r["entry"] == "alert"} == alerts
    assert [r["what"] for r in rows if r["entry"] == "directory_change"] == ["leaver"]
    closed = {lag["account_id"] for lag in leaver_lags(org) if lag["identity_id"] == "E00014" and lag["status"] == "closed" and not lag["credential_id"]}  # fmt: skip
    disabled = {r["subject"] for r in rows if r["entry"] == "downstream_change" and r["what"] in ("account_disabled", "account_deleted")}  # fmt: skip
    assert closed <= disabled
    times = [r["event_time"] for r in rows]
    assert times == sorted(times)


def top_source_ips(rows: Rows, org: OrgDatabase) -> None:
    # From the events: each success of a subject an alert names, from its first use on.
    raised = {subject(a): moment(a["used_at"]) for a in alerts_of(org, "used_after_deprovision", "used_after_revocation")}  # fmt: skip
    seen: dict[str, set[str]] = {}
    for _, name, fields in org.simulation.events:
        if (
            name != "CloudAuditEvent"
            or fields["outcome"] != "success"
            or not fields.get("source_ip")
        ):
            continue
        key = fields.get("credential_id") or fields["account_id"]
        if key in raised and fields["event_time"] >= raised[key]:
            seen.setdefault(fields["source_ip"], set()).add(fields["event_id"])
    assert seen and {r["source_ip"]: r["uses"] for r in rows} == {ip: len(ids) for ip, ids in seen.items()}  # fmt: skip


def alerts_by_kind(rows: Rows, org: OrgDatabase) -> None:
    found: Counter[str] = Counter()
    for row in rows:
        found[row["kind"]] += row["alerts"]
    assert found == Counter(a["kind"] for a in org.simulation.alerts)


def state_after_leaving(rows: Rows, org: OrgDatabase) -> None:
    truth = {(a["kind"], a["identity_id"], subject(a)) for a in alerts_of(org, "used_after_deprovision", "attempted_after_deprovision")}  # fmt: skip
    assert {(r["kind"], r["identity_id"], r["subject"]) for r in rows} == truth
    assert all(r["seconds_after_leaving"] >= 0 for r in rows)


CHECKS: dict[str, Callable[[Rows, OrgDatabase], None]] = {
    "open-overdue": open_overdue,
    "access-after-leaving": access_after_leaving,
    "used-after-deprovision": uses_of("used_after_deprovision"),
    "used-after-revocation": uses_of("used_after_revocation"),
    "slowest-systems": lag_quantiles(lambda lag: system(lag["account_id"]), only_leavers=True),
    "sla-this-month": sla_this_month,
    "lag-by-change-type": lag_quantiles(lambda lag: lag["change_type"], only_leavers=False),
    "slowest-identities": slowest_identities,
    "every-system-reached": every_system_reached,
    "uncorrelated": uncorrelated,
    "orphaned-nhis": orphaned_nhis,
    "timeline": timeline,
    "top-source-ips": top_source_ips,
    "alerts-by-kind": alerts_by_kind,
    "state-after-leaving": state_after_leaving,
}


def test_the_file_has_a_dozen_questions_each_with_a_checker() -> None:
    slugs = [slug for slug, _, _ in questions()]
    assert len(slugs) >= 12 and len(set(slugs)) == len(slugs)
    assert set(slugs) == set(CHECKS), "every question checked, every checker a question"


@pytest.mark.parametrize(("slug", "question", "sql"), questions(), ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None)  # fmt: skip
def test_each_answer_matches_the_ground_truth(
    org: OrgDatabase, slug: str, question: str, sql: str
) -> None:
    result = org.clickhouse.query(sql)  # the analysts' door: read-only, as documented
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    CHECKS[slug](rows, org)
