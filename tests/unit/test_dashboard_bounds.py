"""The dashboard's charts stay small whatever the event times (issue 23, item 7): two uses
400 years apart zero-filled a point per day between them, 438,000 points and a 78 MB
page rendered every 30 s."""

import re
from datetime import UTC, datetime, timedelta

from accessdrift.dashboard import STATEMENTS, assemble, render_dashboard
from accessdrift.dashboard.data import (
    CHART_WINDOW,
    DRIFT_FINDINGS_LIMIT,
    DRIFT_SYSTEMS_LIMIT,
    HOURLY_SPAN,
    HYGIENE_FINDINGS_LIMIT,
    HYGIENE_KINDS,
    HYGIENE_SYSTEMS_LIMIT,
)
from accessdrift.sinks.clickhouse import QueryResult

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FORGED = datetime(1626, 3, 2, 9, 0, tzinfo=UTC)  # 400 years back: no tolerance stops the past
# One series may hold a point per day of the window, or per hour of HOURLY_SPAN.
MOST_POINTS = max(CHART_WINDOW // timedelta(days=1), HOURLY_SPAN // timedelta(hours=1)) + 2


def result(columns: str, *rows: tuple[object, ...]) -> QueryResult:
    return QueryResult(columns.split(), list(rows))


def results_with(
    uses: list[tuple[str, datetime, int]], watermark: datetime | None
) -> dict[str, QueryResult]:
    def day(at: datetime) -> datetime:
        return at.replace(hour=0, minute=0, second=0, microsecond=0)

    def hour(at: datetime) -> datetime:
        return at.replace(minute=0, second=0, microsecond=0)

    results = {name: result("x") for name in STATEMENTS}
    results.update(
        uses_hourly=result("kind bucket uses", *((k, hour(at), n) for k, at, n in uses)),
        uses_daily=result("kind bucket uses", *((k, day(at), n) for k, at, n in uses)),
        latency_hourly=result(
            "system bucket pairs p50 p95", *(("aws", hour(at), 1, 60.0, 90.0) for _, at, _ in uses)
        ),
        latency_daily=result(
            "system bucket pairs p50 p95", *(("aws", day(at), 1, 60.0, 90.0) for _, at, _ in uses)
        ),
        watermark=result("watermark", (watermark or datetime(1970, 1, 1, tzinfo=UTC),)),
    )
    return results


def test_two_uses_four_hundred_years_apart_draw_a_bounded_chart() -> None:
    uses = [
        ("used_after_deprovision", FORGED, 1),
        ("used_after_revocation", FORGED, 1),
        ("used_after_deprovision", NOW - timedelta(hours=2), 3),
        ("used_after_revocation", NOW - timedelta(days=1), 2),
    ]
    data = assemble(results_with(uses, NOW))
    points = [point for series in data.uses + data.latency for point in series.points]
    assert all(len(series.points) <= MOST_POINTS for series in data.uses + data.latency)
    assert min(point.at for point in points) >= NOW - CHART_WINDOW - timedelta(days=1)
    page = render_dashboard(data, now=NOW)
    assert page.count('class="point"') <= 6 * MOST_POINTS
    assert len(page) < 200_000
    assert "1626" not in page.split("<table id='findings'")[0], "no axis label of the forgery"


def test_without_a_watermark_the_latest_point_ends_the_window() -> None:
    uses = [("used_after_deprovision", FORGED, 1), ("used_after_deprovision", NOW, 1)]
    data = assemble(results_with(uses, None))
    (series,) = data.uses
    assert [point.value for point in series.points] == [1.0]
    assert data.bucket == "hour"


def test_a_long_genuine_history_shows_its_last_days_by_the_day() -> None:
    uses = [("used_after_deprovision", NOW - timedelta(days=days), 1) for days in range(0, 400, 3)]
    data = assemble(results_with(uses, NOW))
    (series,) = data.uses
    assert data.bucket == "day" and len(series.points) <= MOST_POINTS
    assert series.points[-1].at == NOW.replace(hour=0)
    assert sum(point.value for point in series.points) == len(
        [u for u in uses if u[1] >= NOW - CHART_WINDOW]
    )


def test_the_statements_ask_clickhouse_for_the_window_only() -> None:
    for name in ("latency_hourly", "latency_daily", "uses_hourly", "uses_daily"):
        assert f"INTERVAL {CHART_WINDOW.days} DAY" in STATEMENTS[name], name


def finding(identity: str) -> tuple[object, ...]:
    """A row of the ``drift_latest`` statement."""
    return ("granted_after_deprovision", "high", identity, "human", "aws", "a", "e", False,
            NOW, NOW, 1.0, None)  # fmt: skip


def test_entitlement_drift_stays_within_its_limits() -> None:
    """A system's name comes from the logs: a forged one per event would draw a bar each
    and a row each. The statements ask for at most the limits, and ``assemble`` keeps to
    them whatever a result holds."""
    results = results_with([], NOW)
    results.update(
        drift_by_system=result(
            "system granted_privileged granted_other retained_privileged retained_other",
            *((f"forged{index}", 1, 1, 1, 1) for index in range(DRIFT_SYSTEMS_LIMIT * 50)),
        ),
        drift_latest=result(
            "kind severity identity_id identity_kind system account_id entitlement privileged"
            " at changed_at seconds_after revoked_at",
            *(finding(f"E{index}") for index in range(DRIFT_FINDINGS_LIMIT * 50)),
        ),
    )
    data = assemble(results)
    assert len(data.drift_by_system) == DRIFT_SYSTEMS_LIMIT
    assert len(data.drift_findings) == DRIFT_FINDINGS_LIMIT
    page = render_dashboard(data, now=NOW)
    assert page.count('class="drift-finding"') == DRIFT_FINDINGS_LIMIT
    assert page.count('class="bar" data-series="granted,') == 2 * DRIFT_SYSTEMS_LIMIT
    for name, limit in (
        ("drift_by_system", DRIFT_SYSTEMS_LIMIT),
        ("drift_latest", DRIFT_FINDINGS_LIMIT),
    ):
        assert STATEMENTS[name].rstrip().endswith(f"LIMIT {limit}"), name
    for name in ("drift_totals", "drift_by_system", "drift_latest"):
        assert re.search(r"FROM alerts FINAL\b", STATEMENTS[name]), name
        assert "access_retained_after_move" in STATEMENTS[name], name


def test_credential_hygiene_stays_within_its_limits() -> None:
    """The same bounds for the hygiene section: a forged system per event, or a million
    stale keys, never draw more than the limits."""
    results = results_with([], NOW)
    counts = "stale rotation shared uncorrelated trust"
    results.update(
        hygiene_by_system=result(
            f"system {counts}",
            *((f"forged{index}", 1, 1, 1, 1, 1) for index in range(HYGIENE_SYSTEMS_LIMIT * 50)),
        ),
        hygiene_open=result(
            "kind severity identity_id identity_kind system subject since used_at"
            " seconds_after age_seconds",
            *(
                ("stale_credential", "low", f"E{index}", "human", "aws", "k", NOW, None, None, 1.0)
                for index in range(HYGIENE_FINDINGS_LIMIT * 50)
            ),
        ),
    )
    data = assemble(results)
    assert len(data.hygiene_by_system) == HYGIENE_SYSTEMS_LIMIT
    assert len(data.hygiene_findings) == HYGIENE_FINDINGS_LIMIT
    page = render_dashboard(data, now=NOW)
    assert page.count('class="hygiene-finding"') == HYGIENE_FINDINGS_LIMIT
    assert page.count('class="bar" data-series="unused"') == HYGIENE_SYSTEMS_LIMIT
    assert STATEMENTS["hygiene_by_system"].rstrip().endswith(f"LIMIT {HYGIENE_SYSTEMS_LIMIT}")
    assert STATEMENTS["hygiene_open"].rstrip().endswith(f"LIMIT {HYGIENE_FINDINGS_LIMIT}")
    assert re.search(r"FROM alerts FINAL\b", STATEMENTS["hygiene_open"])
    for kind in HYGIENE_KINDS:
        assert f"'{kind}'" in STATEMENTS["hygiene_open"], kind
    for name in ("hygiene_totals", "hygiene_by_system", "hygiene_by_age"):
        assert "FROM credential_hygiene" in STATEMENTS[name], name
