"""Who owns each account and credential, and where each fact must go.

State is one node per subject (an account or a credential) in a mutable
mapping: a dict in tests, a Faust table in the worker. A node keeps the best
owner claim of each priority and where the subject's facts were last sent:

    3  an IdentityLink, or the ``accounts`` of a DirectoryChange (owner: an identity)
    2  a ``credential_created`` event (owner: the created-for account, else the creator;
       a role session from AssumeRole belongs to whoever assumed the role)
    1  a use carrying both a principal and a key (only while the key has no better owner)

Within a priority the later claim (by event time) wins, so the outcome does not
depend on arrival order. A subject whose chain ends at an account nobody owns
stands for itself: its facts go to a *fallback* identity named after that
account, and move to the real identity when a link arrives, however late.
"""

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from accessdrift.core.ids import system_of
from accessdrift.core.timeutil import from_micros

Node = dict[str, Any]
Message = dict[str, Any]

LINK, CREATED, USED = 3, 2, 1
CLAIM_NAMES = {"3": "link", "2": "created", "1": "used"}
MAX_CHAIN = 6
SESSION_ACTIONS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
        "GenerateAccessToken",
        "SignJwt",
        "GenerateIdToken",
    }
)
_NHI_HINTS = (":role/", ":assumed-role/", "gserviceaccount.com", "vault:entity/", ":sa/", "app:")


@dataclass(frozen=True)
class Resolved:
    identity_id: str
    identity_kind: str
    fallback: bool

    def as_list(self) -> list[Any]:
        return [self.identity_id, self.identity_kind, self.fallback]


@dataclass(frozen=True)
class Outbound:
    """A message for the identity stage, keyed by the identity it is about."""

    identity_id: str
    message: Message


def guess_kind(subject: str) -> str:
    """Kind of a fallback identity: what an unlinked account looks like."""
    return "nhi" if any(hint in subject for hint in _NHI_HINTS) else "human"


def is_session_credential(credential_id: str | None, action: str | None = None) -> bool:
    if credential_id and credential_id.startswith("aws:ASIA"):
        return True
    return action in SESSION_ACTIONS


EMAIL = re.compile(r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})$")


def email_of(account_id: str) -> str | None:
    """The email an account id ends with (``gcp:alice@corp.com``,
    ``aws:1:saml-user/alice@corp.com``), lower-cased; None when it has none."""
    tail = account_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    match = EMAIL.match(tail)
    return match.group(1).lower() if match else None


