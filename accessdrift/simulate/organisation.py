"""A seeded, deterministic organisation: people and workloads, their accounts, keys and
entitlements, joiners, movers and leavers, the downstream changes that follow them
(late, or never), steady usage, and injected zombie credentials.

Everything the generator decides is also written down as ground truth: every lag
pair and every finding that must be detected, derived from the plan by the
contract's rules, not by running the detector; and what each identity held at each
of its directory changes, by the access ledger's rules.
"""

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from accessdrift.core.entitlements import DEFAULT_PRIVILEGED, is_privileged

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
        self.options = options
        self.random = random.Random(options.seed)
        self.simulation = Simulation(end=START + timedelta(days=options.days))
        self.counter = 0
        self.owner_of_account: dict[str, str] = {}
        self.movers: list[tuple[Identity, datetime]] = []

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
        if severity is not None:  # the entitlement kinds': privileged raises it
            alert["severity"] = severity
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
