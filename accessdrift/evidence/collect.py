"""One identity's audit evidence, from the analyst views and tables (CONTRACT.md
"Audit evidence"): every directory change and, for each leaver or suspend, every
account and credential it had to reach, when it did, within its SLA or not; for every
change, what the identity held then and at the change's SLA, from the access ledger
(accessdrift/evidence/holdings.py).

The query function is the analysts' door (``accessdrift.commands.query.run_query`` or the
worker's read-only session): the identity id, which comes from a person or a URL,
enters the SQL only as a literal quoted by clickhouse-connect's own binding.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.binding import format_query_value

from accessdrift.core.ids import lag_id
from accessdrift.errors import IdentityNotFound
from accessdrift.evidence.holdings import Change, Slas, holdings, intervals_of, listed_of, when
from accessdrift.sinks.clickhouse import QueryResult

Query = Callable[[str], QueryResult]

CONTROLS = [
    {
        "id": "NIST CSF 2.0 PR.AA-01",
        "title": "Identities and credentials for authorized users, services, and hardware "
        "are managed by the organization",
        "evidenced_by": "each directory change of the identity, and when every account and "
        "credential it concerned followed, against the deprovisioning SLA",
    },
    {
        "id": "OWASP Top 10 Non-Human Identities Risks 2025, NHI1:2025",
        "title": "Improper Offboarding",
        "evidenced_by": "keys and accounts still working after their owner or workload was "
        "deprovisioned, each use after deprovisioning, and the alerts raised",
    },
]

DOWNSTREAM_CHANGES = ("leaver", "suspend")


def literal(value: str) -> str:
    """A ClickHouse string literal, escaped by the client library's own binding."""
    return str(format_query_value(value))


