"""A seeded, deterministic organisation: people and workloads, their accounts and keys,
joiners, movers and leavers, the downstream changes that follow them (late, or never),
steady usage, and injected zombie credentials.

Everything the generator decides is also written down as ground truth: every lag
pair and every finding that must be detected, derived from the plan by the
contract's rules, not by running the detector.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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


@dataclass
class Account:
    account_id: str
    system: str
    keys: list[str] = field(default_factory=list)


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
    end: datetime = START

    def ordered(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        return sorted(self.events, key=lambda event: (event[0], event[2].get("event_id", "")))


class Generator:
    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.random = random.Random(options.seed)
        self.simulation = Simulation(end=START + timedelta(days=options.days))
        self.counter = 0

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
    ) -> None:
        self.emit(
            when,
            "CloudAuditEvent",
            {
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
            },
        )

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
    ) -> None:
        self.simulation.lags.append(
            {
                "identity_id": identity.identity_id,
                "change_type": change_type,
                "account_id": account,
                "credential_id": credential,
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
    ) -> None:
        self.simulation.alerts.append(
            {
                "kind": kind,
                "identity_id": identity.identity_id,
                "account_id": account,
                "credential_id": credential,
                "used_at": used.isoformat() if used else None,
                "deprovisioned_at": reference.isoformat(),
            }
        )

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
        leave_window = max(timedelta(hours=1), end - START - options.sla - timedelta(hours=2))
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
                self.mover(identity, START + (end - START) * self.random.uniform(0.1, 0.6))
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

    def existing(self, identity: Identity, when: datetime, owner: str | None = None) -> None:
        for account in identity.accounts:
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

    def mover(self, identity: Identity, t0: datetime) -> None:
        self.directory(t0, identity, "mover", attributes={"department": "new-team"})
        account = self.random.choice(identity.accounts)
        changed = t0 + self.lag(account.system)
        self.admin_change(changed, account.system, "permission_granted", account.account_id)
        self.truth_lag(identity, "mover", account.account_id, None, t0, changed, "closed")

    def leaver(self, identity: Identity, t0: datetime) -> None:
        options = self.options
        late = self.random.random() < options.late_directory_share
        self.directory(t0, identity, "leaver", late=late)
        deadline = t0 + options.sla
        end = self.simulation.end
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
            if disabled is not None and disabled < end:
                self.admin_change(disabled, account.system, "account_disabled", account.account_id)
                status = "preceded" if disabled < t0 else "closed"
                self.truth_lag(identity, "leaver", account.account_id, None, t0, disabled, status)
                if disabled > deadline:
                    self.truth_alert(
                        "deprovision_overdue", identity, account.account_id, None, None, t0
                    )
            else:
                self.truth_lag(identity, "leaver", account.account_id, None, t0, None, "overdue")
                self.truth_alert(
                    "deprovision_overdue", identity, account.account_id, None, None, t0
                )
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


def simulate(options: SimulationOptions) -> Simulation:
    return Generator(options).build()
