"""An organisation's report for a period: its leavers and the systems they had to
reach, SLA compliance per system, the worst cases, what is still open, and the leavers
and movers whose access did not match by their SLA (from the access ledger)."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from accessdrift.errors import ConfigError
from accessdrift.evidence.collect import CONTROLS, LEDGER_COLUMNS, Query, _judged, literal
from accessdrift.evidence.holdings import Change, Slas, holdings, intervals_of, listed_of, when
from accessdrift.evidence.render import _ENVIRONMENT, CSP, STYLE

WORST = 10


def _rows(query: Query, sql: str) -> list[dict[str, Any]]:
    result = query(sql)
    return [
        {key: _plain(value) for key, value in zip(result.columns, row, strict=True)}
        for row in result.rows
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _moment(value: datetime) -> str:
    return literal(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))


def collect_report(
    query: Query, since: datetime, until: datetime, slas: Slas | None = None
) -> dict[str, Any]:
    """``slas``: what each change is held to (the settings'; the contract's defaults when
    not given)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ConfigError("report: --since and --until need a time zone (or a plain date)")
    if since >= until:
        raise ConfigError(f"report: --since {since.isoformat()} is not before --until")
    period = (
        f"source_time >= toDateTime64({_moment(since)}, 6, 'UTC') "
        f"AND source_time < toDateTime64({_moment(until)}, 6, 'UTC')"
    )
    leavers = _rows(
        query,
        "SELECT identity_id, any(identity_kind) AS identity_kind, min(source_time) AS left_at, "
        "count() AS pairs, "
        "countIf(ifNull(deprovision_pairs.within_sla, false)) AS closed_within_sla, "
        "countIf(status = 'closed' AND NOT ifNull(within_sla, false)) AS late, "
        "countIf(status IN ('open', 'overdue')) AS not_deprovisioned, "
        "arraySort(groupUniqArray(system)) AS systems "
        f"FROM deprovision_pairs FINAL WHERE change_type = 'leaver' AND {period} "
        "GROUP BY identity_id ORDER BY left_at, identity_id",
    )
    per_system = _rows(
        query,
        "SELECT system, count() AS due, "
        "countIf(ifNull(deprovision_pairs.within_sla, false)) AS closed_within_sla, "
        "countIf(status IN ('open', 'overdue')) AS not_deprovisioned, "
        "round(closed_within_sla / due, 4) AS share, "
        "quantileExactIf(0.5)(lag_seconds, status = 'closed') AS p50_seconds, "
        "quantileExactIf(0.95)(lag_seconds, status = 'closed') AS p95_seconds "
        f"FROM deprovision_pairs FINAL WHERE change_type = 'leaver' AND {period} "
        "AND due_at <= (SELECT watermark FROM event_watermark) "
        "GROUP BY system ORDER BY share, system",
    )
    worst = _rows(
        query,
        "SELECT identity_id, system, account_id, credential_id, status, source_time, due_at, "
        "lag_seconds, dateDiff('second', source_time, "
        "coalesce(downstream_time, (SELECT watermark FROM event_watermark))) AS exposed_seconds "
        f"FROM deprovision_pairs FINAL WHERE change_type = 'leaver' AND {period} "
        "AND NOT ifNull(within_sla, false) "
        f"ORDER BY exposed_seconds DESC, identity_id LIMIT {WORST}",
    )
    overdue = _rows(query, "SELECT * FROM open_overdue_deprovisions ORDER BY left_at, lag_id")
    used = _rows(
        query,
        "SELECT identity_id, subject, system, kind, first_use, last_use, uses, source_ips "
        "FROM credentials_used_after_deprovision ORDER BY first_use, subject",
    )
    orphans = _rows(
        query,
        "SELECT alert_id, identity_id, deprovisioned_at, evidence FROM alerts FINAL "
        "WHERE kind = 'orphaned_nhi' ORDER BY deprovisioned_at, alert_id",
    )
    as_of = query("SELECT watermark FROM event_watermark").rows
    not_matched = _not_matched_by_sla(
        query, since, until, slas or Slas(), when(as_of[0][0]) if as_of else None
    )
    due = sum(int(row["due"]) for row in per_system)
    within = sum(int(row["closed_within_sla"]) for row in per_system)
    return {
        "since": since.astimezone(UTC).isoformat(),
        "until": until.astimezone(UTC).isoformat(),
        "as_of": _plain(as_of[0][0]) if as_of else None,
        "generated_at": datetime.now(UTC).isoformat(),
        "totals": {
            "leavers": len(leavers),
            "pairs_due": due,
            "within_sla": within,
            "share_within_sla": round(within / due, 4) if due else None,
            "open_overdue_deprovisions": len(overdue),
            "credentials_used_after_deprovision": len(used),
            "orphaned_nhis": len(orphans),
            "leavers_not_matched_by_sla": _changes_among(not_matched, "leaver"),
            "movers_not_matched_by_sla": _changes_among(not_matched, "mover"),
        },
        "leavers": leavers,
        "sla_per_system": per_system,
        "worst_cases": worst,
        "not_matched_by_sla": not_matched,
        "open_findings": {
            "overdue_deprovisions": overdue,
            "credentials_used_after_deprovision": used,
            "orphaned_nhis": [{k: v for k, v in row.items() if k != "evidence"} for row in orphans],
        },
        "controls": CONTROLS,
    }


