"""What the dashboard shows, read from the analyst views: named SQL statements and one
pure function, ``assemble``, that turns their results into typed dataclasses.

Sync callers (a ClickHouse client, a test's fake) use ``collect_dashboard``; the
worker's event loop uses ``collect_dashboard_async`` with ``await sink.query(sql)``.
Both run the same statements and the same ``assemble``. Every statement reads the
deduplicated tables (FINAL) or the views over them, so a replay never counts twice.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from accessdrift.sinks.clickhouse import QueryResult

# At most this many open findings on the page: the worst first, the rest counted.
FINDINGS_LIMIT = 200
# Hourly buckets while the data spans at most this long, daily beyond: a chart of a
# month in hours has more points than pixels.
HOURLY_SPAN = timedelta(days=4)
# The charts end at the latest event time and reach back at most this far (from the
# start of that day): a use forged 400 years back once zero-filled a point per day
# between it and today, 438,000 points and a 78 MB page every 30 s. With it a series
# has at most 97 points (hours of HOURLY_SPAN), or one a day of the window.
CHART_WINDOW = timedelta(days=90)
_SINCE = f"toStartOfDay((SELECT watermark FROM event_watermark) - INTERVAL {CHART_WINDOW.days} DAY)"
CHANGE_TYPES = ("joiner", "mover", "leaver", "suspend")
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
# Entitlement drift: the two kinds the access ledger raises, in the order shown.
GRANTED = "granted_after_deprovision"
RETAINED = "mover_access_retained"
# At most this many systems in the entitlement drift chart and table (those with the
# most findings first): a system's name comes from the logs, and a forged one per event
# would otherwise draw a bar each. The totals above them count every system.
DRIFT_SYSTEMS_LIMIT = 20
# The latest entitlement drift findings listed: a short table, the rest counted.
DRIFT_FINDINGS_LIMIT = 50
# Credential hygiene (docs/hygiene.md): the kinds, as the section groups them. The two
# stale kinds are one count: a person reads "unused", whether a key or an account.
STALE_KINDS = ("stale_credential", "stale_account")
ROTATION = "rotation_overdue"
SHARED = "shared_credential"
UNCORRELATED = "uncorrelated_account_active"
# Roles that outlived their owners: a role a leaver created, or held by a workload whose
# only owner left, assumed after the leaver's SLA.
TRUST = "trust_path_of_leaver"
HYGIENE_KINDS = (*STALE_KINDS, ROTATION, SHARED, UNCORRELATED, TRUST)
# As the drift's: systems come from the logs, so the chart and table keep to the ones
# with the most open findings; the totals count every system.
HYGIENE_SYSTEMS_LIMIT = 20
# Open hygiene findings listed, the oldest first; the rest counted.
HYGIENE_FINDINGS_LIMIT = 50

_LATENCY = """
SELECT system, {bucket}(source_time) AS bucket, count() AS pairs,
       quantileExact(0.5)(lag_seconds) AS p50, quantileExact(0.95)(lag_seconds) AS p95