class Resolver:
    """Functions over the subject store; the store is the only state.

    With ``link_by_email``, an account whose id ends with an email address and that
    no link names belongs to the directory identity with that email (a directory
    change's ``email``): the weakest claim, used only where no explicit link exists.
    """

    def __init__(
        self, store: MutableMapping[str, Node], link_by_email: bool = False, now_us: int = 0
    ) -> None:
        self.store = store
        self.link_by_email = link_by_email
        # Ownership rows (schemas/Ownership.avsc) of the subjects whose owner changed:
        # the stage sends them to drift.ownership, so that SQL can see who owns what.
        self.ownership: list[dict[str, Any]] = []
        self.now_us = now_us

    def claim_by_email(self, account: str, time_us: int) -> list["Outbound"]:
        if not self.link_by_email:
            return []
        email = email_of(account)
        if email is None:
            return []
        if self.claim(account, USED, f"email:{email}", False, None, time_us, source="email"):
            return self.reroute(account)
        return []

    # -- owners ---------------------------------------------------------------

    def _node(self, subject: str) -> Node:
        node = self.store.get(subject)
        return dict(node) if node else {"o": {}, "c": [], "r": None}

    @staticmethod
    def effective_owner(node: Node) -> list[Any] | None:
        """[parent, parent_is_identity, identity_kind, time, removed, source] or None."""
        for level in ("3", "2", "1"):
            claim = node["o"].get(level)
            if claim is not None and not claim[4]:
                return list(claim)
        return None

    def claim(
        self,
        subject: str,
        level: int,
        parent: str,
        parent_is_identity: bool,
        identity_kind: str | None,
        time_us: int,
        removed: bool = False,
        source: str = "",
    ) -> bool:
        """Record an owner claim; True when the subject's effective owner changed."""
        node = self._node(subject)
        owners = dict(node["o"])
        current = owners.get(str(level))
        candidate = [parent, parent_is_identity, identity_kind, time_us, removed, source]
        if current is not None:
            if level == USED and current[0] == parent and not current[4]:
                return False  # the same key used by the same principal again: nothing new
            if removed and current[0] != parent:
                return False  # removing a link that is not the current one
            if (current[3], current[0], not current[4]) >= (time_us, parent, not removed):
                return False
        if level == USED and any(str(higher) in owners for higher in (LINK, CREATED)):
            return False  # a use links a key only while it has no owner yet
        before = self.effective_owner(node)
        owners[str(level)] = candidate
        node["o"] = owners
        self.store[subject] = node
        if not parent_is_identity and not removed:
            self._add_child(parent, subject)
        return self.effective_owner(node) != before

    def _add_child(self, account: str, credential: str) -> None:
        node = self._node(account)
        if credential not in node["c"]:
            node["c"] = [*node["c"], credential]
            self.store[account] = node

    # -- resolution -----------------------------------------------------------

    def resolve(self, subject: str) -> Resolved:
        current = subject
        seen = {subject}
        for _ in range(MAX_CHAIN):
            node = self.store.get(current)
            owner = self.effective_owner(node) if node else None
            if owner is None:
                return Resolved(current, guess_kind(current), True)
            parent, parent_is_identity, identity_kind = owner[0], owner[1], owner[2]
            if parent_is_identity:
                return Resolved(parent, identity_kind or guess_kind(current), False)
            if parent in seen:
                break  # a cycle of claims: stop where it loops
            seen.add(parent)
            current = parent
        return Resolved(current, guess_kind(current), True)

    def route(self, subject: str, is_credential: bool = False) -> Resolved:
        """Where a fact about ``subject`` goes now; remembers it so later moves know the source."""
        resolved = self.resolve(subject)
        node = self.store.get(subject)
        if node is None or node.get("r") != resolved.as_list():
            updated = self._node(subject)
            updated["r"] = resolved.as_list()
            if is_credential:
                updated["k"] = 1
            self.store[subject] = updated
            self.ownership.append(self._ownership_row(subject, updated, resolved))
        return resolved

    def _ownership_row(self, subject: str, node: Node, resolved: Resolved) -> dict[str, Any]:
        owner = self.effective_owner(node)
        claim, source, parent, claimed_at = "none", "", None, None
        if owner is not None:
            level = next(level for level in ("3", "2", "1") if node["o"].get(level) == owner)
            claim = "email" if owner[5] == "email" else CLAIM_NAMES[level]
            source, parent, claimed_at = owner[5] or "", owner[0], from_micros(owner[3])
        return {
            "subject": subject,
            "subject_kind": "credential" if node.get("k") else "account",
            "system": system_of(subject),
            "identity_id": resolved.identity_id,
            "identity_kind": resolved.identity_kind,
            "correlated": not resolved.fallback,
            "claim": claim,
            "claim_source": source,
            "parent_id": parent,
            "claimed_at": claimed_at,
            "resolved_at": from_micros(self.now_us),
        }

    def reroute(self, subject: str) -> list[Outbound]:
        """After an owner change: move the facts already sent for the subject and its keys."""
        moves: dict[tuple[str, str, bool, str, bool], dict[str, int]] = {}
        # The subject and everything below it: an email's accounts, an account's keys.
        candidates = [subject]
        seen = {subject}
        for depth_candidate in candidates:
            if len(candidates) > 10_000:
                break
            for child in (self.store.get(depth_candidate) or {}).get("c") or []:
                if child not in seen:
                    seen.add(child)
                    candidates.append(child)
        for candidate in candidates:
            candidate_node = self.store.get(candidate)
            if candidate_node is None:
                continue
            previous = candidate_node.get("r")
            resolved = self.resolve(candidate)
            if previous is None:
                continue
            if previous == resolved.as_list():
                if candidate == subject:  # a new claim, the same owner: the row says so
                    self.ownership.append(self._ownership_row(candidate, candidate_node, resolved))
                continue
            updated = dict(candidate_node)
            updated["r"] = resolved.as_list()
            # Each move of a subject gets the next generation: its facts travel tagged
            # with it, so an identity can tell facts it must keep from facts that
            # reached it after it had already sent the subject on (see identity.py).
            updated["g"] = int(candidate_node.get("g") or 0) + 1
            self.store[candidate] = updated
            self.ownership.append(self._ownership_row(candidate, updated, resolved))
            key = (
                previous[0],
                resolved.identity_id,
                resolved.fallback,
                resolved.identity_kind,
                bool(previous[2]),
            )
            moves.setdefault(key, {})[candidate] = updated["g"]
        return [
            Outbound(
                old_identity,
                {
                    "t": "move",
                    "subjects": list(generations),
                    "g": generations,
                    "to": new_identity,
                    "to_kind": new_kind,
                    "to_fallback": new_fallback,
                },
            )
            for (
                old_identity,
                new_identity,
                new_fallback,
                new_kind,
                _,
            ), generations in moves.items()
        ]