def _changes_among(rows: Sequence[dict[str, Any]], change_type: str) -> int:
    return len({row["event_id"] for row in rows if row["change_type"] == change_type})


def _not_matched_by_sla(
    query: Query, since: datetime, until: datetime, slas: Slas, as_of: datetime | None
) -> list[dict[str, Any]]:
    """Per leaver or mover of the period and system: what it still held at its SLA that
    it should not have (accessdrift/evidence/holdings.py says what that is), once the
    data reaches the SLA. One row per change and system."""
    concerned = (
        "identity_id IN (SELECT identity_id FROM directory_changes FINAL "
        "WHERE change_type IN ('leaver', 'mover') "
        f"AND event_time >= toDateTime64({_moment(since)}, 6, 'UTC') "
        f"AND event_time < toDateTime64({_moment(until)}, 6, 'UTC'))"
    )
    changes = _rows(
        query,
        "SELECT identity_id, event_id, event_time, change_type, identity_kind, "
        "if(mapContains(attributes, 'entitlements'), attributes['entitlements'], NULL) "
        f"AS listed_entitlements FROM directory_changes FINAL WHERE {concerned} "
        "ORDER BY identity_id, event_time, event_id",
    )
    if not changes:
        return []
    ledger = _rows(
        query,
        f"SELECT identity_id, {LEDGER_COLUMNS} FROM access_ledger FINAL "
        f"WHERE NOT removed AND {concerned}",
    )
    pairs = _rows(
        query,
        "SELECT identity_id, lag_id, system, account_id, credential_id, sla_seconds "
        f"FROM deprovision_pairs FINAL WHERE change_type = 'leaver' AND {concerned}",
    )
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for row in ledger:
        by_identity.setdefault(str(row["identity_id"]), []).append(row)
    pairs_of: dict[str, list[dict[str, Any]]] = {}
    for row in pairs:
        pairs_of.setdefault(str(row["identity_id"]), []).append(row)
    moments: dict[str, list[Change]] = {}
    for row in changes:
        at = when(row["event_time"])
        assert at is not None  # a directory change always has its time
        moments.setdefault(str(row["identity_id"]), []).append(
            Change(
                str(row["event_id"]),
                str(row["change_type"]),
                at,
                str(row["identity_kind"]),
                listed_of(row["listed_entitlements"]),
            )
        )
    found = []
    for row in changes:
        identity = str(row["identity_id"])
        change = next(c for c in moments[identity] if c.event_id == row["event_id"])
        if change.change_type not in ("leaver", "mover") or not since <= change.at < until:
            continue
        judged = _judged(identity, row, pairs_of.get(identity, []))
        held = holdings(
            change,
            intervals_of(by_identity.get(identity, [])),
            moments[identity],
            slas,
            as_of,
            judged,
        )["not_matched_at_sla"]
        systems: dict[str, list[dict[str, Any]]] = {}
        for entry in held or []:
            systems.setdefault(entry["system"], []).append(entry)
        for system, entries in sorted(systems.items()):
            found.append(
                {
                    "identity_id": identity,
                    "identity_kind": change.identity_kind,
                    "change_type": change.change_type,
                    "event_id": change.event_id,
                    "changed_at": change.at.isoformat(),
                    "system": system,
                    "due_at": entries[0]["due_at"],
                    "privileged": any(entry["privileged"] for entry in entries),
                    "held": [
                        {
                            key: entry[key]
                            for key in ("subject_type", "subject", "account_id", "privileged")
                        }
                        for entry in entries
                    ],
                }
            )
    return sorted(found, key=lambda r: (r["changed_at"], r["identity_id"], r["system"]))


def report_to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"


REPORT_HTML = _ENVIRONMENT.get_template("report.html.jinja")


def report_to_html(report: dict[str, Any], evidence_url: Any = None) -> str:
    return REPORT_HTML.render(r=report, link=evidence_url, style=STYLE, csp=CSP)