FROM provisioning_lag FINAL
WHERE status = 'closed' AND lag_seconds IS NOT NULL AND source_time >= {since}
GROUP BY system, bucket
ORDER BY system, bucket
"""

_USES = """
SELECT kind, {bucket}(used_at) AS bucket, count() AS uses
FROM uses_after_deprovision
WHERE used_at >= {since}
GROUP BY kind, bucket
ORDER BY kind, bucket
"""

# Entitlement drift, one row per alert of either kind: what was granted (or created)
# for a leaver's account after the leaver, at the grant, and what a mover kept past the
# mover SLA (access_retained_after_move), at its deadline. A grant's `privileged` is the
# detector's verdict, in the alert's evidence. The alerts are filtered in a subquery of
# their own: an alias of the outer SELECT would otherwise shadow the column it reads.
_DRIFT = f"""
WITH drift AS (
    SELECT kind, severity, identity_id, identity_kind, ifNull(system, '') AS system,
           ifNull(account_id, '') AS account_id,
           ifNull(entitlement, ifNull(credential_id, '')) AS entitlement,
           privileged, at, changed_at, seconds_after,
           CAST(NULL AS Nullable(DateTime64(6, 'UTC'))) AS revoked_at
    FROM (
        SELECT *, JSONExtract(evidence, 'privileged', 'Bool') AS privileged,
               assumeNotNull(used_at) AS at, deprovisioned_at AS changed_at
        FROM alerts FINAL
        WHERE kind = '{GRANTED}' AND used_at IS NOT NULL
    )
    UNION ALL
    SELECT '{RETAINED}' AS kind, severity, identity_id, identity_kind, system, account_id,
           entitlement, privileged, due_at AS at, moved_at AS changed_at,
           CAST(NULL AS Nullable(Float64)) AS seconds_after, revoked_at
    FROM access_retained_after_move
)
"""

# Open hygiene findings per kind, from credential_hygiene (one row per kind, system,
# identity kind and age bucket): `{group}` is what they are counted by.
_STALE_IN = "(" + ", ".join(f"'{kind}'" for kind in STALE_KINDS) + ")"
_HYGIENE_IN = "(" + ", ".join(f"'{kind}'" for kind in HYGIENE_KINDS) + ")"
_HYGIENE_OPEN = f"""
SELECT {{group}},
       sumIf(open, kind IN {_STALE_IN}) AS stale,
       sumIf(open, kind = '{ROTATION}') AS rotation,
       sumIf(open, kind = '{SHARED}') AS shared,
       sumIf(open, kind = '{UNCORRELATED}') AS uncorrelated,
       sumIf(open, kind = '{TRUST}') AS trust
FROM credential_hygiene
"""
_HYGIENE_ANY = "stale + rotation + shared + uncorrelated + trust"

# name -> one read-only SELECT. Named so that a caller may run them however it likes
# (one by one on an executor, concurrently) and hand the results to ``assemble``.
STATEMENTS: dict[str, str] = {
    "latency_hourly": _LATENCY.format(bucket="toStartOfHour", since=_SINCE),
    "latency_daily": _LATENCY.format(bucket="toStartOfDay", since=_SINCE),
    "sla_by_system": """
SELECT system, min(sla_seconds) AS sla_seconds
FROM deprovision_pairs FINAL
WHERE change_type = 'leaver'
GROUP BY system
ORDER BY system
""",
    "sla_compliance": """
SELECT system, sum(due) AS due, sum(closed_within_sla) AS within_sla,
       sum(closed_late) AS late, sum(still_open) AS still_open
FROM sla_compliance_daily
GROUP BY system
ORDER BY system
""",
    "by_change_type": """
SELECT change_type, count() AS pairs,
       quantileExact(0.5)(lag_seconds) AS p50, quantileExact(0.95)(lag_seconds) AS p95
FROM provisioning_lag FINAL
WHERE status = 'closed' AND lag_seconds IS NOT NULL
GROUP BY change_type
""",
    "uses_hourly": _USES.format(bucket="toStartOfHour", since=_SINCE),
    "uses_daily": _USES.format(bucket="toStartOfDay", since=_SINCE),
    "counts": """
SELECT
    (SELECT count() FROM open_overdue_deprovisions) AS open_overdue,
    (SELECT count() FROM credentials_used_after_deprovision) AS credentials_used,
    (SELECT count() FROM alerts FINAL WHERE kind = 'orphaned_nhi') AS orphaned_nhis,
    (SELECT count() FROM uncorrelated_accounts) AS uncorrelated_accounts
""",
    "watermark": "SELECT watermark FROM event_watermark",
    "overdue": f"""
SELECT identity_id, identity_kind, system, ifNull(credential_id, account_id) AS subject,
       subject_kind, due_at, seconds_overdue
FROM open_overdue_deprovisions
ORDER BY seconds_overdue DESC, identity_id, subject
LIMIT {FINDINGS_LIMIT}
""",
    "used": f"""
SELECT identity_id, identity_kind, ifNull(system, '') AS system, subject, kind,
       first_use, last_use, uses
FROM credentials_used_after_deprovision
ORDER BY uses DESC, first_use, identity_id, subject
LIMIT {FINDINGS_LIMIT}
""",
    "drift_totals": _DRIFT
    + f"""
