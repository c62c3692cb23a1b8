"""The dashboard's charts and page on plain data: escaped, self-contained, never crashing."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from accessdrift.dashboard import STATEMENTS, assemble, collect_dashboard, render_dashboard
from accessdrift.dashboard.data import (
    ChangeTypeLag,
    Compliance,
    Counts,
    DashboardData,
    DriftBySystem,
    DriftFinding,
    DriftTotals,
    Finding,
    HygieneCounts,
    HygieneFinding,
    HygieneTotals,
    Point,
    Series,
    Threshold,
    duration,
)
from accessdrift.dashboard.page import evidence_path, render_error
from accessdrift.dashboard.svg import (
    Line,
    LineSeries,
    bar_chart,
    duration_ticks,
    line_chart,
    nice_ticks,
)
from accessdrift.sinks.clickhouse import QueryResult

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "a'b\"c&d",
    "../../stats/?x=1#y",
]


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(markup)
    return parser.tags


def hours(count: int) -> list[datetime]:
    return [T0 + timedelta(hours=index) for index in range(count)]


def full_data(identity: str = "E1", name: str = "aws") -> DashboardData:
    return DashboardData(
        bucket="hour",
        latency=(
            Series(
                f"{name} p50", tuple(Point(at, 60.0 * (i + 1)) for i, at in enumerate(hours(3)))
            ),
            Series(f"{name} p95", tuple(Point(at, 600.0) for at in hours(3))),
        ),
        sla=(Threshold(f"SLA {name}", 86400.0),),
        compliance=(Compliance(name, due=4, within_sla=3, late=1, still_open=0),),
        by_change_type=(
            ChangeTypeLag("joiner", 2, 30.0, 90.0),
            ChangeTypeLag("leaver", 3, None, 7200.0),
        ),
        uses=(Series("used_after_deprovision", tuple(Point(at, 2.0) for at in hours(4))),),
        counts=Counts(open_overdue=2, credentials_used=1, orphaned_nhis=1, uncorrelated_accounts=3),
        findings=(
            Finding(
                "used_after_deprovision",
                "critical",
                identity,
                "human",
                name,
                f"aws:{identity}",
                T0,
                "2 uses",
                2.0,
            ),
            Finding(
                "deprovision_overdue", "high", identity, "human", name, "okta:1", T0, "overdue", 5.0
            ),
        ),
        findings_total=2,
        watermark=T0 + timedelta(days=1),
        drift_totals=DriftTotals(
            granted=3, granted_privileged=1, retained=2, retained_privileged=0
        ),
        drift_by_system=(DriftBySystem(name, 1, 2, 0, 2),),
        drift_findings=(
            DriftFinding(
                "granted_after_deprovision",
                "critical",
                identity,
                "human",
                name,
                f"{name}:{identity}",
                f"{name}:policy/{identity}",
                True,
                T0 + timedelta(hours=5),
                "5h after leaving",
            ),
        ),
        hygiene_totals=HygieneTotals(
            stale=4, stale_resolved=2, rotation=1, shared=1, uncorrelated=0, trust=1
        ),
        hygiene_by_system=(HygieneCounts(name, 4, 1, 1, 0, 1),),
        hygiene_by_age=(
            HygieneCounts("90-180d", 4, 0, 0, 0, 0),
            HygieneCounts("< 30d", 0, 1, 1, 0, 1),
        ),
        hygiene_findings=(
            HygieneFinding(
                "stale_credential",
                "medium",
                identity,
                "nhi",
                name,
                f"{name}:key/{identity}",
                T0 - timedelta(days=120),
                120 * 86400.0,
                "unused for 120d",
            ),
        ),
    )


def test_a_line_chart_draws_a_point_per_value_with_its_series() -> None:
    chart = line_chart(
        "lag",
        "latency-chart",
        [
            LineSeries("aws p50", [(at, 10.0) for at in hours(3)]),
            LineSeries("gcp p50", [(T0, 5.0)]),
        ],
        lines=[Line("SLA aws", 30.0)],
    )
    points = [attrs for tag, attrs in parsed(chart) if tag == "circle"]
    assert len(points) == 4 and all(attrs["class"] == "point" for attrs in points)
    assert sorted(str(attrs["data-series"]) for attrs in points) == ["aws p50"] * 3 + ["gcp p50"]
    assert chart.count('class="threshold"') == 1 and "SLA aws" in chart
    assert chart.count('class="tick"') >= 5  # the axes carry labels
    assert not re.search(r"=\"-?(nan|inf)", chart)


def test_a_bar_chart_skips_missing_values() -> None:
    chart = bar_chart(
        "lag", "bars", ["joiner", "leaver"], [("p50", [1.0, None]), ("p95", [2.0, 3.0])]
    )
    bars = [attrs for tag, attrs in parsed(chart) if tag == "rect"]
    assert len(bars) == 3 and {attrs["data-series"] for attrs in bars} == {"p50", "p95"}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_are_text_in_charts(hostile: str) -> None:
    chart = line_chart(
        "t" + hostile, "c", [LineSeries(hostile, [(T0, 1.0)])], lines=[Line(hostile, 2.0)]
    )
    chart += bar_chart(hostile, "b", [hostile], [(hostile, [1.0])])
    tags = parsed(chart)
    assert {tag for tag, _ in tags} <= {
        "svg",
        "title",
        "text",
        "line",
        "path",
        "circle",
        "rect",
        "g",
    }
    assert all(not name.startswith("on") for _, attrs in tags for name in attrs)
    assert "<script" not in chart and "<img" not in chart
    assert [attrs["data-series"] for tag, attrs in tags if tag == "circle"] == [hostile]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_are_escaped_and_links_quoted_on_the_page(hostile: str) -> None:
    page = render_dashboard(full_data(identity=hostile, name=hostile), evidence_path)
    tags = parsed(page)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert all(not name.startswith("on") for _, attrs in tags for name in attrs)
    links = [
        attrs["href"] for tag, attrs in tags if tag == "a" and attrs.get("class") == "identity"
    ]
    # The open findings' two rows, the entitlement drift and the hygiene finding.
    assert links == [f"/evidence/{quote(hostile, safe='')}"] * 4
    assert all(
        link is not None and link.startswith("/evidence/") and "/" not in link[10:]
        for link in links
    )


def test_a_link_that_is_not_a_path_on_the_worker_is_not_made() -> None:
    page = render_dashboard(
        full_data(identity="E1"), lambda identity: f"javascript:go('{identity}')"
    )
    assert "javascript:" not in page and 'class="identity"' not in page
    assert ">E1<" in page


def test_the_page_is_self_contained() -> None:
    page = render_dashboard(full_data(), evidence_path)
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("://", "")
    assert "<script" not in page and "@import" not in page and "url(" not in page
    for tag, attrs in parsed(page):
        for name in ("src", "href", "action", "srcset"):
            value = attrs.get(name)
            here = value is not None and value.startswith("/") and not value.startswith("//")
            assert value is None or here or value == "data:,", (tag, name, value)
    assert '<meta http-equiv="refresh" content="30">' in page
    assert page.count('class="point"') == 3 + 3 + 4
    assert 'id="counter-open-overdue"' in page and ">2<" in page


def test_empty_data_renders_no_data() -> None:
    page = render_dashboard(DashboardData(bucket="hour"), evidence_path)
    # Seven charts, the findings table, the entitlement drift and the hygiene tables.
    assert page.count("no data") == 10
    assert 'class="point"' not in page and "<table id='findings'" not in page
    assert "<table id='drift-findings'" not in page and 'id="drift-empty"' in page
    assert "<table id='hygiene-findings'" not in page and 'id="hygiene-empty"' in page
    assert "<table id='hygiene-system-table'" not in page
    assert "no events yet" in page


def test_an_error_page_escapes_its_message() -> None:
    page = render_error(502, "ClickHouse <down>", "Code: 1. <script>x</script>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "ClickHouse &lt;down&gt;" in page


def test_ticks_are_round() -> None:
    assert nice_ticks(7.0) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert duration_ticks(80000) == [0.0, 21600.0, 43200.0, 64800.0, 86400.0]
    assert nice_ticks(0.0) == [0.0, 1.0]
    assert [duration(value) for value in (5, 90, 3600, 93784, 2.5)] == [
        "5s",
        "1m 30s",
        "1h",
        "1d 2h",
        "2.5s",
    ]


def test_assemble_turns_results_into_typed_data_worst_finding_first() -> None:
    def result(columns: str, *rows: tuple[object, ...]) -> QueryResult:
        return QueryResult(columns.split(), list(rows))

    results = {name: result("x") for name in STATEMENTS}
    results.update(
        latency_hourly=result(
            "system bucket pairs p50 p95",
            ("aws", T0, 2, 30.0, 60.0),
            ("aws", T0 + timedelta(hours=1), 1, 40.0, None),
        ),
        sla_by_system=result("system sla_seconds", ("aws", 86400.0), ("gcp", 86400.0)),
        uses_hourly=result(
            "kind bucket uses",
            ("used_after_deprovision", T0, 2),
            ("used_after_deprovision", T0 + timedelta(hours=3), 1),
        ),
        counts=result(
            "open_overdue credentials_used orphaned_nhis uncorrelated_accounts", (1, 1, 1, 0)
        ),
        watermark=result("watermark", (datetime(1970, 1, 1, tzinfo=UTC),)),
        overdue=result(
            "identity_id identity_kind system subject subject_kind due_at seconds_overdue",
            ("E2", "human", "okta", "okta:1", "account", T0, 3600),
        ),
        used=result(
            "identity_id identity_kind system subject kind first_use last_use uses",
            ("E1", "human", "aws", "aws:AKIA1", "used_after_deprovision", T0, T0, 3),
        ),
        orphaned=result(
            "identity_id identity_kind system subject severity deprovisioned_at",
            ("N1", "nhi", "", "gcp:sa", "medium", T0),
        ),
    )
    data = assemble(results)
    assert data.bucket == "hour" and data.watermark is None
    assert [item.name for item in data.latency] == ["aws p50", "aws p95"]
    assert [len(item.points) for item in data.latency] == [2, 1]  # a null p95 is no point
    assert data.sla == (Threshold("SLA aws, gcp", 86400.0),)
    assert [point.value for point in data.uses[0].points] == [2.0, 0.0, 0.0, 1.0]  # zero-filled
    assert [item.identity_id for item in data.findings] == ["E1", "E2", "N1"]
    assert data.counts == Counts(1, 1, 1, 0)


def test_collect_dashboard_runs_every_statement_once() -> None:
    asked: list[str] = []

    def query(sql: str) -> QueryResult:
        asked.append(sql)
        return QueryResult([], [])

    data = collect_dashboard(query)
    assert sorted(asked) == sorted(STATEMENTS.values())
    assert data.findings == () and re.search(r"\bFINAL\b", STATEMENTS["latency_hourly"])


def test_the_entitlement_drift_section_shows_counts_per_system_and_the_latest() -> None:
    page = render_dashboard(full_data(), evidence_path)
    section = page.split('<section id="entitlement-drift">')[1]
    section = section.split('<section id="credential-hygiene">')[0]
    assert "3 granted after deprovisioning (1 privileged)" in section
    assert "2 kept after a move past the mover SLA (0 privileged)" in section
    tags = parsed(section)
    bars = [attrs for tag, attrs in tags if tag == "rect" and attrs.get("class") == "bar"]
    # One bar per series of the one system, a zero drawn as a zero: four.
    assert [attrs["data-category"] for attrs in bars] == ["aws"] * 4
    assert "<td>aws</td><td class='number'>1</td><td class='number'>2</td>" in section
    rows = [attrs for tag, attrs in tags if tag == "tr" and attrs.get("class") == "drift-finding"]
    assert [attrs["data-kind"] for attrs in rows] == ["granted_after_deprovision"]
    assert "<code>aws:policy/E1</code>" in section and "<td>yes</td>" in section
    assert "2026-03-02 14:00 UTC" in section and "5h after leaving" in section
    assert "the latest 1 of 5." in section  # the totals count what the table leaves out


def test_every_drift_finding_shown_needs_no_count() -> None:
    data = full_data()
    one = DashboardData(
        bucket=data.bucket,
        drift_totals=DriftTotals(granted=1, granted_privileged=1),
        drift_findings=data.drift_findings,
    )
    page = render_dashboard(one, evidence_path)
    assert " of 1." not in page and page.count('class="drift-finding"') == 1


def test_assemble_reads_the_entitlement_drift() -> None:
    def result(columns: str, *rows: tuple[object, ...]) -> QueryResult:
        return QueryResult(columns.split(), list(rows))

    latest = "kind severity identity_id identity_kind system account_id entitlement privileged"
    latest += " at changed_at seconds_after revoked_at"
    later, revoked = T0 + timedelta(days=2), T0 + timedelta(days=8)
    deadline = T0 + timedelta(days=7)
    rows = [
        ("granted_after_deprovision", "critical", "E1", "human", "okta", "okta:u1",
         "okta:admin/SUPER_ADMIN", True, later, T0, 172800.0, None),
        ("mover_access_retained", "high", "E2", "human", "aws", "aws:1:user/b",
         "aws:policy/AdministratorAccess", 1, deadline, T0, None, None),
        ("mover_access_retained", "medium", "E3", "human", "aws", "aws:1:user/c",
         "aws:group/dev", 0, deadline, T0, None, revoked),
        ("granted_after_deprovision", "high", "E4", "nhi", "gcp", "gcp:sa", "gcp:key/1",
         False, None, T0, None, None),
    ]  # fmt: skip
    results = {name: result("x") for name in STATEMENTS}
    results.update(
        drift_totals=result(
            "granted granted_privileged retained retained_privileged", (4, 1, 2, 2)
        ),
        drift_by_system=result(
            "system granted_privileged granted_other retained_privileged retained_other",
            ("okta", 1, 3, 0, 0),
            ("aws", 0, 0, 2, 0),
        ),
        drift_latest=result(latest, *rows),
    )
    data = assemble(results)
    assert data.drift_totals == DriftTotals(4, 1, 2, 2) and data.drift_totals.total == 6
    assert data.drift_by_system == (
        DriftBySystem("okta", 1, 3, 0, 0),
        DriftBySystem("aws", 0, 0, 2, 0),
    )
    first, second, third, fourth = data.drift_findings
    assert (first.privileged, first.at, first.detail) == (True, later, "2d after leaving")
    assert (second.privileged, second.detail) == (True, "moved 2026-03-02 09:00 UTC, still held")
    assert third.detail == "moved 2026-03-02 09:00 UTC, revoked 2026-03-10 09:00 UTC"
    assert not third.privileged
    assert (fourth.at, fourth.detail, fourth.identity_kind) == (None, "after leaving", "nhi")


def test_the_credential_hygiene_section_counts_per_system_and_age_and_lists_the_oldest() -> None:
    page = render_dashboard(full_data(), evidence_path)
    section = page.split('<section id="credential-hygiene">')[1]
    assert "4 unused but active (2 resolved since)" in section
    assert "1 used past their rotation age" in section and "1 shared" in section
    assert "0 unowned and in use" in section and "1 roles that outlived their owner" in section
    tags = parsed(section)
    bars = [attrs for tag, attrs in tags if tag == "rect" and attrs.get("class") == "bar"]
    # Per system: one system, five series; by age: two buckets, five series each.
    assert [attrs["data-category"] for attrs in bars] == ["aws"] * 5 + ["90-180d"] * 5 + [
        "< 30d"
    ] * 5
    assert [attrs["data-series"] for attrs in bars][:5] == [
        "unused",
        "rotation overdue",
        "shared",
        "uncorrelated",
        "outlived owner",
    ]
    number = "<td class='number'>{}</td>"
    system_row = "<td>aws</td>" + "".join(number.format(n) for n in (4, 1, 1, 0, 1)) + "</tr>"
    age_row = "<td>&lt; 30d</td>" + "".join(number.format(n) for n in (0, 1, 1, 0, 1)) + "</tr>"
    assert system_row in section and age_row in section
    assert "<th>uncorrelated in use</th><th>outlived owner</th></tr>" in section
    rows = [attrs for tag, attrs in tags if tag == "tr" and attrs.get("class") == "hygiene-finding"]
    assert [attrs["data-kind"] for attrs in rows] == ["stale_credential"]
    assert "<code>aws:key/E1</code>" in section and "unused for 120d" in section
    assert "2025-11-02 09:00 UTC" in section and "<td class='number'>120d</td>" in section
    assert "the oldest 1 of 7." in section  # the totals count what the table leaves out


def test_assemble_reads_the_credential_hygiene() -> None:
    def result(columns: str, *rows: tuple[object, ...]) -> QueryResult:
        return QueryResult(columns.split(), list(rows))

    day = 86400.0
    columns = "kind severity identity_id identity_kind system subject since used_at"
    columns += " seconds_after age_seconds"
    rows = [
        ("stale_account", "low", "E1", "human", "okta", "okta:u1", T0, None, None, 95 * day),
        ("rotation_overdue", "high", "N1", "nhi", "aws", "aws:AKIA1", T0,
         T0 + timedelta(days=91), 91 * day, 200 * day),
        ("shared_credential", "high", "E2", "human", "aws", "aws:AKIA2", T0,
         T0 + timedelta(hours=3), 3 * 3600.0, 2 * day),
        ("uncorrelated_account_active", "medium", "gcp:x@p", "nhi", "gcp", "gcp:x@p", T0,
         T0 + timedelta(days=9), 9 * day, 10 * day),
        ("shared_credential", "medium", "N2", "nhi", "vault", "vault:t", T0, None, None, None),
        ("trust_path_of_leaver", "high", "E3", "human", "aws", "aws:1:role/deploy", T0,
         T0 + timedelta(days=2), 2 * day, 3 * day),
        ("trust_path_of_leaver", "high", "N3", "nhi", "gcp", "gcp:sa@p", T0, None, None, day),
    ]  # fmt: skip
    counts = "stale rotation shared uncorrelated trust"
    totals = "stale stale_resolved rotation shared uncorrelated trust"
    results = {name: result("x") for name in STATEMENTS}
    results.update(
        hygiene_totals=result(totals, (3, 1, 1, 2, 1, 2)),
        hygiene_by_system=result(
            f"system {counts}", ("aws", 0, 1, 1, 0, 1), ("okta", 3, 0, 0, 0, 0)
        ),
        hygiene_by_age=result(f"age_bucket age_from_days {counts}", ("30-90d", 30, 0, 0, 1, 1, 2)),
        hygiene_open=result(columns, *rows),
    )
    data = assemble(results)
    assert data.hygiene_totals == HygieneTotals(3, 1, 1, 2, 1, 2)
    assert data.hygiene_totals.total == 9, "the stale ones resolved are not open"
    assert data.hygiene_by_system == (
        HygieneCounts("aws", 0, 1, 1, 0, 1),
        HygieneCounts("okta", 3, 0, 0, 0, 0),
    )
    assert data.hygiene_by_age == (HygieneCounts("30-90d", 0, 0, 1, 1, 2),)
    details = [item.detail for item in data.hygiene_findings]
    assert details == [
        "unused for 95d",
        "created 200d ago, used at 91d old",
        "two parties 3h apart (2026-03-02 12:00 UTC)",
        "used 9d after first seen, no identity claimed it (2026-03-11 09:00 UTC)",
        "two parties within the window",
        "assumed 2d after its owner left (2026-03-04 09:00 UTC)",
        "assumed after its owner left",
    ]
    assert [item.age_seconds for item in data.hygiene_findings][-3] == 0.0
