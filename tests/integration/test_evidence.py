"""`accessdrift evidence` and `accessdrift report` on a simulated organisation in the
embedded engine, checked against the simulator's ground truth: every leaver shows
every downstream account and key with its lag and SLA status, and its alerts."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from accessdrift.errors import IdentityNotFound
from accessdrift.evidence import collect_evidence, to_html, to_markdown
from tests.helpers import REPO, free_port
from tests.org_database import OrgDatabase, build

SLA_SECONDS = 24 * 3600


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgDatabase]:
    database = build(tmp_path_factory.mktemp("evidence") / "clickhouse")
    yield database
    database.clickhouse.close()


def test_every_leaver_shows_each_system_it_had_to_reach_as_the_truth_says(
    org: OrgDatabase,
) -> None:
    leavers: dict[str, list[dict[str, object]]] = {}
    for lag in org.simulation.lags:
        if lag["change_type"] == "leaver":
            leavers.setdefault(str(lag["identity_id"]), []).append(lag)
    assert len(leavers) >= 5
    for identity, lags in leavers.items():
        evidence = collect_evidence(org.clickhouse.query, identity)
        (change,) = [c for c in evidence["changes"] if c["change_type"] == "leaver"]
        found = {(d["account_id"], d["credential_id"]): d for d in change["downstream"]}
        expected = {(lag["account_id"], lag["credential_id"]): lag for lag in lags}
        assert set(found) == set(expected), identity
        for key, lag in expected.items():
            entry = found[key]
            assert entry["status"] == lag["status"], (identity, key)
            if lag["status"] == "closed":
                assert abs(entry["lag_seconds"] - float(lag["lag_seconds"])) < 1e-3  # type: ignore[arg-type]
                assert entry["within_sla"] is (float(lag["lag_seconds"]) <= SLA_SECONDS)  # type: ignore[arg-type]
            else:
                assert entry["within_sla"] is None and entry["downstream_time"] is None
            assert entry["system"] == str(key[0]).split(":", 1)[0]
        truth_alerts = {
            (a["kind"], a["credential_id"] or a["account_id"])
            for a in org.simulation.alerts
            if a["identity_id"] == identity
        }
        assert {
            (a["kind"], a["credential_id"] or a["account_id"]) for a in evidence["alerts"]
        } == truth_alerts, identity
        assert all(
            c["downstream"] is None
            for c in evidence["changes"]
            if c["change_type"] in ("joiner", "mover")
        )


def test_an_unknown_identity_is_said_so_and_a_hostile_one_reaches_sql_as_text(
    org: OrgDatabase,
) -> None:
    for hostile in ("nobody", "x' OR 1=1 --", "x\\' OR 1=1 --", "E00014' UNION SELECT 1 --"):
        with pytest.raises(IdentityNotFound):
            collect_evidence(org.clickhouse.query, hostile)


def test_the_evidence_renders_for_an_auditor(org: OrgDatabase) -> None:
    leaver = next(lag["identity_id"] for lag in org.simulation.lags if lag["status"] == "overdue")
    evidence = collect_evidence(org.clickhouse.query, str(leaver))
    assert json.loads(json.dumps(evidence))["identity_id"] == leaver
    assert "NOT deprovisioned, past its SLA" in to_markdown(evidence)
    assert "NIST CSF 2.0 PR.AA-01" in to_html(evidence)


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


def test_the_commands_as_a_user_runs_them(org: OrgDatabase, tmp_path: Path) -> None:
    # Built in a process of its own: the embedded engine opens one folder per process,
    # and this one holds the module's already.
    database = tmp_path / "clickhouse"
    made = subprocess.run(
        [sys.executable, "-c", f"from pathlib import Path; from tests.org_database import build; "
         f"build(Path({str(database)!r})).clickhouse.close()"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    leaver = next(lag["identity_id"] for lag in org.simulation.lags if lag["status"] == "overdue")

    markdown = cli(database, tmp_path, "evidence", str(leaver), "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith(f"# Access evidence: {leaver}")
    assert "| system | account | credential | status |" in markdown.stdout

    unknown = cli(database, tmp_path, "evidence", "no-such-identity")
    assert unknown.returncode != 0 and unknown.stdout == ""
    assert unknown.stderr.strip().count("\n") == 0 and "no-such-identity" in unknown.stderr

    page = tmp_path / "report.html"
    report = cli(database, tmp_path, "report", "--since", "2026-03-01", "--until", "2026-03-06",
                 "-o", str(page))  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "SLA compliance per system" in page.read_text()
    figures = cli(database, tmp_path, "report", "--since", "2026-03-01", "--until", "2026-03-06",
                  "--format", "json")  # fmt: skip
    totals = json.loads(figures.stdout)["totals"]
    truth_leaver_pairs = [lag for lag in org.simulation.lags if lag["change_type"] == "leaver"]
    assert totals["pairs_due"] == len(truth_leaver_pairs)
    assert totals["within_sla"] == sum(
        1
        for lag in truth_leaver_pairs
        if lag["status"] == "closed" and float(lag["lag_seconds"]) <= SLA_SECONDS
    )
    naive = cli(
        database, tmp_path, "report", "--since", "2026-03-01T00:00:00", "--until", "2026-03-06"
    )
    assert naive.returncode != 0 and "time zone" in naive.stderr
