"""Every query in docs/queries.md, run on a simulated organisation in the embedded
engine, its answer checked against the simulator's ground truth.

The truth is what the simulator planned: its lag pairs and findings
(`simulation.lags`, `simulation.alerts`), what each identity held at each directory
change (`simulation.ledger`), its SLAs (`options.sla`, `options.mover_sla`) and, where
the truth has no list of its own (use counts, source addresses, the timeline, the
intervals of entitlements granted after a leaver), the events it emitted. Never the detector's tables: a query that merely agrees with a wrong finding
would pass otherwise.

A question of the file without a checker here fails the test, and so does a checker
without a question: a new query is documented and checked, or not shipped.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, is_privileged
from accessdrift.simulate.organisation import ADMINS, SimulationOptions
from tests.helpers import REPO
from tests.org_database import DEMO_OPTIONS, OrgDatabase, build

DOC = REPO / "docs" / "queries.md"
# The audit kinds that change an account (name it as their target), as the events say.
ACCOUNT_CHANGES = frozenset(
    {
        "account_created",
        "account_disabled",
        "account_deleted",
        "permission_granted",
        "permission_revoked",
    }
)
# A heading is `### The question? <a id="slug"></a>`: the anchor renders invisibly on
# GitHub and in any CommonMark renderer, and names the question in a failure.
HEADING = re.compile(r'(?P<question>.+?)\s*<a id="(?P<slug>[a-z0-9-]+)"></a>')
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
# Read-only: what the analysts' door refuses anyway, refused here before it runs.
FORBIDDEN = re.compile(r"\b(SETTINGS|FORMAT|INTO\s+OUTFILE|INSERT|ALTER|DROP|CREATE)\b", re.I)
Rows = list[dict[str, Any]]
Key = tuple[Any, ...]
# The demo organisation's size, with movers judged within its three days (a 12-hour
# mover SLA, as `accessdrift demo` runs) and a seed in which every question has rows to
# check: a privileged entitlement kept after a move, an NHI orphaned, access given back
# to leavers (a privileged entitlement among it), a zombie key. The detector is given
# the same SLAs (tests/org_database.py).
QUERIES_OPTIONS = replace(DEMO_OPTIONS, seed=24, mover_sla=timedelta(hours=12))


@dataclass(frozen=True)
class Question:
    slug: str
    question: str
    sql: str


def questions() -> list[Question]:
    """Each `###` section of the file, in order, with its one sql block."""
    found = []
    for section in DOC.read_text().split("\n### ")[1:]:
        heading, _, body = section.partition("\n")
        match = HEADING.fullmatch(heading.strip())
        assert match, f'a question without an <a id="slug"></a>: {heading!r}'
        blocks = SQL_BLOCK.findall(body.split("\n## ")[0])
        assert len(blocks) == 1, f"{match['slug']}: one sql block, found {len(blocks)}"
        found.append(Question(match["slug"], match["question"], blocks[0]))
    return found


@dataclass(frozen=True)
class Use:
    event_id: str
    subject: str
    event_time: datetime
    outcome: str
    source_ip: str | None
    action: str


Span = tuple[datetime, datetime | None]


def ledger_walk(events: list[tuple[datetime, str, bool]]) -> list[Span]:
    """The spec's ledger walk of one account's entitlement, over (time, event id, opens):
    sorted, an open while held or a close while not held changes nothing, no
    zero-length interval."""
    spans: list[Span] = []
    held: datetime | None = None
    for when, _, opens in sorted(events):
        if opens and held is None:
            held = when
        elif not opens and held is not None:
            if when > held:
                spans.append((held, when))
            held = None
    if held is not None:
        spans.append((held, None))
    return spans


class Truth:
    """What the simulator planned, in the shapes the checkers need."""

    def __init__(self, org: OrgDatabase) -> None:
        self.options: SimulationOptions = org.options
        self.sla: timedelta = org.options.sla
        self.mover_sla: timedelta = org.options.mover_sla
        self.lags: list[dict[str, Any]] = org.simulation.lags
        self.alerts: list[dict[str, Any]] = org.simulation.alerts
        # Per directory change, what its identity held at its T0.
        self.ledger: list[dict[str, Any]] = org.simulation.ledger
        events = org.simulation.events
        # Each event once: the simulator emits some twice (the replays the sink
        # deduplicates by event_id).
        self.events: list[tuple[str, dict[str, Any]]] = []
        seen: set[tuple[str, str]] = set()
        for _, name, fields in events:
            key = (name, str(fields.get("event_id", id(fields))))
            if name == "IdentityLink" or key not in seen:
                seen.add(key)
                self.events.append((name, fields))
        # "Now" of every query: the latest event time of the three event tables.
        self.watermark: datetime = max(
            fields["event_time"]
            for name, fields in self.events
            if name in ("DirectoryChange", "CloudAuditEvent", "SecretUsageEvent")
        )
        self.left_at: dict[str, datetime] = {
            fields["identity_id"]: fields["event_time"]
            for name, fields in self.events
            if name == "DirectoryChange" and fields["change_type"] == "leaver"
        }
        self.uses: list[Use] = []
        for name, fields in self.events:
            if name == "CloudAuditEvent" and fields["kind"] == "usage":
                self.uses.append(
                    Use(
                        fields["event_id"],
                        fields["credential_id"] or fields["account_id"],
                        fields["event_time"],
                        fields["outcome"],
                        fields["source_ip"],
                        fields["action"],
                    )
                )
            elif name == "SecretUsageEvent":
                self.uses.append(
                    Use(
                        fields["event_id"],
                        fields["credential_id"],
                        fields["event_time"],
                        fields["outcome"],
                        None,
                        f"{fields['operation']} {fields['secret_ref']}",
                    )
                )

    def directory(self, *change_types: str) -> list[tuple[str, datetime]]:
        """(identity, time) of every directory change of these types."""
        return [
            (fields["identity_id"], fields["event_time"])
            for name, fields in self.events
            if name == "DirectoryChange" and fields["change_type"] in change_types
        ]

    def accounts_of(self, identity: str) -> set[str]:
        return {
            fields["account_id"]
            for name, fields in self.events
            if name == "IdentityLink"
            and fields["identity_id"] == identity
            and fields["account_id"]
            and not fields.get("removed")
        }

    def entitlement_spans(self) -> dict[tuple[str, str], list[Span]]:
        """(account, entitlement) -> its intervals, from the successful grants and revokes
        as emitted (arrival order plays no part)."""
        changes: dict[tuple[str, str], list[tuple[datetime, str, bool]]] = {}
        for name, fields in self.events:
            kind = fields.get("kind")
            if name != "CloudAuditEvent" or kind not in (
                "permission_granted",
                "permission_revoked",
            ):
                continue
            if fields["outcome"] != "success" or not fields.get("entitlement"):
                continue
            account = fields["target_account_id"] or fields["account_id"]
            changes.setdefault((account, fields["entitlement"]), []).append(
                (fields["event_time"], fields["event_id"], kind == "permission_granted")
            )
        return {key: ledger_walk(events) for key, events in changes.items()}

    def leaver_lags(self, *statuses: str) -> list[dict[str, Any]]:
        return [
            lag
            for lag in self.lags
            if lag["change_type"] == "leaver" and (not statuses or lag["status"] in statuses)
        ]

    def identity_kind(self, identity: str) -> str:
        """The kind the directory or a link gave the identity."""
        kinds = {
            fields["identity_kind"]
            for name, fields in self.events
            if name in ("IdentityLink", "DirectoryChange") and fields["identity_id"] == identity
        }
        assert len(kinds) == 1, (identity, kinds)
        return str(kinds.pop())

    def claims(self, subject: str) -> list[tuple[datetime, str, bool]]:
        """(time, identity, removed) of every link or directory record naming the
        account or key, in time order."""
        found = []
        for name, fields in self.events:
            if name == "IdentityLink" and subject in (
                fields.get("account_id"),
                fields.get("credential_id"),
            ):
                found.append((fields["event_time"], fields["identity_id"], bool(fields["removed"])))
            elif name == "DirectoryChange" and subject in (fields.get("accounts") or []):
                found.append((fields["event_time"], fields["identity_id"], False))
        return sorted(found)

    def alerts_of(self, *kinds: str) -> list[dict[str, Any]]:
        return [alert for alert in self.alerts if alert["kind"] in kinds]

    def successes_since(self, subject: str, since: datetime) -> list[Use]:
        """The successful uses of a subject from the use that raised its alert on."""
        return [
            use
            for use in self.uses
            if use.subject == subject and use.outcome == "success" and use.event_time >= since
        ]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgDatabase]:
    database = build(tmp_path_factory.mktemp("queries") / "clickhouse", QUERIES_OPTIONS)
    yield database
    database.clickhouse.close()


@pytest.fixture(scope="module")
def truth(org: OrgDatabase) -> Truth:
    return Truth(org)


def quantile_exact(values: list[float], level: float) -> float:
    """ClickHouse's quantileExact: nth_element at index floor(level * n) of the values
    (n - 1 for level 1), no interpolation; checked on chDB: [1..20] gives 11 at 0.5 and
    20 at 0.95, [1, 2, 3, 4] gives 3 at 0.5."""
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def subject_of(item: dict[str, Any]) -> str:
    return str(item["credential_id"] or item["account_id"])


def system_of(account_id: str) -> str:
    return account_id.split(":", 1)[0]


def moment(value: Any) -> datetime:
    """The truth's alerts carry ISO strings, the queries timezone-aware datetimes."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    assert when.tzinfo is not None, f"a naive time: {value!r}"
    return when.astimezone(UTC)


