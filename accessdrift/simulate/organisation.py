"""A seeded, deterministic organisation: people and workloads, their accounts, keys and
entitlements, joiners, movers and leavers, the downstream changes that follow them
(late, or never), steady usage, and injected zombie credentials.

Everything the generator decides is also written down as ground truth: every lag
pair and every finding that must be detected, derived from the plan by the
contract's rules, not by running the detector; and what each identity held at each
of its directory changes, by the access ledger's rules.

The hygiene findings (stale keys and accounts, keys overdue for rotation, shared
keys and accounts, unlinked accounts in use) are planted with their near misses on
identities of their own, with histories reaching months before the simulated days;
the rest of the organisation cannot raise any within the days. So are the trust paths
of leavers (a role a leaver created, or held by a workload whose owner left, assumed
after the SLA) with theirs.
"""

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, is_privileged
from accessdrift.core.partitions import partition_of
from accessdrift.core.resolver import guess_kind
from accessdrift.errors import ConfigError

START = datetime(2026, 3, 2, tzinfo=UTC)
SYSTEMS = ("aws", "gcp", "okta", "entra", "vault")
# Median provisioning lag per system, in minutes (log-normal, long tail).
MEDIAN_LAG_MINUTES = {"aws": 45.0, "gcp": 90.0, "okta": 4.0, "entra": 40.0, "vault": 20.0}
ADMINS = {
    "aws": ("aws:111122223333:user/provisioner", "aws:AKIAPROVISIONER0001"),
    "gcp": ("gcp:provisioner@corp.iam.gserviceaccount.com", "gcp:key/provisioner"),
    "okta": ("okta:00uadmin", None),
    "entra": ("entra:admin-app", None),
    "vault": ("vault:entity/admin", "vault:accessor/admin"),
}
# What accounts of each system are granted (the spec's entitlement ids): the ordinary
# ones, the privileged ones (DEFAULT_PRIVILEGED matches them), and what a mover's new
# role brings.
ORDINARY = {
    "aws": (
        "aws:policy/ReadOnlyAccess",
        "aws:group/developers",
        "aws:111122223333:policy/deploy-app",
    ),
    "gcp": (
        "gcp:projects/corp-prod#roles/viewer",
        "gcp:projects/corp-dev#roles/storage.objectViewer",
    ),
    "okta": ("okta:group/00g2eng7devs3x1q0h7", "okta:app/0oa5slack9m2x0h7q1d8"),
    "entra": (
        "entra:group/5f2c1d7e-8a3b-4c9d-9e0f-1a2b3c4d5e6f",
        "entra:role/88d8e3e3-8f55-4a1e-953a-9b9898b8876b",  # Directory Readers
    ),
    "vault": ("vault:policy/app-read", "vault:policy/ci-deploy"),
}
PRIVILEGED = {
    "aws": ("aws:policy/AdministratorAccess", "aws:policy/IAMFullAccess"),
    "gcp": ("gcp:projects/corp-prod#roles/owner", "gcp:projects/corp-dev#roles/editor"),
    "okta": ("okta:admin/SUPER_ADMIN", "okta:admin/ORG_ADMIN"),
    "entra": (
        "entra:role/62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
        "entra:role/fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    ),
    "vault": ("vault:policy/root", "vault:policy/admin"),
}
NEW_ROLE = {
    "aws": ("aws:group/data-analysts", "aws:policy/AmazonS3ReadOnlyAccess"),
    "gcp": (
        "gcp:projects/corp-data#roles/bigquery.dataViewer",
        "gcp:projects/corp-data#roles/viewer",
    ),
    "okta": ("okta:group/00g2data4an8lyt0h7",),
    "entra": ("entra:group/9c3e7a41-2b6d-4f08-a5e1-7d3c2b1a0f9e",),
    "vault": ("vault:policy/analytics-read",),
}
# Vault's audit log shows an entity's new list of policies, not what was taken away: no
# raw line could carry a revoke (simulate/vendors.py), so none is simulated there.
UNREVOKABLE = frozenset({"vault"})
# What becomes of a mover's old entitlement the new role does not list, with weights, by
# (deadline inside the simulated days, a system that logs no revoke). Outside the days
# nothing may be kept: a live run would never reach the deadline to judge it.
MOVER_FATES: dict[tuple[bool, bool], tuple[tuple[str, float], ...]] = {
    (True, False): (
        ("revoked", 0.35),
        ("near_miss", 0.1),
        ("regranted", 0.15),
        ("kept", 0.2),
        ("revoked_late", 0.2),
    ),
    (True, True): (("regranted", 0.4), ("kept", 0.6)),
    (False, False): (("revoked", 0.7), ("regranted", 0.3)),
    (False, True): (("regranted", 1.0),),
}
# How far before the end of the simulated days a deadline must fall for a live run to
# reach it (the watermark trails the last event).
MARGIN = timedelta(hours=2)
# The hygiene kinds (issue 26) whose truth carries when the alert was resolved.
STALE_KINDS = frozenset({"stale_credential", "stale_account"})
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
AWS_USER = "aws:111122223333:user/"
TRUST_ROLE = "aws:111122223333:role/"
ADMIN_POLICY = "aws:policy/AdministratorAccess"
# A time inside the days, by its share of their span (``Generator.hygiene``).
At = Callable[[float], datetime]


@dataclass(frozen=True)
class SimulationOptions:
    seed: int = 7
    identities: int = 200
    days: float = 2.0
    events_per_second: float = 0.1  # background usage, in event time
    nhi_share: float = 0.15
    joiner_share: float = 0.05
    mover_share: float = 0.05
    leaver_share: float = 0.12
    never_deprovisioned_share: float = 0.15
    zombie_share: float = 0.35
    revoked_then_used: int = 4
    duplicate_share: float = 0.005
    malformed_share: float = 0.002
    late_directory_share: float = 0.3
    sla: timedelta = timedelta(hours=24)
    grace: timedelta = timedelta(seconds=60)
    # The worker must be told the same (ACCESSDRIFT_MOVER_SLA): a mover's old
    # entitlements are judged at T0 + mover_sla.
    mover_sla: timedelta = timedelta(days=7)
    # The detector's lookback (ACCESSDRIFT_LOOKBACK): a permission change that far
    # before a mover closes its account's lag row as "preceded".
    lookback: timedelta = timedelta(days=7)
    privileged_share: float = 0.12
    granted_after_share: float = 0.35
    late_revoke_share: float = 0.3
    # The hygiene rules the truth is judged by; the worker must be told the same
    # (ACCESSDRIFT_STALE_AFTER, MAX_CREDENTIAL_AGE, SHARING_WINDOW, UNCORRELATED_AFTER).
    # The planted cases are timed by them (``Generator.hygiene``).
    stale_after: timedelta = timedelta(days=90)
    max_credential_age: timedelta = timedelta(days=90)
    sharing_window: timedelta = timedelta(days=1)
    uncorrelated_after: timedelta = timedelta(days=7)


@dataclass
class Account:
    account_id: str
    system: str
    keys: list[str] = field(default_factory=list)
    entitlements: list[str] = field(default_factory=list)


@dataclass
class Identity:
    identity_id: str
    kind: str
    email: str
    accounts: list[Account] = field(default_factory=list)
    owner: str | None = None


# Gives a workload its owner from when it is first linked (``Generator.hygiene``).
Owned = Callable[[Identity, datetime], None]


@dataclass
class Simulation:
    """Events as (arrival time, record name, fields), and the ground truth."""

    events: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    malformed: list[tuple[datetime, str]] = field(default_factory=list)
    lags: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # Per directory change: what its identity held at T0 (see ``ledger_truth``).
    ledger: list[dict[str, Any]] = field(default_factory=list)
    end: datetime = START

    def ordered(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        return sorted(self.events, key=lambda event: (event[0], event[2].get("event_id", "")))


class Generator:
    def __init__(self, options: SimulationOptions) -> None:
        check_hygiene_options(options)
        self.options = options
        self.random = random.Random(options.seed)
        self.simulation = Simulation(end=START + timedelta(days=options.days))
        self.counter = 0
        self.owner_of_account: dict[str, str] = {}
        self.movers: list[tuple[Identity, datetime]] = []
        self.fresh_count = 0

    # -- helpers ----------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.options.seed}-{self.counter:07d}"

    def lag(self, system: str) -> timedelta:
        median = MEDIAN_LAG_MINUTES[system]
        minutes = math.exp(self.random.gauss(math.log(median), 0.9))
        return timedelta(minutes=min(minutes, 60 * 20))  # tail up to 20h

    def emit(
        self, when: datetime, name: str, fields: dict[str, Any], arrival: datetime | None = None
    ) -> None:
        fields = {"event_time": when, **fields}
        self.simulation.events.append((arrival or when, name, fields))
        if self.random.random() < self.options.duplicate_share:
            self.simulation.events.append((arrival or when, name, dict(fields)))

    def cloud(
        self,
        when: datetime,
        system: str,
        account: str,
        credential: str | None,
        action: str,
        kind: str = "usage",
        target_account: str | None = None,
        target_credential: str | None = None,
        ok: bool = True,
        entitlement: str | None = None,
        arrival: datetime | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "event_id": self.next_id("ce"),
            "system": system,
            "account_id": account,
            "credential_id": credential,
            "action": action,
            "kind": kind,
            "target_account_id": target_account,
            "target_credential_id": target_credential,
            "outcome": "success" if ok else "failure",
            "source_ip": f"198.51.100.{self.random.randint(1, 254)}",
        }
        if entitlement is not None:
            # Only grants and revokes carry them: every other line stays as it was.
            fields["entitlement"] = entitlement
            fields["privileged"] = is_privileged(entitlement, DEFAULT_PRIVILEGED)
        self.emit(when, "CloudAuditEvent", fields, arrival=arrival)

    def admin_change(
        self, when: datetime, system: str, kind: str, account: str, credential: str | None = None
    ) -> None:
        actor, key = ADMINS[system]
        if system == "vault" and kind == "credential_created":
            actor, key = account, None  # a Vault token comes from the entity's own login
        self.cloud(
            when,
            system,
            actor,
            key,
            f"{kind}",
            kind,
            target_account=account,
            target_credential=credential,
        )

    def entitlement_change(
        self,
        when: datetime,
        account: Account,
        entitlement: str,
        granted: bool = True,
        arrival: datetime | None = None,
    ) -> None:
        """The system's admin grants (or revokes) an entitlement to (from) the account."""
        kind = "permission_granted" if granted else "permission_revoked"
        actor, key = ADMINS[account.system]
        self.cloud(
            when,
            account.system,
            actor,
            key,
            kind,
            kind,
            target_account=account.account_id,
            entitlement=entitlement,
            arrival=arrival,
        )

    def use(
        self, when: datetime, identity: Identity, account: Account, key: str | None, ok: bool = True
    ) -> None:
        if account.system == "vault":
            self.emit(
                when,
                "SecretUsageEvent",
                {
                    "event_id": self.next_id("su"),
                    "store": "vault",
                    "credential_id": key or f"vault:accessor/{account.account_id}",
                    "account_id": account.account_id,
                    "secret_ref": "secret/data/app",
                    "operation": "read",
                    "outcome": "success" if ok else "failure",
                },
            )
        else:
            self.cloud(when, account.system, account.account_id, key, "ReadResource", ok=ok)

    def directory(
        self, when: datetime, identity: Identity, change_type: str, late: bool = False, **extra: Any
    ) -> None:
        arrival = when
        if late:
            arrival = when + timedelta(hours=self.random.uniform(1, 12))
        self.emit(
            when,
            "DirectoryChange",
            {
                "event_id": self.next_id("dc"),
                "source": "hr",
                "identity_id": identity.identity_id,
                "identity_kind": identity.kind,
                "change_type": change_type,
                "email": identity.email,
                **extra,
            },
            arrival=arrival,
        )

    def truth_lag(
        self,
        identity: Identity,
        change_type: str,
        account: str,
        credential: str | None,
        t0: datetime,
        t1: datetime | None,
        status: str,
        entitlement: str | None = None,
    ) -> None:
        self.simulation.lags.append(
            {
                "identity_id": identity.identity_id,
                "change_type": change_type,
                "account_id": account,
                "credential_id": credential,
                "entitlement": entitlement,
                "status": status,
                "lag_seconds": (t1 - t0).total_seconds() if t1 is not None else None,
            }
        )

    def truth_alert(
        self,
        kind: str,
        identity: Identity,
        account: str | None,
        credential: str | None,
        used: datetime | None,
        reference: datetime,
        entitlement: str | None = None,
        severity: str | None = None,
        resolved: datetime | None = None,
    ) -> None:
        alert: dict[str, Any] = {
            "kind": kind,
            "identity_id": identity.identity_id,
            "account_id": account,
            "credential_id": credential,
            "entitlement": entitlement,
            "used_at": used.isoformat() if used else None,
            "deprovisioned_at": reference.isoformat(),
        }
        if severity is not None:  # the entitlement and hygiene kinds': a rule sets it
            alert["severity"] = severity
        if kind in STALE_KINDS:
            # When the alert's newer version says it stopped being true (evaluate does
            # not score it; it is there to check resolved_at against).
            alert["resolved_at"] = resolved.isoformat() if resolved else None
        self.simulation.alerts.append(alert)

    # -- the organisation ---------------------------------------------------------------------

    def build(self) -> Simulation:
        options = self.options
        humans: list[Identity] = []
        nhis: list[Identity] = []
        for index in range(options.identities):
            is_nhi = self.random.random() < options.nhi_share and humans
            if is_nhi:
                identity = Identity(
                    f"N{index:05d}",
                    "nhi",
                    f"svc{index}@corp.example",
                    owner=self.random.choice(humans).identity_id,
                )
                system = self.random.choice(("aws", "gcp"))
                identity.accounts.append(self.account(identity, system))
                nhis.append(identity)
            else:
                identity = Identity(f"E{index:05d}", "human", f"user{index}@corp.example")
                for system in self.random.sample(SYSTEMS, self.random.randint(2, 3)):
                    identity.accounts.append(self.account(identity, system))
                humans.append(identity)

        end = self.simulation.end
        before = START - timedelta(days=1)
        # Who joins, moves and leaves during the simulated days.
        joiners = set(
            self.random.sample(range(len(humans)), int(len(humans) * options.joiner_share))
        )
        remaining = [index for index in range(len(humans)) if index not in joiners]
        movers = set(self.random.sample(remaining, int(len(humans) * options.mover_share)))
        remaining = [index for index in remaining if index not in movers]
        leavers = set(self.random.sample(remaining, int(len(humans) * options.leaver_share)))
        # Leavers leave early enough that their SLA expires inside the window.
        leave_window = max(timedelta(hours=1), end - START - options.sla - MARGIN)
        # Movers too, when the mover SLA is short enough for the simulated days (else
        # their deadlines fall after the end, and none of them keeps anything).
        mover_window = end - START - options.mover_sla - MARGIN
        left_at: dict[str, datetime] = {}

        for index, identity in enumerate(humans):
            if index in joiners:
                joined = START + (end - START) * self.random.uniform(0.05, 0.5)
                self.joiner(identity, joined)
                self.background(identity, joined + timedelta(hours=21), end)
                continue
            else:
                self.existing(identity, before)
            if index in movers:
                if mover_window > timedelta(hours=1):
                    moved = START + mover_window * self.random.uniform(0.05, 1.0)
                else:
                    moved = START + (end - START) * self.random.uniform(0.1, 0.6)
                self.mover(identity, moved)
            if index in leavers:
                t0 = START + leave_window * self.random.uniform(0.05, 1.0)
                left_at[identity.identity_id] = t0
                self.leaver(identity, t0)
            else:
                self.background(identity, START, end)

        for identity in nhis:
            self.existing(identity, before, owner=identity.owner)
            self.background(identity, START, end)
            if identity.owner in left_at:
                t0 = left_at[identity.owner]
                if self.random.random() < 0.5:
                    new_owner = self.random.choice(
                        [h for h in humans if h.identity_id not in left_at]
                    )
                    self.directory(
                        t0 + timedelta(hours=self.random.uniform(1, 20)),
                        identity,
                        "owner_change",
                        owner_id=new_owner.identity_id,
                    )
                else:
                    self.truth_alert("orphaned_nhi", identity, None, None, None, t0)

        self.revoked_then_used(
            [identity for identity in humans if identity.identity_id not in left_at]
        )
        steady = [
            identity
            for index, identity in enumerate(humans)
            if index not in joiners | movers | leavers
        ]
        # The hygiene cases draw from a generator of their own: the rest of the
        # organisation (and every seed's findings of the other kinds) stays as it was.
        drawn = self.random
        self.random = random.Random(options.seed * 7919 + 26)
        self.hygiene(steady)
        # The trust paths too, from one of their own (the hygiene cases stay as they were).
        self.random = random.Random(options.seed * 7919 + 27)
        self.plant_trust()
        self.random = drawn
        self.admins_uncorrelated()
        self.mover_lags()
        self.simulation.ledger = ledger_truth(self.simulation.events, self.owner_of_account)
        self.malformed()
        return self.simulation

    def account(self, identity: Identity, system: str) -> Account:
        name = identity.identity_id.lower()
        account_id = {
            # Workloads on AWS: IAM users with long-lived keys, the classic NHI.
            "aws": f"aws:111122223333:user/{name}"
            if identity.kind == "human"
            else f"aws:111122223333:user/svc-{name}",
            "gcp": f"gcp:{name}@corp.example"
            if identity.kind == "human"
            else f"gcp:{name}@corp.iam.gserviceaccount.com",
            "okta": f"okta:00u{name}",
            "entra": f"entra:{name}",
            "vault": f"vault:entity/{name}",
        }[system]
        account = Account(account_id, system)
        self.owner_of_account[account_id] = identity.identity_id
        account.entitlements = self.held_before(identity, system)
        # Keys: AWS access keys, GCP service-account keys (people sign in to GCP, they
        # hold no keys), Vault tokens.
        if system == "aws" or (system == "gcp" and identity.kind == "nhi"):
            key_count = 1 if identity.kind == "nhi" else self.random.randint(1, 2)
            for number in range(key_count):
                key = (
                    f"aws:AKIA{name.upper()}{number:04d}"
                    if system == "aws"
                    else f"gcp:key/{name}-{number}"
                )
                account.keys.append(key)
        elif system == "vault":
            account.keys.append(f"vault:accessor/hmac-sha256:{name}")
        return account

    def held_before(self, identity: Identity, system: str) -> list[str]:
        """The entitlements an account holds from before the simulated days."""
        if identity.kind == "nhi":
            # A workload has one role; now and then an over-broad one.
            if self.random.random() < self.options.privileged_share * 1.5:
                return [PRIVILEGED[system][-1 if system == "gcp" else 0]]
            return [ORDINARY[system][-1]]
        held = self.random.sample(ORDINARY[system], self.random.randint(1, 2))
        if self.random.random() < self.options.privileged_share:
            held.append(self.random.choice(PRIVILEGED[system]))
        return held

    def link(self, when: datetime, identity: Identity, account: Account) -> None:
        self.emit(
            when,
            "IdentityLink",
            {
                "source": "inventory",
                "identity_id": identity.identity_id,
                "identity_kind": identity.kind,
                "account_id": account.account_id,
                "removed": False,
            },
        )

    def existing(self, identity: Identity, when: datetime, owner: str | None = None) -> None:
        for account in identity.accounts:
            self.link(when, identity, account)
            for entitlement in account.entitlements:
                self.entitlement_change(when, account, entitlement)
            for key in account.keys:
                self.admin_change(
                    when + timedelta(minutes=1),
                    account.system,
                    "credential_created",
                    account.account_id,
                    key,
                )
        if owner:
            self.directory(when, identity, "owner_change", owner_id=owner)

    def joiner(self, identity: Identity, t0: datetime) -> None:
        self.directory(
            t0, identity, "joiner", accounts=[account.account_id for account in identity.accounts]
        )
        for account in identity.accounts:
            created = t0 + self.lag(account.system)
            self.admin_change(created, account.system, "account_created", account.account_id)
            self.truth_lag(identity, "joiner", account.account_id, None, t0, created, "closed")
            for key in account.keys:
                self.admin_change(
                    created + timedelta(minutes=2),
                    account.system,
                    "credential_created",
                    account.account_id,
                    key,
                )
            for entitlement in account.entitlements:
                self.entitlement_change(created + timedelta(minutes=3), account, entitlement)

    def mover(self, identity: Identity, t0: datetime) -> None:
        """A role change: the new role's entitlement is granted; each old one is listed by
        the new role, or has a fate (``MOVER_FATES``): revoked in time (a minute before
        the deadline, for some), granted again, or kept past T0 + mover SLA (revoked
        late, or not at all): those are the findings. When the deadline falls after the
        simulated days, nothing is kept."""
        end = self.simulation.end
        deadline = t0 + self.options.mover_sla
        judged = deadline <= end - MARGIN
        # What must come in time comes before the deadline, and before the end.
        latest = min(deadline, end) - timedelta(minutes=5)
        account = self.random.choice(identity.accounts)
        new = self.random.choice(NEW_ROLE[account.system])
        listing = self.random.random() < 0.5
        listed = [new]
        changes: list[tuple[datetime, Account, str, bool]] = []  # (when, account, id, granted)
        for old_account in identity.accounts:
            for entitlement in old_account.entitlements:
                if listing and self.random.random() < 0.25:
                    listed.append(entitlement)  # the new role needs it too
                    continue
                fates = MOVER_FATES[(judged, old_account.system in UNREVOKABLE)]
                fate = self.random.choices([f for f, _ in fates], [w for _, w in fates])[0]
                in_time = t0 + (latest - t0) * self.random.uniform(0.01, 0.8)
                revoked: datetime | None = None
                if fate == "revoked":
                    changes.append((in_time, old_account, entitlement, False))
                elif fate == "near_miss":
                    changes.append(
                        (deadline - timedelta(minutes=1), old_account, entitlement, False)
                    )
                elif fate == "regranted":
                    if old_account.system not in UNREVOKABLE and self.random.random() < 0.3:
                        # Taken away, then given back.
                        changes.append((in_time, old_account, entitlement, False))
                        in_time += timedelta(minutes=10)
                    changes.append((in_time, old_account, entitlement, True))
                    continue
                elif fate == "revoked_late":
                    revoked = deadline + timedelta(minutes=self.random.uniform(10, 360))
                    if revoked < end:
                        changes.append((revoked, old_account, entitlement, False))
                    else:
                        revoked = None
                if fate in ("kept", "revoked_late"):
                    self.retained(identity, old_account, entitlement, t0, revoked)
        attributes = {"department": "new-team"}
        if listing:
            attributes["entitlements"] = ",".join(listed)
        self.directory(t0, identity, "mover", attributes=attributes)
        self.movers.append((identity, t0))
        self.entitlement_change(t0 + self.lag(account.system), account, new)
        for when, old_account, entitlement, granted in changes:
            self.entitlement_change(when, old_account, entitlement, granted)
            if not granted and entitlement in old_account.entitlements:
                old_account.entitlements.remove(entitlement)
        account.entitlements.append(new)

    def retained(
        self,
        identity: Identity,
        account: Account,
        entitlement: str,
        t0: datetime,
        revoked: datetime | None,
    ) -> None:
        """An old entitlement still held at the mover's deadline: the finding, and its lag
        row (overdue, or closed by the late revoke)."""
        privileged = is_privileged(entitlement, DEFAULT_PRIVILEGED)
        self.truth_alert(
            "mover_access_retained",
            identity,
            account.account_id,
            None,
            None,
            t0,
            entitlement=entitlement,
            severity="high" if privileged else "medium",
        )
        status = "closed" if revoked is not None else "overdue"
        self.truth_lag(
            identity, "mover", account.account_id, None, t0, revoked, status, entitlement
        )

    def mover_lags(self) -> None:
        """Each mover's lag row per account (the contract's detection 1): closed by the
        first permission change on the account at or after T0, or "preceded" by the last
        one in the lookback before it (after the identity's previous directory change);
        none without either. From the changes as emitted: grants and revokes of
        entitlements are such changes too."""
        changes: dict[str, set[tuple[datetime, str]]] = defaultdict(set)
        directory: dict[str, set[datetime]] = defaultdict(set)
        for _, name, fields in self.simulation.events:
            if name == "DirectoryChange":
                directory[fields["identity_id"]].add(fields["event_time"])
            elif (
                name == "CloudAuditEvent"
                and fields["kind"] in ("permission_granted", "permission_revoked")
                and fields["outcome"] == "success"
            ):
                account = fields["target_account_id"] or fields["account_id"]
                changes[account].add((fields["event_time"], fields["event_id"]))
        for identity, t0 in self.movers:
            earlier = [when for when in directory[identity.identity_id] if when < t0]
            previous = max(earlier) if earlier else None
            for account in identity.accounts:
                times = sorted(when for when, _ in changes[account.account_id])
                after = [when for when in times if when >= t0]
                before = [
                    when
                    for when in times
                    if t0 - self.options.lookback <= when < t0
                    and (previous is None or when > previous)
                ]
                if after:
                    self.truth_lag(
                        identity, "mover", account.account_id, None, t0, after[0], "closed"
                    )
                elif before:
                    self.truth_lag(
                        identity, "mover", account.account_id, None, t0, before[-1], "preceded"
                    )

    def leaver(self, identity: Identity, t0: datetime) -> None:
        options = self.options
        late = self.random.random() < options.late_directory_share
        self.directory(t0, identity, "leaver", late=late)
        deadline = t0 + options.sla
        # Normal work stops before the termination takes effect.
        self.background(identity, START, t0 - timedelta(minutes=10))
        zombie = self.random.random() < options.zombie_share
        zombie_done = False
        keyed = [account for account in identity.accounts if account.keys]
        # A zombie's first key is the one IT forgets.
        forgotten_key = keyed[0].keys[0] if zombie and keyed else None
        aws = next((account for account in identity.accounts if account.system == "aws"), None)
        if zombie and aws is not None and aws.keys and self.random.random() < 0.5:
            self.session_zombie(identity, aws, t0)
        for account in identity.accounts:
            roll = self.random.random()
            if roll < options.never_deprovisioned_share:
                disabled = None
            elif roll < options.never_deprovisioned_share + 0.05:
                disabled = t0 - timedelta(minutes=self.random.uniform(5, 120))  # IT acted first
            else:
                disabled = t0 + self.lag(account.system) * 3
            self.disable(identity, account, t0, disabled)
            for key in account.keys:
                forgotten = key == forgotten_key or self.random.random() < 0.2
                if forgotten:
                    self.truth_lag(identity, "leaver", account.account_id, key, t0, None, "overdue")
                    self.truth_alert(
                        "deprovision_overdue", identity, account.account_id, key, None, t0
                    )
                    if zombie and not zombie_done:
                        # The forgotten key keeps working: used hours after the leaver.
                        used = t0 + timedelta(hours=self.random.uniform(1, 6))
                        self.use(used, identity, account, key)
                        self.use(used + timedelta(minutes=30), identity, account, key)
                        self.truth_alert(
                            "used_after_deprovision", identity, account.account_id, key, used, t0
                        )
                        denied = used + timedelta(hours=1)
                        self.use(denied, identity, account, key, ok=False)
                        self.truth_alert(
                            "attempted_after_deprovision",
                            identity,
                            account.account_id,
                            key,
                            denied,
                            t0,
                        )
                        zombie_done = True
                else:
                    revoked = t0 + self.lag(account.system) * 2
                    self.admin_change(
                        revoked, account.system, "credential_revoked", account.account_id, key
                    )
                    self.truth_lag(
                        identity, "leaver", account.account_id, key, t0, revoked, "closed"
                    )
                    if revoked > deadline:
                        self.truth_alert(
                            "deprovision_overdue", identity, account.account_id, key, None, t0
                        )

        self.leaver_entitlements(identity, t0)

    def disable(
        self, identity: Identity, account: Account, t0: datetime, disabled: datetime | None
    ) -> None:
        """A leaver's account disabled then (before T0: IT acted first), or never."""
        deadline = t0 + self.options.sla
        if disabled is not None and disabled < self.simulation.end:
            self.admin_change(disabled, account.system, "account_disabled", account.account_id)
            status = "preceded" if disabled < t0 else "closed"
            self.truth_lag(identity, "leaver", account.account_id, None, t0, disabled, status)
            if disabled > deadline:
                self.truth_alert(
                    "deprovision_overdue", identity, account.account_id, None, None, t0
                )
        else:
            self.truth_lag(identity, "leaver", account.account_id, None, t0, None, "overdue")
            self.truth_alert("deprovision_overdue", identity, account.account_id, None, None, t0)

    def leaver_entitlements(self, identity: Identity, t0: datetime) -> None:
        """Most of a leaver's entitlements are revoked (some logged late, some never); now
        and then one is granted a little before T0 or within the grace after it (no
        finding), and for some leavers an account is created, a key made or an
        entitlement granted after T0 + grace: granted_after_deprovision, one per subject,
        at its earliest event."""
        options = self.options
        end = self.simulation.end
        for account in identity.accounts:
            for entitlement in list(account.entitlements):
                if self.random.random() < 0.35 or account.system in UNREVOKABLE:
                    continue  # forgotten: the ledger still shows it
                revoked = t0 + self.lag(account.system) * 2
                if revoked >= end:
                    continue
                arrival = None
                if self.random.random() < options.late_revoke_share:
                    arrival = revoked + timedelta(hours=self.random.uniform(1, 12))
                self.entitlement_change(revoked, account, entitlement, False, arrival)
                account.entitlements.remove(entitlement)
        if self.random.random() < 0.2:
            account = self.random.choice(identity.accounts)
            just_before = t0 - timedelta(minutes=self.random.uniform(1, 10))
            self.entitlement_change(just_before, account, self.unheld(account))
        if self.random.random() < 0.2:
            account = self.random.choice(identity.accounts)
            within_grace = t0 + options.grace / 2
            self.entitlement_change(within_grace, account, self.unheld(account))
        if self.random.random() >= options.granted_after_share:
            return
        times = sorted(
            t0 + options.grace + timedelta(minutes=self.random.uniform(5, 20 * 60))
            for _ in range(self.random.randint(1, 2))
        )
        for when in times:
            if when >= end:
                continue
            choices = ["grant", "grant"]
            aws = next((a for a in identity.accounts if a.system == "aws"), None)
            if aws is not None:
                choices.append("credential")
            missing = [system for system in SYSTEMS if system not in self.systems(identity)]
            if missing:
                choices.append("account")
            choice = self.random.choice(choices)
            if choice == "grant":
                self.grant_after(identity, t0, when)
            elif choice == "credential" and aws is not None:
                key = f"aws:AKIA{identity.identity_id.upper()}{len(aws.keys) + 90:04d}"
                aws.keys.append(key)
                self.admin_change(when, "aws", "credential_created", aws.account_id, key)
                self.truth_alert(
                    "granted_after_deprovision",
                    identity,
                    aws.account_id,
                    key,
                    when,
                    t0,
                    severity="high",
                )
            else:
                self.account_after(identity, t0, when, self.random.choice(missing))

    def systems(self, identity: Identity) -> set[str]:
        return {account.system for account in identity.accounts}

    def unheld(self, account: Account) -> str:
        """An ordinary entitlement of the account's system it does not hold now."""
        free = [e for e in ORDINARY[account.system] if e not in account.entitlements]
        entitlement = self.random.choice(free or list(NEW_ROLE[account.system]))
        account.entitlements.append(entitlement)
        return entitlement

    def grant_after(self, identity: Identity, t0: datetime, when: datetime) -> None:
        """An entitlement granted to a leaver's account; now and then granted twice (the
        finding is at the first), or taken back later (it stands)."""
        account = self.random.choice(identity.accounts)
        if self.random.random() < 0.4:
            entitlement = self.random.choice(PRIVILEGED[account.system])
        else:
            entitlement = self.random.choice(ORDINARY[account.system])
        # One still held (never revoked) counts the same: a grant is what is judged, not
        # whether it changed what the ledger shows.
        if entitlement not in account.entitlements:
            account.entitlements.append(entitlement)
        self.entitlement_change(when, account, entitlement)
        again = when + timedelta(minutes=self.random.uniform(30, 180))
        roll = self.random.random()
        if roll < 0.25 and again < self.simulation.end:
            self.entitlement_change(again, account, entitlement)
        elif roll < 0.5 and again < self.simulation.end and account.system not in UNREVOKABLE:
            self.entitlement_change(again, account, entitlement, granted=False)
            account.entitlements.remove(entitlement)
        if any(
            alert["kind"] == "granted_after_deprovision"
            and alert["identity_id"] == identity.identity_id
            and alert["account_id"] == account.account_id
            and alert["entitlement"] == entitlement
            for alert in self.simulation.alerts
        ):
            return  # granted after T0 already, earlier: that one is the finding's time
        privileged = is_privileged(entitlement, DEFAULT_PRIVILEGED)
        self.truth_alert(
            "granted_after_deprovision",
            identity,
            account.account_id,
            None,
            when,
            t0,
            entitlement=entitlement,
            severity="critical" if privileged else "high",
        )

    def account_after(self, identity: Identity, t0: datetime, when: datetime, system: str) -> None:
        """An account created for a leaver in a system it had none in (linked by the
        inventory as it appears). It is the leaver's like the others: disabled late, or
        never, it is overdue too."""
        name = identity.identity_id.lower()
        account_id = {
            "aws": f"aws:111122223333:user/{name}",
            "gcp": f"gcp:{name}@corp.example",
            "okta": f"okta:00u{name}",
            "entra": f"entra:{name}",
            "vault": f"vault:entity/{name}",
        }[system]
        account = Account(account_id, system)
        self.owner_of_account[account_id] = identity.identity_id
        identity.accounts.append(account)
        self.link(when, identity, account)
        self.admin_change(when, system, "account_created", account_id)
        self.truth_alert(
            "granted_after_deprovision", identity, account_id, None, when, t0, severity="high"
        )
        disabled = None
        if self.random.random() < 0.5:
            disabled = when + timedelta(minutes=self.random.uniform(30, 240))
        self.disable(identity, account, t0, disabled)

    def session_zombie(self, identity: Identity, account: Account, t0: datetime) -> None:
        """A role session issued before the leaver, still used after it."""
        session_key = f"aws:ASIA{identity.identity_id.upper()}SESSION"
        role_session = f"aws:111122223333:assumed-role/Deploy/{identity.identity_id.lower()}"
        issued = t0 - timedelta(minutes=self.random.uniform(20, 50))
        self.cloud(
            issued,
            "aws",
            account.account_id,
            account.keys[0],
            "AssumeRole",
            "credential_created",
            # The role it acts as (CloudTrail's roleArn): the session stays its assumer's.
            target_account="aws:111122223333:role/Deploy",
            target_credential=session_key,
        )
        used = t0 + timedelta(minutes=self.random.uniform(5, 50))
        self.cloud(used, "aws", role_session, session_key, "PutObject")
        self.truth_alert("used_after_deprovision", identity, role_session, session_key, used, t0)

    def background(self, identity: Identity, start: datetime, stop: datetime) -> None:
        seconds = (stop - start).total_seconds()
        if seconds <= 0:
            return
        per_identity = self.options.events_per_second / max(self.options.identities, 1)
        count = int(seconds * per_identity) + 1
        for _ in range(count):
            when = start + timedelta(seconds=self.random.uniform(0, seconds))
            account = self.random.choice(identity.accounts)
            key = self.random.choice(account.keys) if account.keys else None
            self.use(when, identity, account, key)

    def revoked_then_used(self, candidates: list[Identity]) -> None:
        keyed = [
            (identity, account)
            for identity in candidates
            for account in identity.accounts
            if account.keys and account.system in ("aws", "gcp")
        ]
        for identity, account in self.random.sample(
            keyed, min(self.options.revoked_then_used, len(keyed))
        ):
            key = account.keys[0]
            revoked = START + timedelta(hours=self.random.uniform(2, 20))
            self.admin_change(
                revoked, account.system, "credential_revoked", account.account_id, key
            )
            used = revoked + timedelta(minutes=self.random.uniform(5, 120))
            self.use(used, identity, account, key)
            self.truth_alert(
                "used_after_revocation", identity, account.account_id, key, used, revoked
            )
            # The rotated-away key must not be used in the background after that.
            self.simulation.events = [
                event
                for event in self.simulation.events
                if not (
                    event[2].get("credential_id") == key
                    and event[2].get("kind") == "usage"
                    and event[2]["event_time"] > revoked
                    and event[2]["event_time"] != used
                )
            ]
            account.keys = account.keys[1:] or account.keys

    # -- hygiene (issue 26): stale, rotation, sharing, uncorrelated --------------------------
    #
    # Every account and key of the organisation above is first seen a day before the
    # days (or during them), nothing is linked to two identities and no key is used by
    # another account: none of it can become stale, overdue for rotation or shared
    # within the days (``check_hygiene_options`` keeps the days short enough). The cases
    # and their near misses are planted here, on identities of their own (active: no
    # leaver, no suspend, but the one leaver near miss) with histories reaching months
    # before the days, each timed by the options' rules. Keys are the accounts' own
    # (CreateAccessKey by the IAM user itself), so that no administrator is seen before
    # the day before the days: the administrators are unlinked accounts themselves.

    def fresh(self, kind: str) -> Identity:
        """An identity of the hygiene cases, numbered after the organisation's."""
        index = self.options.identities + self.fresh_count
        self.fresh_count += 1
        if kind == "nhi":
            return Identity(f"N{index:05d}", "nhi", f"svc{index}@corp.example")
        return Identity(f"E{index:05d}", "human", f"user{index}@corp.example")

    def held(self, identity: Identity, tag: str, linked: datetime, system: str = "aws") -> Account:
        """A dedicated account of the identity, linked by the inventory at ``linked``."""
        name = identity.identity_id.lower()
        account_id = {
            "aws": f"{AWS_USER}{'svc-' if identity.kind == 'nhi' else ''}{name}-{tag}",
            "gcp": f"gcp:{name}-{tag}@corp.iam.gserviceaccount.com",
            "okta": f"okta:00u{name}{tag}",
        }[system]
        account = Account(account_id, system)
        self.owner_of_account[account_id] = identity.identity_id
        identity.accounts.append(account)
        self.link(linked, identity, account)
        return account

    def own_key(self, when: datetime, account: Account, tag: str) -> str:
        """The IAM user makes itself an access key (a use of the account, not of the key)."""
        key = f"aws:AKIA{account.account_id.rsplit('/', 1)[-1].upper().replace('-', '')}{tag}"
        account.keys.append(key)
        self.cloud(
            when,
            "aws",
            account.account_id,
            None,
            "CreateAccessKey",
            "credential_created",
            target_account=account.account_id,
            target_credential=key,
        )
        return key

    def drop_key(self, when: datetime, account: Account, key: str) -> None:
        self.cloud(
            when,
            "aws",
            account.account_id,
            None,
            "DeleteAccessKey",
            "credential_revoked",
            target_account=account.account_id,
            target_credential=key,
        )

    def act(
        self,
        when: datetime,
        account: str,
        key: str | None,
        ok: bool = True,
        system: str = "aws",
    ) -> None:
        """A use by ``account`` (with ``key``: its own, or another's)."""
        self.cloud(when, system, account, key, "ReadResource", ok=ok)

    def steady(self, account: Account, key: str, since: datetime, until: datetime) -> None:
        """Uses of the key from ``since``, a third of the shorter hygiene limit apart, all
        before ``until``: neither the key nor its account goes stale meanwhile."""
        step = min(self.options.stale_after, self.options.max_credential_age) / 3
        when = since
        while when < until:
            self.act(when, account.account_id, key)
            when += step

    def hygiene(self, steady: list[Identity]) -> None:
        span = self.simulation.end - START - MARGIN

        def at(share: float) -> datetime:
            """A time inside the days: deadlines there are reached by a live run."""
            return START + span * share

        def owned(identity: Identity, linked: datetime) -> None:
            # A workload's owner is a person who stays (no orphaned_nhi).
            if steady:
                owner = self.random.choice(steady)
                self.directory(
                    linked + timedelta(minutes=1),
                    identity,
                    "owner_change",
                    owner_id=owner.identity_id,
                )

        self.plant_stale(at, owned)
        self.plant_rotation(at, owned)
        foreign = self.plant_shared(at, owned)
        self.plant_links(foreign)
        self.plant_uncorrelated(at)

    def plant_stale(self, at: At, owned: Owned) -> None:
        """stale_credential and stale_account, with near misses: used again a little
        before the deadline, revoked before it, the account deleted before it, and a
        leaver's forgotten key (deprovision_overdue, never stale)."""
        options = self.options
        stale_after = options.stale_after
        shortest = min(stale_after, options.max_credential_age)

        # A workload's old key, replaced by a new one and never revoked: stale inside
        # the days (medium); the account stays in use with the new key.
        workload = self.fresh("nhi")
        deadline = at(0.3)
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(workload, "etl", created - HOUR)
        owned(workload, created - HOUR)
        old = self.own_key(created, account, "0")
        self.act(created + HOUR, account.account_id, old)
        self.act(last, account.account_id, old)
        renewed = max(START - shortest / 2, created + 2 * HOUR)
        new = self.own_key(renewed, account, "1")
        for when in (renewed + HOUR, at(0.1), at(0.7)):
            self.act(when, account.account_id, new)
        self.truth_alert(
            "stale_credential", workload, account.account_id, old, None, last, severity="medium"
        )
        # A service account linked and never used since: stale (medium) at first sight
        # plus the limit.
        sighted = at(0.45) - stale_after
        unused = self.held(workload, "sync", sighted, "gcp")
        self.truth_alert(
            "stale_account", workload, unused.account_id, None, None, sighted, severity="medium"
        )

        person = self.fresh("human")
        # A person's key unused for the limit, stale before the days, used again in them:
        # the alert stands, resolved then (low). The account is used without it.
        deadline = START - 12 * HOUR
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(person, "reports", created - HOUR)
        key = self.own_key(created, account, "0")
        self.act(created + HOUR, account.account_id, key)
        self.act(last, account.account_id, key)
        for when in (START - shortest / 2, at(0.2)):
            self.act(when, account.account_id, None)  # the console: no key
        self.act(at(0.5), account.account_id, key)
        self.truth_alert(
            "stale_credential",
            person,
            account.account_id,
            key,
            None,
            last,
            severity="low",
            resolved=at(0.5),
        )
        # Near miss: used again an hour before its deadline (key and account).
        deadline = at(0.4)
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(person, "batch", created - HOUR)
        key = self.own_key(created, account, "0")
        for when in (created + HOUR, last, deadline - HOUR):
            self.act(when, account.account_id, key)
        # Near miss: revoked an hour before its deadline; the account used meanwhile.
        deadline = at(0.5)
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(person, "archive", created - HOUR)
        key = self.own_key(created, account, "0")
        self.act(created + HOUR, account.account_id, key)
        self.act(last, account.account_id, key)
        self.act(at(0.1), account.account_id, None)
        self.drop_key(deadline - HOUR, account, key)
        # Near miss: the account deleted before the deadline of it and of its key.
        deadline = at(0.55)
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(person, "legacy", created - HOUR)
        key = self.own_key(created, account, "0")
        self.act(created + HOUR, account.account_id, key)
        self.act(last, account.account_id, key)
        self.admin_change(at(0.25), "aws", "account_deleted", account.account_id)
        # An Okta account not used since the limit before five days before the days:
        # stale then (low).
        last = START - 5 * DAY - stale_after
        linked = last - shortest / 3
        okta = self.held(person, "ops", linked, "okta")
        self.act(linked + HOUR, okta.account_id, None, system="okta")
        self.act(last, okta.account_id, None, system="okta")
        self.truth_alert("stale_account", person, okta.account_id, None, None, last, severity="low")
        # Not rotation_overdue: a person's key far older than the limit, used in the days.
        created = START - options.max_credential_age - 20 * DAY
        account = self.held(person, "tools", created - HOUR)
        key = self.own_key(created, account, "0")
        self.steady(account, key, created + HOUR, START)
        self.act(at(0.35), account.account_id, key)

        # Near miss: a leaver's key and account go unused past the limit, after the
        # leaver: not stale (the identity left), deprovision_overdue both.
        leaver = self.fresh("human")
        deadline = at(0.3)
        last = deadline - stale_after
        created = last - shortest / 3
        account = self.held(leaver, "main", created - HOUR)
        key = self.own_key(created, account, "0")
        self.act(created + HOUR, account.account_id, key)
        self.act(last, account.account_id, key)
        t0 = at(0.05)  # in the days, before the deadline of its key and account
        self.directory(t0, leaver, "leaver")
        for credential in (None, key):
            self.truth_lag(leaver, "leaver", account.account_id, credential, t0, None, "overdue")
            self.truth_alert(
                "deprovision_overdue", leaver, account.account_id, credential, None, t0
            )

    def plant_rotation(self, at: At, owned: Owned) -> None:
        """rotation_overdue: a workload's key used past the limit (medium; high on an
        account granted AdministratorAccess); near misses: used only before the limit,
        rotated a day before it."""
        options = self.options
        limit = options.max_credential_age
        workload = self.fresh("nhi")
        gap = min(10 * DAY, options.stale_after / 4)

        created = START - limit - gap
        account = self.held(workload, "deploy", created - HOUR)
        owned(workload, created - HOUR)
        key = self.own_key(created, account, "0")
        self.steady(account, key, created + HOUR, created + limit - HOUR)
        for when in (created + limit - HOUR, at(0.15), at(0.5)):
            self.act(when, account.account_id, key)
        self.truth_alert(
            "rotation_overdue",
            workload,
            account.account_id,
            key,
            at(0.15),
            created,
            severity="medium",
        )

        created = START - limit - gap + 2 * HOUR
        account = self.held(workload, "admin", created - HOUR)
        key = self.own_key(created, account, "0")
        self.steady(account, key, created + HOUR, created + limit - HOUR)
        self.act(created + limit - HOUR, account.account_id, key)
        account.entitlements.append(ADMIN_POLICY)
        self.entitlement_change(at(0.05), account, ADMIN_POLICY)
        self.act(at(0.2), account.account_id, key)
        self.truth_alert(
            "rotation_overdue", workload, account.account_id, key, at(0.2), created, severity="high"
        )

        # Near miss: the limit falls inside the days; used only before it.
        created = at(0.4) - limit
        account = self.held(workload, "report", created - HOUR)
        key = self.own_key(created, account, "0")
        self.steady(account, key, created + HOUR, START)
        for when in (at(0.1), at(0.3)):
            self.act(when, account.account_id, key)

        # Near miss: rotated a day before the limit, the old key revoked an hour later,
        # only the new one used after.
        created = at(0.45) - limit
        rotated = created + limit - DAY
        account = self.held(workload, "sync", created - HOUR)
        old = self.own_key(created, account, "0")
        self.steady(account, old, created + HOUR, rotated)
        new = self.own_key(rotated, account, "1")
        self.drop_key(rotated + HOUR, account, old)
        self.steady(account, new, rotated + 2 * HOUR, START)
        self.act(at(0.6), account.account_id, new)

    def plant_shared(self, at: At, owned: Owned) -> list[Identity]:
        """shared_credential by uses: a workload's key and a person's key used by another
        person's account within the window (medium, high; one at exactly the window);
        near misses: a foreign use a window and six hours after the only own use, a
        failed foreign use, a use by another account of the same identity. Returns the
        two people whose accounts use the others' keys."""
        options = self.options
        window = options.sharing_window
        shortest = min(options.stale_after, options.max_credential_age)
        end = self.simulation.end
        first = self.fresh("human")
        second = self.fresh("human")
        since = START - options.stale_after / 3
        borrower = self.held(first, "main", since).account_id
        other = self.held(second, "main", since).account_id

        workload = self.fresh("nhi")
        since = START - shortest / 4
        account = self.held(workload, "queue", since)
        owned(workload, since)
        key = self.own_key(since + HOUR, account, "0")
        self.act(START - shortest / 8, account.account_id, key)
        own = at(0.2)
        borrowed = own + min(window / 2, at(0.2) - START)
        self.act(own, account.account_id, key)
        self.act(borrowed, borrower, key)
        self.act(at(0.8), account.account_id, key)
        self.act(at(0.9), borrower, key)
        self.truth_alert(
            "shared_credential", workload, account.account_id, key, borrowed, own, severity="medium"
        )
        # Near miss: the foreign use fails.
        account = self.held(workload, "cron", since)
        key = self.own_key(since + HOUR, account, "0")
        self.act(at(0.3), account.account_id, key)
        self.act(at(0.3) + HOUR, borrower, key, ok=False)
        self.act(at(0.6), account.account_id, key)
        # Near miss: used once by its owner, once by another a window and 6 hours later.
        account = self.held(workload, "stream", since)
        key = self.own_key(since + HOUR, account, "0")
        apart = window + 6 * HOUR
        once = at(0.05) if at(0.05) + apart <= end - HOUR else START - apart - 6 * HOUR
        self.act(once, account.account_id, key)
        self.act(once + apart, other, key)

        person = self.fresh("human")
        account = self.held(person, "ops", since)
        key = self.own_key(since + HOUR, account, "0")
        self.act(START - shortest / 8, account.account_id, key)
        own = at(0.15)
        borrowed = own + min(window / 2, at(0.15) - START)
        self.act(own, account.account_id, key)
        self.act(borrowed, other, key)
        self.act(at(0.7), account.account_id, key)
        self.truth_alert(
            "shared_credential", person, account.account_id, key, borrowed, own, severity="high"
        )
        # Exactly a window apart: shared (|t1 - t2| <= the window).
        account = self.held(person, "ci", since)
        key = self.own_key(since + HOUR, account, "0")
        own = at(0.1) if at(0.1) + window <= end - HOUR else START - window - 2 * HOUR
        self.act(own, account.account_id, key)
        self.act(own + window, borrower, key)
        self.truth_alert(
            "shared_credential",
            person,
            account.account_id,
            key,
            own + window,
            own,
            severity="high",
        )
        # Near miss: the key of one of the person's accounts used by another of them.
        account = self.held(person, "build", since)
        sibling = self.held(person, "deploy", since)
        key = self.own_key(since + HOUR, account, "0")
        self.act(at(0.25), account.account_id, key)
        self.act(at(0.25) + HOUR, sibling.account_id, key)
        return [first, second, person]

    def plant_links(self, people: list[Identity]) -> None:
        """shared_credential by links: an account linked to a second identity within the
        window while the first link stands (on the later one); near misses: two windows
        apart, the first link removed before the second."""
        options = self.options
        window = options.sharing_window
        first, second, third = people
        linked = START - min(options.stale_after, options.max_credential_age) / 4 - 2 * DAY

        def shared(name: str, identity: Identity, when: datetime, removed: bool = False) -> None:
            self.owner_of_account[name] = identity.identity_id
            self.emit(
                when,
                "IdentityLink",
                {
                    "source": "inventory",
                    "identity_id": identity.identity_id,
                    "identity_kind": identity.kind,
                    "account_id": name,
                    "removed": removed,
                },
            )

        account = f"{AWS_USER}shared-oncall"
        later = linked + min(5 * HOUR, window / 2)
        shared(account, first, linked)
        shared(account, second, later)
        self.truth_alert("shared_credential", second, account, None, later, linked, severity="high")
        account = f"{AWS_USER}shared-release"
        shared(account, third, linked)
        shared(account, first, linked + 2 * window)
        # Hours apart (a third of the window): a replay shuffled by a few hours still
        # reads the link, its removal and the next claim in that order.
        account = f"{AWS_USER}shared-audit"
        shared(account, second, linked)
        shared(account, second, linked + window * 0.3, removed=True)
        shared(account, first, linked + window * 0.6)

    def plant_uncorrelated(self, at: At) -> None:
        """uncorrelated_account_active: an account no identity links, used the limit
        after it was first seen (low), or while it holds AdministratorAccess (medium);
        near misses: used only until an hour before the limit, privileged only between
        two uses."""
        options = self.options
        after = options.uncorrelated_after

        def stray(name: str) -> Identity:
            return Identity(name, guess_kind(name), "")

        legacy = f"{AWS_USER}legacy-reports"
        key = "aws:AKIALEGACYREPORTS0"
        seen = START - after - min(3 * DAY, after / 2)
        for when in (seen, at(0.1), at(0.4)):
            self.act(when, legacy, key)
        self.truth_alert(
            "uncorrelated_account_active",
            stray(legacy),
            legacy,
            None,
            at(0.1),
            seen,
            severity="low",
        )
        cache = "gcp:build-cache@corp.iam.gserviceaccount.com"
        seen = at(0.5) - after
        for when in (seen, seen + after / 2, seen + after - HOUR):
            self.act(when, cache, None, system="gcp")

        glass = f"{AWS_USER}break-glass"
        seen = START - min(2 * DAY, after / 3)
        self.act(seen, glass, None)
        self.entitlement_change(at(0.1), Account(glass, "aws"), ADMIN_POLICY)
        self.act(at(0.2), glass, None)
        self.truth_alert(
            "uncorrelated_account_active",
            stray(glass),
            glass,
            None,
            at(0.2),
            seen,
            severity="medium",
        )
        temporary = Account(f"{AWS_USER}temp-admin", "aws")
        self.act(at(0.05), temporary.account_id, None)
        self.entitlement_change(at(0.1), temporary, ADMIN_POLICY)
        self.entitlement_change(at(0.2), temporary, ADMIN_POLICY, granted=False)
        self.act(at(0.3), temporary.account_id, None)

    def admins_uncorrelated(self) -> None:
        """The administrators' accounts are linked to no one: each is first seen with the
        organisation's history, and used on: a finding once used the limit after (only
        when the days are longer than the limit, less a day)."""
        after = self.options.uncorrelated_after
        for account, key in ADMINS.values():
            named = [
                fields
                for _, name, fields in self.simulation.events
                if name == "CloudAuditEvent"
                and (
                    fields["account_id"] == account
                    or (key is not None and fields.get("credential_id") == key)
                )
            ]
            if not named:
                continue
            seen = min(fields["event_time"] for fields in named)
            used = [
                fields["event_time"]
                for fields in named
                if fields["outcome"] == "success" and fields["event_time"] >= seen + after
            ]
            if used:
                self.truth_alert(
                    "uncorrelated_account_active",
                    Identity(account, guess_kind(account), ""),
                    account,
                    None,
                    min(used),
                    seen,
                    severity="low",
                )

    # -- trust paths of leavers (core/detectors/trust.py) -------------------------------------
    #
    # Roles on identities of their own, numbered after the hygiene cases': a person who
    # leaves (L) created one role and owns a workload holding another; a person who stays
    # (S) created a third; a workload of L's given to S in time holds a fourth. Another
    # person (A) assumes them all with their key. L leaves at the SLA before a time inside
    # the days, so that what is judged after that deadline is judged in the days.

    def plant_trust(self) -> None:
        """trust_path_of_leaver: L's role assumed after L's T0 + SLA (via its creator), the
        role of L's workload assumed after the same deadline, the workload without a new
        owner (via its holder; the workload is an orphaned_nhi too); one alert per role,
        at its earliest assumption. Near misses: assumed within the SLA, an assumption
        denied, the role of a person who stays, the role of a workload that got a new
        owner in time."""
        options = self.options
        span = self.simulation.end - START - MARGIN

        def at(share: float) -> datetime:
            return START + span * share

        sla = options.sla
        t0 = at(0.2) - sla
        linked = t0 - DAY
        leaver, stayer, assumer = self.fresh("human"), self.fresh("human"), self.fresh("human")
        creator = self.held(leaver, "main", linked)
        builder = self.held(stayer, "main", linked)
        caller = self.held(assumer, "main", linked)
        key = self.own_key(linked + HOUR, caller, "0")
        sessions = itertools.count(1)

        def assume(when: datetime, role: str, ok: bool = True) -> None:
            if not ok:
                # Denied, nothing was issued: with no session in the response the
                # normalizer reads the line as a use of the caller's key that names no
                # role, so the record names none either (simulate/vendors.py).
                self.cloud(when, "aws", caller.account_id, key, "AssumeRole", ok=False)
                return
            session = f"aws:ASIA{assumer.identity_id}TRUST{next(sessions):04d}"
            self.cloud(
                when,
                "aws",
                caller.account_id,
                key,
                "AssumeRole",
                "credential_created",
                target_account=role,
                target_credential=session,
            )

        def workload(tag: str) -> Identity:
            nhi = self.fresh("nhi")
            role = f"{TRUST_ROLE}svc-{nhi.identity_id.lower()}-{tag}"
            nhi.owner = leaver.identity_id
            nhi.accounts.append(Account(role, "aws"))
            self.owner_of_account[role] = nhi.identity_id
            self.directory(
                linked + HOUR,
                nhi,
                "owner_change",
                owner_id=leaver.identity_id,
                accounts=[role],
            )
            return nhi

        # The creator path: L's role, on another resolver partition than L's account.
        left_behind = forwarded_role(creator.account_id, f"{leaver.identity_id.lower()}-deployer")
        self.cloud(
            t0 - 6 * HOUR,
            "aws",
            creator.account_id,
            None,
            "CreateRole",
            "account_created",
            target_account=left_behind,
        )
        # The holder path: L's workload's role.
        orphan = workload("worker")
        handed_over = workload("ingest")
        own = f"{TRUST_ROLE}{stayer.identity_id.lower()}-builder"
        self.cloud(
            t0 - 5 * HOUR,
            "aws",
            builder.account_id,
            None,
            "CreateRole",
            "account_created",
            target_account=own,
        )

        self.directory(t0, leaver, "leaver")
        # L's account is forgotten (the role outlives it either way).
        self.truth_lag(leaver, "leaver", creator.account_id, None, t0, None, "overdue")
        self.truth_alert("deprovision_overdue", leaver, creator.account_id, None, None, t0)
        self.directory(t0 + 2 * HOUR, handed_over, "owner_change", owner_id=stayer.identity_id)
        self.truth_alert("orphaned_nhi", orphan, None, None, None, t0)

        deadline = t0 + sla
        assume(deadline - HOUR, left_behind)  # within the SLA
        assume(deadline - 2 * HOUR, orphan.accounts[0].account_id)
        assume(at(0.3), left_behind, ok=False)
        for when in (at(0.4), at(0.6)):
            assume(when, left_behind)
        self.truth_alert(
            "trust_path_of_leaver", leaver, left_behind, None, at(0.4), t0, severity="high"
        )
        assume(at(0.45), orphan.accounts[0].account_id)
        self.truth_alert(
            "trust_path_of_leaver",
            orphan,
            orphan.accounts[0].account_id,
            None,
            at(0.45),
            t0,
            severity="high",
        )
        assume(at(0.5), own)
        assume(at(0.55), handed_over.accounts[0].account_id)

    def malformed(self) -> None:
        count = int(len(self.simulation.events) * self.options.malformed_share)
        for _ in range(count):
            when = START + (self.simulation.end - START) * self.random.random()
            self.simulation.malformed.append(
                (
                    when,
                    self.random.choice(
                        [
                            '{"record": "CloudAuditEvent", "event_id": "broken"',
                            '{"record": "CloudAuditEvent", "event_id": "no-time", "system": "aws"}',
                            '{"record": "Nonsense"}',
                        ]
                    ),
                )
            )


def forwarded_role(creator: str, name: str) -> str:
    """``aws:…:role/<name>`` (or ``<name>-<n>``, the first that fits) on the other of two
    resolver partitions than its creator account: on any even number of them the two
    live apart too, and each assumption hops to the creator's partition."""
    for number in range(100):
        role = f"{TRUST_ROLE}{name}" if number == 0 else f"{TRUST_ROLE}{name}-{number}"
        if partition_of(role, 2) != partition_of(creator, 2):
            return role
    raise AssertionError("no role name on the other partition")  # 2**-100: never


def check_hygiene_options(options: SimulationOptions) -> None:
    """The hygiene cases are timed by the options' limits, and the organisation's own
    keys and accounts (first seen the day before the days) must not reach a limit
    within the days: refuse what would make the truth wrong."""
    shortest = min(options.stale_after, options.max_credential_age)
    days = timedelta(days=options.days)
    problems = []
    if days < timedelta(hours=6):
        problems.append("days must be at least 6 hours")
    if shortest < timedelta(days=10):
        problems.append("stale_after and max_credential_age must be at least 10 days")
    if days * 4 > shortest:
        problems.append("days must be at most a quarter of stale_after and max_credential_age")
    if options.sharing_window < HOUR or options.sharing_window * 10 > shortest:
        problems.append(
            "sharing_window must be from an hour to a tenth of stale_after and max_credential_age"
        )
    if options.uncorrelated_after < 2 * HOUR or options.uncorrelated_after * 3 < days:
        problems.append("uncorrelated_after must be at least 2 hours and a third of the days")
    if problems:
        raise ConfigError("simulation options: " + "; ".join(problems))


# An interval: (from, to or None while held).
Span = tuple[datetime, datetime | None]
OPENS = {"account_created", "permission_granted", "credential_created"}
CLOSES = {"account_disabled", "account_deleted", "permission_revoked", "credential_revoked"}


def _walk(events: Iterable[tuple[datetime, str, bool]], held_from: datetime | None) -> list[Span]:
    """The spec's ledger walk over (time, event id, opens) sorted: an open while held
    and a close while not held change nothing; ``held_from`` (first known, no logged
    opening) holds until the first close unless the first event opens; no zero-length
    intervals."""
    ordered = sorted(events)
    spans: list[Span] = []
    held: datetime | None = None
    if held_from is not None and (not ordered or not ordered[0][2]):
        held = held_from
    for when, _, opens in ordered:
        if opens:
            if held is None:
                held = when
        elif held is not None:
            if when > held:
                spans.append((held, when))
            held = None
    if held is not None:
        spans.append((held, None))
    return spans


def _holds(spans: list[Span], at: datetime) -> bool:
    return any(start <= at and (stop is None or stop > at) for start, stop in spans)


def _is_session(credential: str, action: str | None) -> bool:
    return credential.startswith("aws:ASIA") or action == "AssumeRole"


def ledger_truth(
    events: list[tuple[datetime, str, dict[str, Any]]], owner_of_account: dict[str, str]
) -> list[dict[str, Any]]:
    """For every directory change of every identity: what the identity held at its T0 by
    the spec's ledger rules, as (subject type, account, subject) triples. Accounts from
    their creation, or from when first known (a link, a listing, an event naming them),
    to their first disabling or deletion; credentials but role sessions, from their
    creation to their revocation or their account's deletion; entitlements from a grant
    to a revoke. Computed from the events as emitted (arrival order plays no part), with
    the plan's owners of accounts."""
    seen: set[tuple[str, str]] = set()
    first_known: dict[str, datetime] = {}
    lifecycle: dict[str, set[tuple[datetime, str, bool]]] = defaultdict(set)
    deleted: dict[str, list[datetime]] = defaultdict(list)
    granted: dict[tuple[str, str], set[tuple[datetime, str, bool]]] = defaultdict(set)
    credentials: dict[str, dict[str, Any]] = {}
    changes: list[tuple[str, str, datetime, str]] = []

    def known(account: str | None, when: datetime) -> None:
        if account and (account not in first_known or when < first_known[account]):
            first_known[account] = when

    def credential(name: str, when: datetime) -> dict[str, Any]:
        entry = credentials.setdefault(
            name, {"account": None, "created": None, "revoked": None, "since": when}
        )
        entry["since"] = min(entry["since"], when)
        return entry

    for _, name, fields in events:
        when = fields["event_time"]
        event_id = fields.get("event_id") or ""
        if event_id:
            if (name, event_id) in seen:
                continue  # a duplicate delivery
            seen.add((name, event_id))
        if name == "IdentityLink":
            known(fields.get("account_id"), when)
        elif name == "DirectoryChange":
            changes.append((fields["identity_id"], fields["change_type"], when, event_id))
            for account in fields.get("accounts") or []:
                known(account, when)
        elif name == "SecretUsageEvent":
            known(fields.get("account_id"), when)
            entry = credential(fields["credential_id"], when)
            entry["account"] = entry["account"] or fields.get("account_id")
        elif name == "CloudAuditEvent":
            known(fields["account_id"], when)
            known(fields.get("target_account_id"), when)
            if fields["outcome"] != "success":
                continue
            kind = fields["kind"]
            if kind == "usage" and fields.get("credential_id"):
                entry = credential(fields["credential_id"], when)
                entry["account"] = entry["account"] or fields["account_id"]
            target = fields.get("target_account_id") or fields["account_id"]
            if kind in ("credential_created", "credential_revoked"):
                key = fields.get("target_credential_id") or fields.get("credential_id")
                if not key:
                    continue
                entry = credential(key, when)
                entry["account"] = entry["account"] or target
                if kind == "credential_created":
                    entry["session"] = _is_session(key, fields.get("action"))
                    if entry["created"] is None or when < entry["created"]:
                        entry["created"] = when
                elif entry["revoked"] is None or when < entry["revoked"]:
                    entry["revoked"] = when
            elif kind in ("account_created", "account_disabled", "account_deleted"):
                lifecycle[target].add((when, event_id, kind in OPENS))
                if kind == "account_deleted":
                    deleted[target].append(when)
            elif kind in ("permission_granted", "permission_revoked") and fields.get("entitlement"):
                granted[(target, fields["entitlement"])].add((when, event_id, kind in OPENS))

    accounts_of: dict[str, list[str]] = defaultdict(list)
    for account, owner in owner_of_account.items():
        accounts_of[owner].append(account)
    account_spans = {
        account: _walk(lifecycle[account], first_known.get(account)) for account in owner_of_account
    }
    credential_spans: dict[str, tuple[str, Span]] = {}
    for name, entry in credentials.items():
        account = entry["account"]
        if account not in owner_of_account or entry.get("session"):
            continue
        start = entry["created"] or entry["since"]
        stop = entry["revoked"]
        for removal in sorted(deleted[account]):
            if removal >= start:
                stop = removal if stop is None else min(stop, removal)
                break
        if stop is None or stop > start:
            credential_spans[name] = (account, (start, stop))
    entitlement_spans = {
        key: _walk(events_of, None)
        for key, events_of in granted.items()
        if key[0] in owner_of_account
    }

    out = []
    for identity_id, change_type, at, event_id in sorted(changes, key=lambda c: (c[0], c[2], c[3])):
        owned = set(accounts_of[identity_id])
        held = [
            ("account", account, account) for account in owned if _holds(account_spans[account], at)
        ]
        held += [
            ("credential", account, name)
            for name, (account, span) in credential_spans.items()
            if account in owned and _holds([span], at)
        ]
        held += [
            ("entitlement", account, entitlement)
            for (account, entitlement), spans in entitlement_spans.items()
            if account in owned and _holds(spans, at)
        ]
        out.append(
            {
                "identity_id": identity_id,
                "change_type": change_type,
                "event_id": event_id,
                "at": at.isoformat(),
                "held": [list(item) for item in sorted(held)],
            }
        )
    return out


def simulate(options: SimulationOptions) -> Simulation:
    return Generator(options).build()