SELECT countIf(kind = '{GRANTED}') AS granted,
       countIf(kind = '{GRANTED}' AND privileged) AS granted_privileged,
       countIf(kind = '{RETAINED}') AS retained,
       countIf(kind = '{RETAINED}' AND privileged) AS retained_privileged
FROM drift
""",
    "drift_by_system": _DRIFT
    + f"""
SELECT system,
       countIf(kind = '{GRANTED}' AND privileged) AS granted_privileged,
       countIf(kind = '{GRANTED}' AND NOT privileged) AS granted_other,
       countIf(kind = '{RETAINED}' AND privileged) AS retained_privileged,
       countIf(kind = '{RETAINED}' AND NOT privileged) AS retained_other
FROM drift
GROUP BY system
ORDER BY count() DESC, system
LIMIT {DRIFT_SYSTEMS_LIMIT}
""",
    "drift_latest": _DRIFT
    + f"""
SELECT kind, severity, identity_id, identity_kind, system, account_id, entitlement,
       privileged, at, changed_at, seconds_after, revoked_at
FROM drift
ORDER BY at DESC, identity_id, account_id, entitlement
LIMIT {DRIFT_FINDINGS_LIMIT}
""",
    "hygiene_totals": f"""
SELECT sumIf(open, kind IN {_STALE_IN}) AS stale,
       sumIf(resolved, kind IN {_STALE_IN}) AS stale_resolved,
       sumIf(open, kind = '{ROTATION}') AS rotation,
       sumIf(open, kind = '{SHARED}') AS shared,
       sumIf(open, kind = '{UNCORRELATED}') AS uncorrelated,
       sumIf(open, kind = '{TRUST}') AS trust
FROM credential_hygiene
""",
    "hygiene_by_system": _HYGIENE_OPEN.format(group="system")
    + f"""GROUP BY system
HAVING {_HYGIENE_ANY} > 0
ORDER BY {_HYGIENE_ANY} DESC, system
LIMIT {HYGIENE_SYSTEMS_LIMIT}
""",
    "hygiene_by_age": _HYGIENE_OPEN.format(group="age_bucket, age_from_days")
    + f"""GROUP BY age_bucket, age_from_days
HAVING {_HYGIENE_ANY} > 0
ORDER BY age_from_days
""",
    # The findings still open, oldest first: age as credential_hygiene counts it (from
    # the kind's reference time to the latest event time).
    "hygiene_open": f"""
SELECT kind, severity, identity_id, identity_kind, ifNull(system, '') AS system,
       ifNull(credential_id, ifNull(account_id, identity_id)) AS subject,
       deprovisioned_at AS since, used_at, seconds_after,
       ifNull(greatest(dateDiff('second', deprovisioned_at,
                                (SELECT watermark FROM event_watermark)), 0), 0) AS age_seconds
FROM alerts FINAL
WHERE kind IN {_HYGIENE_IN} AND resolved_at IS NULL
ORDER BY age_seconds DESC, identity_id, subject
LIMIT {HYGIENE_FINDINGS_LIMIT}
""",
    "orphaned": f"""
SELECT identity_id, identity_kind, ifNull(system, '') AS system,
       ifNull(account_id, ifNull(credential_id, '')) AS subject, severity, deprovisioned_at
FROM alerts FINAL
WHERE kind = 'orphaned_nhi'
ORDER BY deprovisioned_at, identity_id
LIMIT {FINDINGS_LIMIT}
""",
}


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float


@dataclass(frozen=True)
class Compliance:
    system: str
    due: int
    within_sla: int
    late: int
    still_open: int

    @property
    def share(self) -> float | None:
        return self.within_sla / self.due if self.due else None


@dataclass(frozen=True)
class ChangeTypeLag:
    change_type: str
    pairs: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class Counts:
    open_overdue: int = 0
    credentials_used: int = 0
    orphaned_nhis: int = 0
    uncorrelated_accounts: int = 0


@dataclass(frozen=True)
class Finding:
    """One open finding, as the table lists it."""

    kind: str
    severity: str
    identity_id: str
    identity_kind: str
    system: str
    subject: str
    since: datetime | None
    detail: str
    # Within one severity, the larger the worse (seconds overdue, number of uses).
    weight: float


@dataclass(frozen=True)
class DriftTotals:
    """Entitlement drift alerts of every system, privileged entitlements apart."""

    granted: int = 0
    granted_privileged: int = 0
    retained: int = 0
    retained_privileged: int = 0

    @property
    def total(self) -> int:
        return self.granted + self.retained


@dataclass(frozen=True)
class DriftBySystem:
    """One system's entitlement drift alerts: each kind, privileged or not."""

    system: str
    granted_privileged: int
    granted_other: int
    retained_privileged: int
    retained_other: int