def _rows(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


LEDGER_COLUMNS = (
    "system, account_id, subject_type, subject, privileged, valid_from, valid_to, "
    "opened_by, closed_by"
)


def collect_evidence(query: Query, identity_id: str, slas: Slas | None = None) -> dict[str, Any]:
    """The evidence of one identity as a JSON-able dict; IdentityNotFound when nothing
    in the database names it. ``slas``: what each change is held to (the settings'; the
    contract's defaults when not given)."""
    who = literal(identity_id)
    changes = _rows(
        query(
            "SELECT event_id, event_time, change_type, source, identity_kind, owner_id, "
            "if(mapContains(attributes, 'entitlements'), attributes['entitlements'], NULL) "
            "AS listed_entitlements "
            f"FROM directory_changes FINAL WHERE identity_id = {who} "
            "ORDER BY event_time, event_id"
        )
    )
    pairs = _rows(
        query(
            "SELECT lag_id, change_type, system, account_id, credential_id, source_time, "
            "sla_seconds, due_at, status, downstream_time, lag_seconds, within_sla, "
            f"identity_kind FROM deprovision_pairs FINAL WHERE identity_id = {who} "
            "ORDER BY system, account_id, credential_id"
        )
    )
    alerts = _rows(
        query(
            "SELECT alert_id, kind, severity, identity_kind, account_id, credential_id, "
            "deprovisioned_at, used_at, seconds_after, system, action, source_ip "
            f"FROM alerts FINAL WHERE identity_id = {who} "
            "ORDER BY coalesce(used_at, deprovisioned_at), alert_id"
        )
    )
    uses = _rows(
        query(
            "SELECT used_at, subject, system, action, source_ip, kind, alert_id "
            f"FROM uses_after_deprovision WHERE identity_id = {who} ORDER BY used_at, event_id"
        )
    )
    owned = _rows(
        query(
            "SELECT subject, subject_kind, system, claim, claim_source, identity_kind "
            f"FROM ownership FINAL WHERE identity_id = {who} ORDER BY subject"
        )
    )
    ledger = intervals_of(
        _rows(
            query(
                f"SELECT {LEDGER_COLUMNS} FROM access_ledger FINAL "
                f"WHERE identity_id = {who} AND NOT removed "
                "ORDER BY system, account_id, subject_type, subject, valid_from"
            )
        )
    )
    if not (changes or pairs or alerts or owned or ledger):
        raise IdentityNotFound(f"no directory change, account or alert names {identity_id!r}")
    as_of = query("SELECT watermark FROM event_watermark").rows
    kinds = [row["identity_kind"] for row in (*changes, *pairs, *alerts, *owned)]
    identity_kind = str(kinds[-1]) if kinds else "human"
    moments = [_as_change(change, identity_kind) for change in changes]
    overdue_alerts = {
        (alert["credential_id"] or alert["account_id"], _iso(alert["deprovisioned_at"])): alert
        for alert in alerts
        if alert["kind"] == "deprovision_overdue"
    }
    return {
        "identity_id": identity_id,
        "identity_kind": str(kinds[-1]) if kinds else None,
        "as_of": _iso(as_of[0][0]) if as_of else None,
        "generated_at": datetime.now(UTC).isoformat(),
        "ledger_intervals": len(ledger),
        "changes": [
            {
                **_change(identity_id, change, pairs, overdue_alerts),
                **holdings(
                    moment,
                    ledger,
                    moments,
                    slas or Slas(),
                    when(as_of[0][0]) if as_of else None,
                    _judged(identity_id, change, pairs),
                ),
            }
            for change, moment in zip(changes, moments, strict=True)
        ],
        "accounts": [
            {
                key: row[key]
                for key in ("subject", "subject_kind", "system", "claim", "claim_source")
            }
            for row in owned
        ],
        "uses_after_deprovision": [
            {
                "used_at": _iso(use["used_at"]),
                "subject": use["subject"],
                "system": use["system"],
                "action": use["action"],
                "source_ip": use["source_ip"],
                "kind": use["kind"],
                "alert_id": use["alert_id"],
            }
            for use in uses
        ],
        "alerts": [
            {
                **{key: alert[key] for key in ("alert_id", "kind", "severity", "system")},
                "account_id": alert["account_id"],
                "credential_id": alert["credential_id"],
                "deprovisioned_at": _iso(alert["deprovisioned_at"]),
                "used_at": _iso(alert["used_at"]),
                "seconds_after": alert["seconds_after"],
                "action": alert["action"],
                "source_ip": alert["source_ip"],
            }
            for alert in alerts
        ],
        "controls": CONTROLS,
    }


def _as_change(change: dict[str, Any], identity_kind: str) -> Change:
    moment = when(change["event_time"])
    assert moment is not None  # a directory change always has its time
    return Change(
        str(change["event_id"]),
        str(change["change_type"]),
        moment,
        str(change.get("identity_kind") or identity_kind),
        listed_of(change.get("listed_entitlements")),
    )


def _judged(
    identity_id: str, change: dict[str, Any], pairs: Sequence[dict[str, Any]]
) -> dict[str, float]:
    """The SLA seconds per system this change's deprovision pairs were judged by: what
    the detector applied, so that held_at_sla is taken at the pairs' own due time."""
    judged: dict[str, float] = {}
    for pair in pairs:
        subject = pair["credential_id"] or pair["account_id"]
        ours = pair["lag_id"] == lag_id(identity_id, change["event_id"], subject)
        if ours and pair.get("sla_seconds") is not None:
            judged.setdefault(str(pair["system"]), float(pair["sla_seconds"]))
    return judged


def _change(
    identity_id: str,
    change: dict[str, Any],
    pairs: Sequence[dict[str, Any]],
    overdue_alerts: dict[tuple[Any, str | None], dict[str, Any]],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event_id": change["event_id"],
        "change_type": change["change_type"],
        "source": change["source"],
        "source_time": _iso(change["event_time"]),
        "owner_id": change["owner_id"],
        "downstream": None,
    }
    if change["change_type"] not in DOWNSTREAM_CHANGES:
        return entry
    downstream = []
    for pair in pairs:
        subject = pair["credential_id"] or pair["account_id"]
        # The pair's id is derived from this very change: a repeated leaver has none.
        if pair["lag_id"] != lag_id(identity_id, change["event_id"], subject):
            continue
        overdue = overdue_alerts.get((subject, _iso(pair["source_time"])))
        downstream.append(
            {
                "system": pair["system"],
                "account_id": pair["account_id"],
                "credential_id": pair["credential_id"],
                "status": pair["status"],
                "downstream_time": _iso(pair["downstream_time"]),
                "lag_seconds": pair["lag_seconds"],
                "sla_seconds": pair["sla_seconds"],
                "due_at": _iso(pair["due_at"]),
                "within_sla": pair["within_sla"],
                "overdue_alert_id": overdue["alert_id"] if overdue else None,
            }
        )
    entry["downstream"] = downstream
    return entry