def pair_key(item: dict[str, Any]) -> Key:
    return (item["identity_id"], item["account_id"], item["credential_id"])


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def whole_seconds_close(found: float, expected: float) -> bool:
    # dateDiff('second') counts second boundaries crossed between microsecond times:
    # it is the exact difference truncated either way, so it may differ by one.
    return abs(found - expected) <= 1


def ordered_by(rows: Rows, key: Callable[[dict[str, Any]], Any]) -> bool:
    return [key(row) for row in rows] == sorted(key(row) for row in rows)


# -- one checker per question: the rows the query returned, against the truth ----------


def access_after_leaving(rows: Rows, truth: Truth) -> None:
    # Every leaver pair but the preceded ones (no exposure): closed ones exposed for
    # their lag, the others from the leaver until now.
    expected = {pair_key(lag): lag for lag in truth.leaver_lags("closed", "overdue", "open")}
    found = {pair_key(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for key, lag in expected.items():
        row = found[key]
        assert row["status"] == lag["status"], key
        assert row["left_at"] == truth.left_at[lag["identity_id"]], key
        assert row["system"] == system_of(lag["account_id"]), key
        exposure = (
            lag["lag_seconds"]
            if lag["status"] == "closed"
            else seconds(truth.watermark - truth.left_at[lag["identity_id"]])
        )
        assert whole_seconds_close(row["exposed_seconds"], exposure), (key, exposure)
        assert (row["deprovisioned_at"] is None) == (lag["status"] != "closed"), key
    assert ordered_by(rows, lambda row: -row["exposed_seconds"])


def uses_of(kind: str) -> Callable[[Rows, Truth], None]:
    """Zombie keys (or revoked keys used again): one row per alert of the truth, its
    first use the alert's, its count, last use and addresses those of the events."""

    def check(rows: Rows, truth: Truth) -> None:
        expected = {(a["identity_id"], subject_of(a)): a for a in truth.alerts_of(kind)}
        found = {(row["identity_id"], subject_of(row)): row for row in rows}
        assert expected and set(found) == set(expected) and len(rows) == len(found)
        for key, alert in expected.items():
            row = found[key]
            uses = truth.successes_since(key[1], moment(alert["used_at"]))
            assert row["account_id"] == alert["account_id"], key
            assert row["system"] == system_of(alert["account_id"]), key
            assert moment(row["first_use"]) == moment(alert["used_at"]), key
            assert moment(row["last_use"]) == max(use.event_time for use in uses), key
            assert row["uses"] == len(uses), key
            assert row["source_ips"] == sorted({u.source_ip for u in uses if u.source_ip}), key
            reference = "revoked_at" if kind == "used_after_revocation" else "deprovisioned_at"
            assert moment(row[reference]) == moment(alert["deprovisioned_at"]), key
        assert ordered_by(rows, lambda row: row["first_use"])

    return check


def leavers_still_active(rows: Rows, truth: Truth) -> None:
    expected = {pair_key(lag): lag for lag in truth.leaver_lags("open", "overdue")}
    found = {pair_key(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for key, lag in expected.items():
        row = found[key]
        left = truth.left_at[lag["identity_id"]]
        assert row["status"] == lag["status"] and row["system"] == system_of(key[1]), key
        assert row["subject_kind"] == ("credential" if key[2] else "account"), key
        assert (row["left_at"], row["due_at"]) == (left, left + truth.sla), key
        # Whole days elapsed: a leaver of 23:00 is not "1 day" ago at 01:00.
        assert row["days_since_left"] == (truth.watermark - left).days, key
    assert ordered_by(rows, lambda row: (row["system"], -row["days_since_left"]))


def open_overdue(rows: Rows, truth: Truth) -> None:
    expected = {pair_key(lag): lag for lag in truth.leaver_lags("overdue")}
    found = {pair_key(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for key, lag in expected.items():
        row = found[key]
        due = truth.left_at[lag["identity_id"]] + truth.sla
        assert row["due_at"] == due and row["system"] == system_of(key[1]), key
        assert whole_seconds_close(row["seconds_overdue"], seconds(truth.watermark - due)), key
        assert row["seconds_overdue"] > 0, key
    assert ordered_by(rows, lambda row: -row["seconds_overdue"])


def every_system_reached(rows: Rows, truth: Truth) -> None:
    expected: dict[str, Counter[str]] = {}
    missing: dict[str, set[str]] = {}
    for lag in truth.leaver_lags():
        expected.setdefault(lag["identity_id"], Counter())[lag["status"]] += 1
        if lag["status"] in ("open", "overdue"):
            missing.setdefault(lag["identity_id"], set()).add(system_of(lag["account_id"]))
    found = {row["identity_id"]: row for row in rows}
    # Every leaver of the truth, even one whose every pair closed.
    assert expected and set(found) == set(expected) == set(truth.left_at)
    for identity, statuses in expected.items():
        row = found[identity]
        assert row["pairs_due"] == sum(statuses.values()), identity
        assert (row["closed"], row["preceded"]) == (statuses["closed"], statuses["preceded"])
        assert row["still_open"] == statuses["open"] + statuses["overdue"], identity
        assert row["systems_not_reached"] == sorted(missing.get(identity, set())), identity
    assert ordered_by(rows, lambda row: (-row["still_open"], row["identity_id"]))


def sla_this_month(rows: Rows, truth: Truth) -> None:
    # Each leaver pair counts in the month its SLA fell due, once it has: within the
    # SLA when deprovisioned by then (before the leaver too), against it otherwise.
    this_month = truth.watermark.date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    due: Counter[tuple[str, Any]] = Counter()
    within: Counter[tuple[str, Any]] = Counter()
    systems: set[str] = set()
    for lag in truth.leaver_lags():
        due_at = truth.left_at[lag["identity_id"]] + truth.sla
        if due_at > truth.watermark:
            continue
        key = (system_of(lag["account_id"]), due_at.date().replace(day=1))
        systems.add(key[0])
        due[key] += 1
        if lag["status"] == "preceded" or (
            lag["status"] == "closed" and lag["lag_seconds"] <= seconds(truth.sla)
        ):
            within[key] += 1
    found = {row["system"]: row for row in rows}
    assert systems and set(found) == systems
    for system in systems:
        row = found[system]
        for month, label in ((this_month, "this_month"), (last_month, "last_month")):
            count, ok = due[(system, month)], within[(system, month)]
            assert (row[f"due_{label}"], row[f"within_{label}"]) == (count, ok), (system, label)
            share = row[f"share_{label}"]
            assert share == (round(ok / count, 4) if count else None), (system, label)
    # The demo organisation lives in one month: nothing was due last month.
    assert any(row["due_this_month"] for row in rows)


def lag_quantiles(
    group: str, select: Callable[[dict[str, Any]], bool]
) -> Callable[[Rows, Truth], None]:
    """p50 and p95 of the closed pairs' lags per `group`, as quantileExact computes."""

    def check(rows: Rows, truth: Truth) -> None:
        by: dict[str, list[float]] = {}
        for lag in truth.lags:
            if lag["status"] == "closed" and select(lag):
                name = system_of(lag["account_id"]) if group == "system" else lag[group]
                by.setdefault(name, []).append(float(lag["lag_seconds"]))
        found = {row[group]: row for row in rows}
        assert by and set(found) == set(by)
        for name, values in by.items():
            row = found[name]
            assert row["closed"] == len(values), name
            # The same values picked, not recomputed: equal up to float storage.
            assert row["p50_seconds"] == pytest.approx(quantile_exact(values, 0.5)), name
            assert row["p95_seconds"] == pytest.approx(quantile_exact(values, 0.95)), name
            if "worst_seconds" in row:
                assert row["worst_seconds"] == pytest.approx(max(values)), name

    return check


def slowest_identities(rows: Rows, truth: Truth) -> None:
    worst: dict[str, dict[str, Any]] = {}
    closed: Counter[str] = Counter()
    for lag in truth.lags:
        if lag["status"] == "closed":
            closed[lag["identity_id"]] += 1
            best = worst.get(lag["identity_id"])
            if best is None or lag["lag_seconds"] > best["lag_seconds"]:
                worst[lag["identity_id"]] = lag
    expected = sorted(worst.values(), key=lambda lag: (-lag["lag_seconds"], lag["identity_id"]))
    assert [row["identity_id"] for row in rows] == [lag["identity_id"] for lag in expected[:10]]
    for row, lag in zip(rows, expected, strict=False):
        assert row["worst_lag_seconds"] == pytest.approx(lag["lag_seconds"]), row
        assert row["worst_change"] == lag["change_type"], row
        assert row["worst_system"] == system_of(lag["account_id"]), row
        assert row["closed_pairs"] == closed[lag["identity_id"]], row


def uncorrelated(rows: Rows, truth: Truth) -> None:
    # The simulator's unowned accounts are its provisioning robots and admins
    # (ADMINS) and the uncorrelated accounts it plants: no link, directory change or
    # email names them. Each is listed once it acts, with the keys it acted with (or
    # itself, acting without one); a role session's user acts with a key made for a
    # linked account, and is that account's identity's.
    owned = {
        account
        for name, fields in truth.events
        if name in ("IdentityLink", "DirectoryChange")
        for account in [fields.get("account_id"), *(fields.get("accounts") or [])]
        if account
    }
    made_for = {
        fields["target_credential_id"]: fields["target_account_id"] or fields["account_id"]
        for name, fields in truth.events
        if name == "CloudAuditEvent" and fields["kind"] == "credential_created"
    }
    acting: dict[str, set[str]] = {}
    for name, fields in truth.events:
        if name != "CloudAuditEvent":
            continue
        account, key = str(fields["account_id"]), fields["credential_id"]
        if account not in owned and made_for.get(key) not in owned:
            acting.setdefault(account, set()).add(key or account)
        # An account created, changed or granted to is named by the change (a role its
        # creator made, say): unclaimed, it stands for itself.
        target = fields["target_account_id"]
        if fields["kind"] in ACCOUNT_CHANGES and target and target not in owned:
            acting.setdefault(target, set()).add(target)
    assert {a for a, _ in ADMINS.values()} <= set(acting)
    found = {row["account_id"]: row for row in rows}
    assert set(found) == set(acting)
    for account, subjects in acting.items():
        row = found[account]
        assert row["system"] == system_of(account), account
        assert row["subject_ids"] == sorted(subjects) and row["subjects"] == len(subjects)


def orphaned_nhis(rows: Rows, truth: Truth) -> None:
    # The owner of record of each NHI: the directory's owner_change before its owner left.
    owners = {
        fields["identity_id"]: fields["owner_id"]
        for name, fields in truth.events
        if name == "DirectoryChange" and fields["change_type"] == "owner_change"
    }
    expected = {a["identity_id"]: a for a in truth.alerts_of("orphaned_nhi")}
    found = {row["identity_id"]: row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for identity, alert in expected.items():
        row = found[identity]
        assert row["owner_id"] == owners[identity], identity
        assert moment(row["owner_left_at"]) == moment(alert["deprovisioned_at"]), identity
        assert moment(row["owner_left_at"]) == truth.left_at[row["owner_id"]], identity


TIMELINE_IDENTITY = "E00044"  # the identity the doc's timeline query names


def timeline(rows: Rows, truth: Truth) -> None:
    """The timeline of E00044 rebuilt from the events it emitted and the alerts it
    planned, entry by entry: (time, entry, what, subject)."""
    me = TIMELINE_IDENTITY
    accounts = {
        fields["account_id"]
        for name, fields in truth.events
        if name == "IdentityLink" and fields["identity_id"] == me
    }
    # Its keys: those created at its accounts, and role sessions its keys assumed.
    subjects = set(accounts)
    for name, fields in truth.events:
        created = name == "CloudAuditEvent" and fields["kind"] == "credential_created"
        if created and accounts & {fields["target_account_id"], fields["account_id"]}:
            subjects.add(fields["target_credential_id"])
    expected: Counter[Key] = Counter()
    for name, fields in truth.events:
        if name == "DirectoryChange" and fields["identity_id"] == me:
            expected[(fields["event_time"], "directory_change", fields["change_type"], "")] += 1
        elif name == "CloudAuditEvent" and fields["kind"] != "usage":
            credential_kind = fields["kind"] in ("credential_created", "credential_revoked")
            target = fields["target_credential_id"] if credential_kind else None
            target = target or fields["target_account_id"] or fields["account_id"]
            if target in subjects:
                expected[(fields["event_time"], "downstream_change", fields["kind"], target)] += 1
    for alert in truth.alerts:
        if alert["identity_id"] != me:
            continue
        # An alert without a use sits at its deadline.
        at = moment(alert["used_at"] or moment(alert["deprovisioned_at"]) + truth.sla)
        expected[
            (at, "alert", alert["kind"], subject_of(alert) if alert["account_id"] else "")
        ] += 1
        if alert["kind"] in ("used_after_deprovision", "used_after_revocation"):
            for use in truth.successes_since(subject_of(alert), moment(alert["used_at"])):
                expected[(use.event_time, "use_after_deprovision", use.action, use.subject)] += 1
    found = Counter((row["event_time"], row["entry"], row["what"], row["subject"]) for row in rows)
    assert expected and found == expected, (found - expected, expected - found)
    assert ordered_by(rows, lambda row: (row["event_time"], row["entry"]))


def top_source_ips(rows: Rows, truth: Truth) -> None:
    # Every success of a subject an alert of either kind names, from its first use on.
    by_ip: dict[str, set[Key]] = {}
    for alert in truth.alerts_of("used_after_deprovision", "used_after_revocation"):
        for use in truth.successes_since(subject_of(alert), moment(alert["used_at"])):
            if use.source_ip:
                by_ip.setdefault(use.source_ip, set()).add(
                    (use.event_id, alert["identity_id"], use.subject)
                )
    found = {row["source_ip"]: row for row in rows}
    assert by_ip and set(found) == set(by_ip)
    for ip, uses in by_ip.items():
        row = found[ip]
        assert row["uses"] == len(uses), ip
        assert row["identities"] == len({identity for _, identity, _ in uses}), ip
        assert row["credentials"] == len({subject for _, _, subject in uses}), ip
    assert ordered_by(rows, lambda row: (-row["uses"], row["source_ip"]))


def alerts_by_kind(rows: Rows, truth: Truth) -> None:
    kinds: Counter[str] = Counter()
    identities: dict[tuple[str, str | None], set[str]] = {}
    for row in rows:
        kinds[row["kind"]] += row["alerts"]
    assert kinds == Counter(alert["kind"] for alert in truth.alerts)
    # The simulator plans the severities of the entitlement kinds (privileged raises
    # them), no others (the detector's configuration sets them): for those the invariant
    # checked is one severity per kind, so a kind's rows are its identities.
    planned = {alert["kind"] for alert in truth.alerts if "severity" in alert}
    for alert in truth.alerts:
        key = (alert["kind"], alert.get("severity"))
        identities.setdefault(key, set()).add(alert["identity_id"])
    unplanned = [row for row in rows if row["kind"] not in planned]
    assert len({row["kind"] for row in unplanned}) == len(unplanned), "one severity per kind"
    for row in rows:
        key = (row["kind"], row["severity"] if row["kind"] in planned else None)
        assert row["identities"] == len(identities[key]), key
        if row["kind"] in planned:
            assert row["alerts"] == sum(
                1 for a in truth.alerts if (a["kind"], a.get("severity")) == key
            ), key


def state_after_leaving(rows: Rows, truth: Truth) -> None:
    # Planned: a leaver's normal work stops before the leaver, so what is used after
    # it is exactly what the truth's zombie (success) and refused (failure) alerts
    # name; the counts and times are those of the events on those subjects.
    planned = {
        "used_after_deprovision": "success",
        "attempted_after_deprovision": "failure",
    }
    expected: dict[Key, list[Use]] = {}
    for alert in truth.alerts_of(*planned):
        identity, subject = alert["identity_id"], subject_of(alert)
        outcome = planned[alert["kind"]]
        expected[(identity, subject, outcome)] = [
            use
            for use in truth.uses
            if use.subject == subject
            and use.outcome == outcome
            and use.event_time > truth.left_at[identity]
        ]
    found = {(row["identity_id"], row["subject"], row["outcome"]): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for key, uses in expected.items():
        row = found[key]
        assert row["left_at"] == truth.left_at[key[0]], key
        assert row["events"] == len(uses), key
        assert row["first_at"] == min(use.event_time for use in uses), key
        assert row["last_at"] == max(use.event_time for use in uses), key
        assert row["seconds_after_leaving"] > 0, key
    assert ordered_by(rows, lambda row: row["first_at"])


def named_in_doc(slug: str) -> tuple[str, datetime]:
    """The identity and the moment a question's SQL names."""
    sql = next(question.sql for question in questions() if question.slug == slug)
    identity = re.search(r"identity_id = '([^']+)'", sql)
    moment_ = re.search(r"\(at = '([^']+)'\)", sql)
    assert identity and moment_, f"{slug}: no identity or moment named"
    return identity[1], datetime.fromisoformat(moment_[1]).replace(tzinfo=UTC)


def access_at(rows: Rows, truth: Truth) -> None:
    """What the identity held at the moment, against the truth's ledger at that directory
    change: every account, key and entitlement, once."""
    me, at = named_in_doc("access-at")
    (entry,) = [
        entry for entry in truth.ledger if entry["identity_id"] == me and moment(entry["at"]) == at
    ]
    expected = {tuple(item) for item in entry["held"]}
    found = [(row["subject_type"], row["account_id"], row["subject"]) for row in rows]
    assert {"account", "credential", "entitlement"} <= {kind for kind, _, _ in expected}
    assert len(found) == len(set(found)) and set(found) == expected, set(found) ^ expected
    for row in rows:
        assert row["system"] == system_of(row["account_id"]), row
        assert row["valid_from"] <= at and (row["valid_to"] is None or row["valid_to"] > at)
        assert (row["closed_by"] is None) == (row["valid_to"] is None), row
        privileged = row["subject_type"] == "entitlement" and is_privileged(
            row["subject"], DEFAULT_PRIVILEGED
        )
        assert row["privileged"] == privileged, row
    assert ordered_by(
        rows, lambda row: (row["system"], row["account_id"], row["subject_type"], row["subject"])
    )


def retained_entitlement(item: dict[str, Any]) -> Key:
    return (item["identity_id"], item["account_id"], item["entitlement"])


def kept_admin_after_move(rows: Rows, truth: Truth) -> None:
    """The privileged mover_access_retained of the truth (high: privileged), each with
    its mover lag row: overdue while held, closed at the revoke."""
    expected = {
        retained_entitlement(alert): alert
        for alert in truth.alerts_of("mover_access_retained")
        if alert["severity"] == "high"
    }
    lags = {
        retained_entitlement(lag): lag
        for lag in truth.lags
        if lag["change_type"] == "mover" and lag.get("entitlement")
    }
    found = {retained_entitlement(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for key, alert in expected.items():
        row, lag = found[key], lags[key]
        moved = moment(alert["deprovisioned_at"])
        assert (row["moved_at"], row["due_at"]) == (moved, moved + truth.mover_sla), key
        assert row["severity"] == "high" and row["system"] == system_of(key[1]), key
        assert row["granted_at"] is not None and row["granted_at"] < moved, key
        if lag["status"] == "closed":
            assert not row["still_held"], key
            assert row["revoked_at"] == moved + timedelta(seconds=lag["lag_seconds"]), key
        else:
            assert row["still_held"] and row["revoked_at"] is None, (key, lag)
    assert ordered_by(rows, lambda row: (row["moved_at"], row["identity_id"]))


def granted_to_leavers(rows: Rows, truth: Truth) -> None:
    """Every interval of an entitlement of a leaver's account that began after the
    leaver (and before a return), rebuilt from the grants and revokes emitted."""
    spans = truth.entitlement_spans()
    returns = truth.directory("joiner", "reactivate")
    expected: dict[Key, Span] = {}
    for identity, left in truth.directory("leaver"):
        back = [when for who, when in returns if who == identity and when > left]
        accounts = truth.accounts_of(identity)
        for (account, entitlement), intervals in spans.items():
            if account not in accounts:
                continue
            for start, stop in intervals:
                if start > left and not any(when <= start for when in back):
                    expected[(identity, left, account, entitlement, start)] = (start, stop)
    found = {
        (row["identity_id"], row["left_at"], row["account_id"], row["entitlement"],
         row["granted_at"]): row
        for row in rows
    }  # fmt: skip
    assert expected and set(found) == set(expected) and len(rows) == len(found), set(found) ^ set(
        expected
    )
    for key, (start, stop) in expected.items():
        row = found[key]
        assert row["privileged"] == is_privileged(key[3], DEFAULT_PRIVILEGED), key
        assert (row["revoked_at"], row["still_held"]) == (stop, stop is None), key
        assert whole_seconds_close(row["seconds_after_leaving"], seconds(start - key[1])), key
        assert row["system"] == system_of(key[2]), key
    # The truth's findings of the same: a grant of what the account did not hold at the
    # leaver opened an interval after it, at the alert's time or (a grant within the
    # grace) before.
    held_at_leave = {
        (entry["identity_id"], account, subject)
        for entry in truth.ledger
        if entry["change_type"] == "leaver"
        for subject_type, account, subject in entry["held"]
        if subject_type == "entitlement"
    }
    for alert in truth.alerts_of("granted_after_deprovision"):
        key3 = retained_entitlement(alert)
        if alert["entitlement"] and key3 not in held_at_leave:
            starts = [key[4] for key in found if (key[0], key[2], key[3]) == key3]
            assert starts and min(starts) <= moment(alert["used_at"]), alert
    assert ordered_by(rows, lambda row: (not row["privileged"], row["left_at"]))


def granted_after_deprovision(rows: Rows, truth: Truth) -> None:
    """The truth's granted_after_deprovision alerts: an account, a key or an entitlement
    each, at its first grant after the leaver's grace; critical when privileged."""

    def key(item: dict[str, Any]) -> Key:
        return (item["identity_id"], item["account_id"], item["credential_id"], item["entitlement"])

    expected = {key(alert): alert for alert in truth.alerts_of("granted_after_deprovision")}
    found = {key(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for item, alert in expected.items():
        row = found[item]
        left, granted = moment(alert["deprovisioned_at"]), moment(alert["used_at"])
        assert (row["left_at"], row["granted_at"]) == (left, granted), item
        assert row["severity"] == alert["severity"], item
        assert row["privileged"] == (alert["severity"] == "critical"), item
        assert row["seconds_after"] == pytest.approx(seconds(granted - left)), item
        assert row["system"] == system_of(item[1]), item
    assert ordered_by(rows, lambda row: row["granted_at"])


def old_keys_still_used(rows: Rows, truth: Truth) -> None:
    """Every key created (logged, successfully) more than 90 days before one of its
    successful uses, rebuilt from the events emitted: its first creation, its uses from
    the first one past the 90 days."""
    limit = timedelta(days=90)  # the doc's own policy, not a setting
    made: dict[str, tuple[datetime, str, str]] = {}
    for name, fields in truth.events:
        key = fields.get("target_credential_id")
        if (
            name == "CloudAuditEvent"
            and fields["kind"] == "credential_created"
            and fields["outcome"] == "success"
            and key
            and (key not in made or fields["event_time"] < made[key][0])
        ):
            made[key] = (
                fields["event_time"],
                fields["target_account_id"] or fields["account_id"],
                fields["account_id"],
            )
    late: dict[str, list[datetime]] = {}
    for name, fields in truth.events:
        use = (name == "CloudAuditEvent" and fields["kind"] == "usage") or (
            name == "SecretUsageEvent"
        )
        key = fields.get("credential_id")
        if (
            use
            and fields["outcome"] == "success"
            and key in made
            and fields["event_time"] > made[key][0] + limit
        ):
            late.setdefault(key, []).append(fields["event_time"])
    found = {row["credential_id"]: row for row in rows}
    assert late and set(found) == set(late) and len(rows) == len(found), set(found) ^ set(late)
    for key, times in late.items():
        row, (created, account, maker) = found[key], made[key]
        assert (row["created_at"], row["account_id"], row["created_by"]) == (
            created,
            account,
            maker,
        )
        assert (row["first_use_past_90_days"], row["last_use"]) == (min(times), max(times)), key
        assert row["uses_since"] == len(times) and row["system"] == system_of(key), key
        assert row["age_days_at_last_use"] == int(seconds(max(times) - created)) // 86400, key
    # The rotation_overdue findings are the workloads' among them, at the same first use
    # when the simulated rotation age is the doc's 90 days.
    rotation = truth.alerts_of("rotation_overdue")
    assert rotation and truth.options.max_credential_age == limit
    for alert in rotation:
        row = found[alert["credential_id"]]
        assert row["first_use_past_90_days"] == moment(alert["used_at"]), alert
        assert row["created_at"] == moment(alert["deprovisioned_at"]), alert
    assert ordered_by(rows, lambda row: (-row["age_days_at_last_use"], row["credential_id"]))


def stale_credentials(rows: Rows, truth: Truth) -> None:
    """The truth's stale_credential and stale_account alerts, each with its base, its
    deadline, its resolution if planned, and its days unused to then or to now."""

    def key(item: dict[str, Any]) -> Key:
        return (item["kind"], *pair_key(item))

    expected = {key(alert): alert for alert in truth.alerts_of("stale_credential", "stale_account")}
    found = {key(row): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    assert any(alert["resolved_at"] for alert in expected.values()), "a resolved one to check"
    for item, alert in expected.items():
        row = found[item]
        since = moment(alert["deprovisioned_at"])
        resolved = moment(alert["resolved_at"]) if alert["resolved_at"] else None
        assert (row["unused_since"], row["stale_at"]) == (
            since,
            since + truth.options.stale_after,
        ), item
        assert (row["resolved_at"], row["open"]) == (resolved, resolved is None), item
        assert row["days_stale"] == ((resolved or truth.watermark) - since).days, item
        assert row["severity"] == alert["severity"], item
        assert row["identity_kind"] == truth.identity_kind(alert["identity_id"]), item
        assert row["subject_kind"] == ("credential" if alert["credential_id"] else "account")
        assert row["system"] == system_of(subject_of(alert)), item
    assert ordered_by(
        rows,
        lambda row: (not row["open"], -row["days_stale"], row["identity_id"], subject_of(row)),
    )


def unowned_in_use(rows: Rows, truth: Truth) -> None:
    """The truth's uncorrelated_account_active alerts: first seen, used, the privileged
    entitlement the account held at that use (from the grants and revokes emitted) when
    it was raised for one, and who claims the account now (the links emitted)."""
    expected = {
        alert["account_id"]: alert for alert in truth.alerts_of("uncorrelated_account_active")
    }
    found = {row["account_id"]: row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    spans = truth.entitlement_spans()
    for account, alert in expected.items():
        row = found[account]
        first, used = moment(alert["deprovisioned_at"]), moment(alert["used_at"])
        assert (row["first_seen"], row["used_at"]) == (first, used), account
        assert row["days_after_first_seen"] == (used - first).days, account
        assert row["severity"] == alert["severity"] and row["system"] == system_of(account)
        held = {
            entitlement
            for (holder, entitlement), intervals in spans.items()
            if holder == account and is_privileged(entitlement, DEFAULT_PRIVILEGED)
            for start, stop in intervals
            if start <= used and (stop is None or stop > used)
        }
        if alert["severity"] == "medium":
            assert row["privileged_entitlement"] in held, (account, held)
        else:
            assert row["privileged_entitlement"] is None, account
        claims = truth.claims(account)
        claimer = None if not claims or claims[-1][2] else claims[-1][1]
        assert (row["claimed_by"], row["still_unclaimed"]) == (claimer, claimer is None)
    assert ordered_by(
        rows,
        lambda row: (
            not row["still_unclaimed"],
            row["privileged_entitlement"] is None,
            row["used_at"],
            row["account_id"],
        ),
    )


TRUST_PATHS = {
    "creator": "created by the leaver",
    "holder": "held by a workload whose owner left",
}


def roles_outlived_owners(rows: Rows, truth: Truth) -> None:
    """The truth's trust_path_of_leaver alerts, the chain rebuilt from the events: the
    assumption of the role at its time (who assumed it), the role's creation (by which
    account), and which path: the leaver's own (the alert's identity left then) or its
    workload's (an owner of record of the workload left then)."""
    owners: dict[str, list[tuple[datetime, str]]] = {}
    for name, fields in truth.events:
        if name == "DirectoryChange" and fields.get("owner_id"):
            owners.setdefault(fields["identity_id"], []).append(
                (fields["event_time"], fields["owner_id"])
            )
    expected = {
        (a["identity_id"], a["account_id"]): a for a in truth.alerts_of("trust_path_of_leaver")
    }
    found = {(row["identity_id"], row["role"]): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    for (identity, role), alert in expected.items():
        row = found[(identity, role)]
        left, assumed = moment(alert["deprovisioned_at"]), moment(alert["used_at"])
        assert (row["left_at"], row["assumed_at"]) == (left, assumed), role
        assert row["seconds_after"] == pytest.approx(seconds(assumed - left)), role
        assert row["severity"] == alert.get("severity", "high"), role
        assumers = {
            fields["account_id"]
            for name, fields in truth.events
            if name == "CloudAuditEvent"
            and fields["kind"] == "credential_created"
            and fields["target_account_id"] == role
            and fields["event_time"] == assumed
        }
        assert row["assumed_by"] in assumers, (role, assumers)
        creations = sorted(
            (fields["event_time"], fields["account_id"])
            for name, fields in truth.events
            if name == "CloudAuditEvent"
            and fields["kind"] == "account_created"
            and fields["target_account_id"] == role
        )
        creator = creations[0][1] if creations else ""
        assert row["created_by"] == creator, (role, creations)
        if truth.left_at.get(identity) == left:
            assert creator and truth.claims(creator), (role, creator)
            assert (row["path"], row["leaver"]) == (TRUST_PATHS["creator"], creator), role
        else:
            owner = [
                who for when, who in owners.get(identity, []) if truth.left_at.get(who) == left
            ]
            assert owner, (identity, role)
            assert (row["path"], row["leaver"]) == (TRUST_PATHS["holder"], owner[-1]), role
    assert ordered_by(rows, lambda row: (row["assumed_at"], row["role"]))


def shared_credentials(rows: Rows, truth: Truth) -> None:
    """The truth's shared_credential alerts, each pair's parties from the events at its
    two times: the acting accounts of the two successful uses of the key, or the two
    identities that claimed the subject."""
    expected = {(a["identity_id"], subject_of(a)): a for a in truth.alerts_of("shared_credential")}
    found = {(row["identity_id"], row["subject"]): row for row in rows}
    assert expected and set(found) == set(expected) and len(rows) == len(found)
    acting: dict[tuple[str, datetime], set[str]] = {}
    for name, fields in truth.events:
        use = (name == "CloudAuditEvent" and fields["kind"] == "usage") or (
            name == "SecretUsageEvent"
        )
        if use and fields["outcome"] == "success":
            acting.setdefault((fields["credential_id"], fields["event_time"]), set()).add(
                fields["account_id"]
            )
    hows = set()
    for (identity, subject), alert in expected.items():
        row = found[(identity, subject)]
        first, second = moment(alert["deprovisioned_at"]), moment(alert["used_at"])
        assert (row["first_at"], row["second_at"]) == (first, second), subject
        assert row["seconds_apart"] == pytest.approx(seconds(second - first)), subject
        assert second - first <= truth.options.sharing_window, subject
        assert row["severity"] == alert["severity"], subject
        assert row["identity_kind"] == truth.identity_kind(identity), subject
        assert row["system"] == system_of(subject), subject
        by_use = (subject, first) in acting and (subject, second) in acting
        if alert["credential_id"] and by_use:
            assert row["how"] == "uses", subject
            assert row["first_party"] in acting[(subject, first)], subject
            assert row["second_party"] in acting[(subject, second)], subject
            assert row["first_party"] != row["second_party"], subject
        else:
            claims = truth.claims(subject)
            assert row["how"] == "links" and row["second_party"] == identity, subject
            assert (first, row["first_party"], False) in claims, (subject, claims)
            assert (second, identity, False) in claims and row["first_party"] != identity
        hows.add(row["how"])
    assert hows == {"uses", "links"}, hows
    assert ordered_by(rows, lambda row: (row["first_at"], row["identity_id"], row["subject"]))


CHECKS: dict[str, Callable[[Rows, Truth], None]] = {
    "access-after-leaving": access_after_leaving,
    "used-after-deprovision": uses_of("used_after_deprovision"),
    "leavers-still-active": leavers_still_active,
    "open-overdue": open_overdue,
    "every-system-reached": every_system_reached,
    "sla-this-month": sla_this_month,
    "slowest-systems": lag_quantiles("system", lambda lag: lag["change_type"] == "leaver"),
    "lag-by-change-type": lag_quantiles("change_type", lambda lag: True),
    "slowest-identities": slowest_identities,
    "uncorrelated": uncorrelated,
    "orphaned-nhis": orphaned_nhis,
    "timeline": timeline,
    "used-after-revocation": uses_of("used_after_revocation"),
    "top-source-ips": top_source_ips,
    "alerts-by-kind": alerts_by_kind,
    "state-after-leaving": state_after_leaving,
    "access-at": access_at,
    "kept-admin-after-move": kept_admin_after_move,
    "granted-to-leavers": granted_to_leavers,
    "granted-after-deprovision": granted_after_deprovision,
    "old-keys-still-used": old_keys_still_used,
    "stale-credentials": stale_credentials,
    "unowned-in-use": unowned_in_use,
    "roles-outlived-owners": roles_outlived_owners,
    "shared-credentials": shared_credentials,
}


def test_the_file_has_fourteen_questions_or_more_each_with_a_checker() -> None:
    slugs = [question.slug for question in questions()]
    assert len(slugs) >= 14, f"{len(slugs)} questions"
    assert len(set(slugs)) == len(slugs), "a slug used twice"
    assert not set(slugs) - set(CHECKS), f"questions without a checker: {set(slugs) - set(CHECKS)}"
    assert not set(CHECKS) - set(slugs), f"checkers without a question: {set(CHECKS) - set(slugs)}"


@pytest.mark.parametrize("question", [pytest.param(q, id=q.slug) for q in questions()])
def test_each_answer_matches_the_ground_truth(
    org: OrgDatabase, truth: Truth, question: Question
) -> None:
    assert question.sql.lstrip().upper().startswith(("SELECT", "WITH")), question.slug
    assert not FORBIDDEN.search(question.sql), f"{question.slug}: not a plain read-only SELECT"
    assert "now()" not in question.sql.lower(), f"{question.slug}: 'now' is the watermark"
    assert question.slug in CHECKS, f"no checker for {question.slug!r}: {question.question}"
    result = org.clickhouse.query(question.sql)  # the analysts' door: read-only
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    try:
        CHECKS[question.slug](rows, truth)
    except AssertionError as error:
        raise AssertionError(f"{question.slug} ({question.question}): {error}") from error