@dataclass(frozen=True)
class DriftFinding:
    """One entitlement drift alert, as the short table lists it."""

    kind: str
    severity: str
    identity_id: str
    identity_kind: str
    system: str
    account_id: str
    # The entitlement; a credential created after leaving shows its id; an account
    # created after leaving, nothing (the account is the finding).
    entitlement: str
    privileged: bool
    at: datetime | None  # the grant (or creation), or a mover's deadline
    detail: str


@dataclass(frozen=True)
class HygieneTotals:
    """Open credential hygiene findings of every system, per kind; the stale ones that
    were resolved since (used again, revoked, disabled or deleted) apart."""

    stale: int = 0
    stale_resolved: int = 0
    rotation: int = 0
    shared: int = 0
    uncorrelated: int = 0
    trust: int = 0  # roles that outlived their owners

    @property
    def total(self) -> int:
        return self.stale + self.rotation + self.shared + self.uncorrelated + self.trust


@dataclass(frozen=True)
class HygieneCounts:
    """Open hygiene findings of one system, or of one age bucket, per kind."""

    name: str  # the system, or the age bucket ("30-90d")
    stale: int
    rotation: int
    shared: int
    uncorrelated: int
    trust: int  # roles that outlived their owners


@dataclass(frozen=True)
class HygieneFinding:
    """One open hygiene finding, as the short table lists it."""

    kind: str
    severity: str
    identity_id: str
    identity_kind: str
    system: str
    subject: str  # the credential, or the account
    # The kind's reference time: unused since, created, first seen, the leaver's leaving.
    since: datetime | None
    age_seconds: float  # from `since` to the latest event time
    detail: str


@dataclass(frozen=True)
class DashboardData:
    bucket: str  # "hour" or "day"
    latency: tuple[Series, ...] = ()
    sla: tuple[Threshold, ...] = ()
    compliance: tuple[Compliance, ...] = ()
    by_change_type: tuple[ChangeTypeLag, ...] = ()
    uses: tuple[Series, ...] = ()
    counts: Counts = field(default_factory=Counts)
    findings: tuple[Finding, ...] = ()
    findings_total: int = 0
    watermark: datetime | None = None
    drift_totals: DriftTotals = field(default_factory=DriftTotals)
    drift_by_system: tuple[DriftBySystem, ...] = ()
    drift_findings: tuple[DriftFinding, ...] = ()
    hygiene_totals: HygieneTotals = field(default_factory=HygieneTotals)
    hygiene_by_system: tuple[HygieneCounts, ...] = ()
    hygiene_by_age: tuple[HygieneCounts, ...] = ()
    hygiene_findings: tuple[HygieneFinding, ...] = ()


def collect_dashboard(query: Callable[[str], QueryResult]) -> DashboardData:
    """Every statement through ``query`` (sync), then ``assemble``."""
    return assemble({name: query(sql) for name, sql in STATEMENTS.items()})


async def collect_dashboard_async(
    query: Callable[[str], Awaitable[QueryResult]],
) -> DashboardData:
    """The same, for an event loop: ``await query(sql)`` one statement at a time."""
    results = {}
    for name, sql in STATEMENTS.items():
        results[name] = await query(sql)
    return assemble(results)


def assemble(results: Mapping[str, QueryResult]) -> DashboardData:
    """The dashboard's data from the results of ``STATEMENTS`` (pure)."""
    watermark = _watermark(_records(results["watermark"]))
    hourly_rows = _records(results["latency_hourly"]) + _records(results["uses_hourly"])
    since = _window_start(watermark, hourly_rows)
    hourly = _span(_within(hourly_rows, since))
    bucket = "hour" if hourly <= HOURLY_SPAN else "day"
    suffix = "hourly" if bucket == "hour" else "daily"
    latency_rows = _within(_records(results[f"latency_{suffix}"]), since)
    uses_rows = _within(_records(results[f"uses_{suffix}"]), since)
    counts_rows = _records(results["counts"])
    findings = _findings(results)
    counts = (
        Counts(**{key: _int(value) for key, value in counts_rows[0].items()})
        if counts_rows
        else Counts()
    )
    return DashboardData(
        bucket=bucket,
        latency=_latency_series(latency_rows),
        sla=_thresholds(_records(results["sla_by_system"])),
        compliance=tuple(
            Compliance(
                system=str(row["system"]),
                due=_int(row["due"]),
                within_sla=_int(row["within_sla"]),
                late=_int(row["late"]),
                still_open=_int(row["still_open"]),
            )
            for row in _records(results["sla_compliance"])
        ),
        by_change_type=_by_change_type(_records(results["by_change_type"])),
        uses=_zero_filled(_grouped_series(uses_rows, "kind", "uses"), bucket),
        counts=counts,
        findings=tuple(findings[:FINDINGS_LIMIT]),
        findings_total=counts.open_overdue + counts.credentials_used + counts.orphaned_nhis,
        watermark=watermark,
        drift_totals=_drift_totals(_records(results["drift_totals"])),
        drift_by_system=tuple(
            DriftBySystem(
                system=str(row["system"]),
                granted_privileged=_int(row["granted_privileged"]),
                granted_other=_int(row["granted_other"]),
                retained_privileged=_int(row["retained_privileged"]),
                retained_other=_int(row["retained_other"]),
            )
            for row in _records(results["drift_by_system"])[:DRIFT_SYSTEMS_LIMIT]
        ),
        drift_findings=tuple(
            _drift_finding(row) for row in _records(results["drift_latest"])[:DRIFT_FINDINGS_LIMIT]
        ),
        hygiene_totals=_hygiene_totals(_records(results["hygiene_totals"])),
        hygiene_by_system=_hygiene_counts(
            _records(results["hygiene_by_system"])[:HYGIENE_SYSTEMS_LIMIT], "system"
        ),
        hygiene_by_age=_hygiene_counts(_records(results["hygiene_by_age"]), "age_bucket"),
        hygiene_findings=tuple(
            _hygiene_finding(row)
            for row in _records(results["hygiene_open"])[:HYGIENE_FINDINGS_LIMIT]
        ),
    )


def _window_start(watermark: datetime | None, rows: list[dict[str, Any]]) -> datetime | None:
    """Where the charts begin: CHART_WINDOW before the watermark (the latest bucket
    without one), from the start of that day, as the statements' ``_SINCE``."""
    times = [time for time in (_time(row.get("bucket")) for row in rows) if time is not None]
    end = watermark if watermark is not None else max(times, default=None)
    if end is None:
        return None
    start = (end - CHART_WINDOW).astimezone(UTC)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def _within(rows: list[dict[str, Any]], since: datetime | None) -> list[dict[str, Any]]:
    """The rows whose bucket is in the window: older ones are off the chart, and a
    far-past forged time no longer stretches its axis."""
    if since is None:
        return rows
    return [row for row in rows if (time := _time(row.get("bucket"))) is not None and time >= since]


def _watermark(rows: list[dict[str, Any]]) -> datetime | None:
    """The view answers the epoch while no event is in: that is no watermark."""
    time = _time(rows[0]["watermark"]) if rows else None
    return time if time is not None and time.timestamp() > 0 else None


def _records(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=False)) for row in result.rows]


def _span(rows: list[dict[str, Any]]) -> timedelta:
    times = [time for time in (_time(row.get("bucket")) for row in rows) if time is not None]
    return max(times) - min(times) if times else timedelta(0)


def _latency_series(rows: list[dict[str, Any]]) -> tuple[Series, ...]:
    """Per system, its p50 and its p95, each a series."""
    series: list[Series] = []
    for system in sorted({str(row["system"]) for row in rows}):
        mine = [row for row in rows if str(row["system"]) == system]
        for quantile in ("p50", "p95"):
            series.append(Series(f"{system} {quantile}", _points(mine, quantile)))
    return tuple(series)


def _grouped_series(rows: list[dict[str, Any]], key: str, value: str) -> tuple[Series, ...]:
    return tuple(
        Series(name, _points([row for row in rows if str(row[key]) == name], value))
        for name in sorted({str(row[key]) for row in rows})
    )


def _zero_filled(series: tuple[Series, ...], bucket: str) -> tuple[Series, ...]:
    """Counts per bucket: a bucket without uses is a 0, not a line drawn across it."""
    times = [point.at for item in series for point in item.points]
    if not times:
        return series
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    start, end = min(times), max(times)
    buckets = [start + step * index for index in range((end - start) // step + 1)]
    filled = []
    for item in series:
        value_at = {point.at: point.value for point in item.points}
        filled.append(Series(item.name, tuple(Point(at, value_at.get(at, 0.0)) for at in buckets)))
    return tuple(filled)


def _points(rows: list[dict[str, Any]], value: str) -> tuple[Point, ...]:
    points = []
    for row in rows:
        at, number = _time(row["bucket"]), _float(row[value])
        if at is not None and number is not None:
            points.append(Point(at, number))
    return tuple(sorted(points, key=lambda point: point.at))


def _thresholds(rows: list[dict[str, Any]]) -> tuple[Threshold, ...]:
    """One line per distinct SLA, naming the systems it applies to."""
    systems_of: dict[float, list[str]] = {}
    for row in rows:
        value = _float(row["sla_seconds"])
        if value is not None:
            systems_of.setdefault(value, []).append(str(row["system"]))
    return tuple(
        Threshold(f"SLA {', '.join(sorted(systems))}", value)
        for value, systems in sorted(systems_of.items())
    )


def _by_change_type(rows: list[dict[str, Any]]) -> tuple[ChangeTypeLag, ...]:
    def order(row: dict[str, Any]) -> tuple[int, str]:
        name = str(row["change_type"])
        return (CHANGE_TYPES.index(name) if name in CHANGE_TYPES else len(CHANGE_TYPES), name)

    return tuple(
        ChangeTypeLag(
            change_type=str(row["change_type"]),
            pairs=_int(row["pairs"]),
            p50=_float(row["p50"]),
            p95=_float(row["p95"]),
        )
        for row in sorted(rows, key=order)
    )


def _findings(results: Mapping[str, QueryResult]) -> list[Finding]:
    findings: list[Finding] = []
    for row in _records(results["used"]):
        kind = str(row["kind"])
        uses = _int(row["uses"])
        findings.append(
            Finding(
                kind=kind,
                severity="critical" if kind == "used_after_deprovision" else "high",
                identity_id=str(row["identity_id"]),
                identity_kind=str(row["identity_kind"]),
                system=str(row["system"]),
                subject=str(row["subject"]),
                since=_time(row["first_use"]),
                detail=f"{uses} use{'' if uses == 1 else 's'}, last {_iso(row['last_use'])}",
                weight=float(uses),
            )
        )
    for row in _records(results["overdue"]):
        overdue = _float(row["seconds_overdue"]) or 0.0
        findings.append(
            Finding(
                kind="deprovision_overdue",
                severity="high",
                identity_id=str(row["identity_id"]),
                identity_kind=str(row["identity_kind"]),
                system=str(row["system"]),
                subject=str(row["subject"]),
                since=_time(row["due_at"]),
                detail=f"{row['subject_kind']} overdue by {duration(overdue)}",
                weight=overdue,
            )
        )
    for row in _records(results["orphaned"]):
        findings.append(
            Finding(
                kind="orphaned_nhi",
                severity=str(row["severity"]),
                identity_id=str(row["identity_id"]),
                identity_kind=str(row["identity_kind"]),
                system=str(row["system"]),
                subject=str(row["subject"]),
                since=_time(row["deprovisioned_at"]),
                detail="owner left, no new owner",
                weight=0.0,
            )
        )
    # Worst first: severity, then how bad within it, then a stable order.
    findings.sort(
        key=lambda item: (
            -SEVERITY_RANK.get(item.severity, 0),
            -item.weight,
            item.identity_id,
            item.subject,
        )
    )
    return findings


def _drift_totals(rows: list[dict[str, Any]]) -> DriftTotals:
    if not rows:
        return DriftTotals()
    row = rows[0]
    return DriftTotals(
        granted=_int(row["granted"]),
        granted_privileged=_int(row["granted_privileged"]),
        retained=_int(row["retained"]),
        retained_privileged=_int(row["retained_privileged"]),
    )


def _drift_finding(row: dict[str, Any]) -> DriftFinding:
    kind = str(row["kind"])
    after = _float(row["seconds_after"])
    if kind == GRANTED:
        detail = f"{duration(after)} after leaving" if after is not None else "after leaving"
    else:
        # Past its deadline: held still, or taken away late.
        moved = _iso(row["changed_at"])
        revoked = _time(row["revoked_at"])
        held = f"revoked {_iso(revoked)}" if revoked is not None else "still held"
        detail = f"moved {moved}, {held}"
    return DriftFinding(
        kind=kind,
        severity=str(row["severity"]),
        identity_id=str(row["identity_id"]),
        identity_kind=str(row["identity_kind"]),
        system=str(row["system"]),
        account_id=str(row["account_id"]),
        entitlement=str(row["entitlement"]),
        privileged=bool(row["privileged"]),
        at=_time(row["at"]),
        detail=detail,
    )


def _hygiene_totals(rows: list[dict[str, Any]]) -> HygieneTotals:
    if not rows:
        return HygieneTotals()
    row = rows[0]
    return HygieneTotals(
        stale=_int(row["stale"]),
        stale_resolved=_int(row["stale_resolved"]),
        rotation=_int(row["rotation"]),
        shared=_int(row["shared"]),
        uncorrelated=_int(row["uncorrelated"]),
        trust=_int(row["trust"]),
    )


def _hygiene_counts(rows: list[dict[str, Any]], name: str) -> tuple[HygieneCounts, ...]:
    return tuple(
        HygieneCounts(
            name=str(row[name]),
            stale=_int(row["stale"]),
            rotation=_int(row["rotation"]),
            shared=_int(row["shared"]),
            uncorrelated=_int(row["uncorrelated"]),
            trust=_int(row["trust"]),
        )
        for row in rows
    )


def _hygiene_finding(row: dict[str, Any]) -> HygieneFinding:
    kind = str(row["kind"])
    age = _float(row["age_seconds"]) or 0.0
    after = _float(row["seconds_after"])
    used = _time(row["used_at"])
    if kind in STALE_KINDS:
        detail = f"unused for {duration(age)}"
    elif kind == ROTATION:
        # `since` is its creation; the use that raised it came `after` later.
        at_use = f", used at {duration(after)} old" if after is not None else ""
        detail = f"created {duration(age)} ago{at_use}"
    elif kind == SHARED:
        apart = f"{duration(after)} apart" if after is not None else "within the window"
        detail = f"two parties {apart}"
    elif kind == TRUST:
        # `since` is when the role's creator, or its workload's owner, left.
        later = f" {duration(after)}" if after is not None else ""
        detail = f"assumed{later} after its owner left"
    else:
        seen = f"used {duration(after)} after first seen" if after is not None else "used"
        detail = f"{seen}, no identity claimed it"
    if used is not None and kind != ROTATION:
        detail += f" ({_iso(used)})"
    return HygieneFinding(
        kind=kind,
        severity=str(row["severity"]),
        identity_id=str(row["identity_id"]),
        identity_kind=str(row["identity_kind"]),
        system=str(row["system"]),
        subject=str(row["subject"]),
        since=_time(row["since"]),
        age_seconds=age,
        detail=detail,
    )


def duration(seconds: float) -> str:
    """``90`` -> ``1m 30s``, ``93784`` -> ``1d 2h``: two units at most, for people."""
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    rest = round(seconds)
    for name, size in units:
        if rest >= size or parts:
            amount, rest = divmod(rest, size)
            if amount or not parts:
                parts.append(f"{amount}{name}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        # ClickHouse's DateTime64(6, 'UTC') arrives aware; a naive one is UTC too.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def _iso(value: Any) -> str:
    time = _time(value)
    return time.strftime("%Y-%m-%d %H:%M UTC") if time is not None else "unknown"


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no value


def _int(value: Any) -> int:
    number = _float(value)
    return int(number) if number is not None else 0
