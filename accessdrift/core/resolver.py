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

Partitioned by subject (``partitions`` > 1), each partition holds the nodes of
its own subjects only, and a chain that crosses partitions is followed by
messages between them, as Kafka Streams joins on a foreign key: a subject whose
owner lives on another partition *subscribes* to it (``sub``) and keeps the
owner's resolution as last heard (node field ``p``); an owner tells each of its
subscribers on other partitions whenever its resolution changes (``res``).
Until the first answer comes, the subject's facts wait in its node (``q``), each
with the watermark it came with, and hold the partition's watermark back
(``pending``), so that no deadline is judged before they reach their identity.
An owner always answers at once, with its provisional resolution when it waits
itself, so that a cycle of claims across partitions can never wait forever; each
answer carries the path it came along, and a path that loops or grows past
MAX_CHAIN stops where it loops, as the walk on one partition does.

Apart from ownership, a node keeps the last few link claims made on it (``lh``,
whichever identity made them, removals included): two identities claiming the
same account or credential within the sharing window, the earlier claim not
removed in between, is a shared subject, told once to the later claimer
(``shared``; the pairs told are kept in ``sh``). Ownership never reads either.
"""

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from accessdrift.core.ids import system_of
from accessdrift.core.messages import (
    AssumedMessage,
    Fact,
    HopMessage,
    IdentityMessage,
    MoveMessage,
    SharedMessage,
)
from accessdrift.core.partitions import partition_of
from accessdrift.core.timeutil import from_micros

Node = dict[str, Any]

LINK, CREATED, USED = 3, 2, 1
# A role's assumptions kept on its node until its creation is seen (a late CreateRole).
KEEP_ROLE_ASSUMPTIONS = 8
CLAIM_NAMES = {"3": "link", "2": "created", "1": "used"}
MAX_CHAIN = 6
# Link claims kept per subject, and pairs of them already told: a subject claimed
# by more identities than this within the window is told about its latest claims.
MAX_LINK_HISTORY = 8
MAX_ANNOUNCED = 16
DEFAULT_SHARING_WINDOW_US = 86_400 * 1_000_000
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
        "SignBlob",
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
    """A message for the identity stage, keyed by the identity it is about.

    ``watermark``: the watermark a fact came with when it waited for an owner's
    answer on another partition; it goes out with that one, not the batch's."""

    identity_id: str
    message: IdentityMessage
    watermark: int | None = None


@dataclass(frozen=True)
class Hop:
    """A message for the resolver partition of ``subject``: ``sub`` or ``res``."""

    subject: str
    message: HopMessage


LinkClaim = list[Any]
"""A link claim as kept in a node's ``lh``: [identity_id, time_us, removed, identity_kind]."""


def _claim_order(claim: LinkClaim) -> tuple[int, str, bool]:
    # At the same time the larger identity id is the later claim, as it is the
    # winning one in Resolver.claim: the pair's order does not depend on arrival.
    return (int(claim[1]), str(claim[0]), bool(claim[2]))


def _stands(history: list[LinkClaim], claim: LinkClaim, until_us: int) -> bool:
    """No removal by the claim's identity after it and at or before ``until_us``
    (a removal at the claim's own time loses to it, as in Resolver.claim)."""
    return not any(
        other[2] and other[0] == claim[0] and claim[1] < other[1] <= until_us for other in history
    )


def shared_pairs(
    history: list[LinkClaim], new: LinkClaim, window_us: int
) -> list[tuple[LinkClaim, LinkClaim]]:
    """The (earlier, later) pairs of claims by two different identities that ``new``
    completes, in ``history`` (which holds ``new``): at most ``window_us`` apart, the
    earlier not removed by its identity before the later was made."""
    if new[2]:
        return []  # a removal shares nothing (it may only have ended an earlier claim)
    pairs = []
    for other in history:
        if other[2] or other[0] == new[0]:
            continue
        earlier, later = (other, new) if _claim_order(other) < _claim_order(new) else (new, other)
        if later[1] - earlier[1] <= window_us and _stands(history, earlier, later[1]):
            pairs.append((earlier, later))
    pairs.sort(key=lambda pair: (_claim_order(pair[1]), _claim_order(pair[0])))
    return pairs


def guess_kind(subject: str) -> str:
    """Kind of a fallback identity: what an unlinked account looks like."""
    return "nhi" if any(hint in subject for hint in _NHI_HINTS) else "human"


def is_session_credential(credential_id: str | None, action: str | None = None) -> bool:
    if credential_id and credential_id.startswith(("aws:ASIA", "gcp:token/")):
        return True
    # GCP logs the full method name (google.iam.credentials.v1.IAMCredentials.SignJwt).
    return action is not None and action.rsplit(".", 1)[-1] in SESSION_ACTIONS


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
        self,
        store: MutableMapping[str, Node],
        link_by_email: bool = False,
        now_us: int = 0,
        partitions: int = 1,
        partition: int = 0,
        sharing_window_us: int = DEFAULT_SHARING_WINDOW_US,
    ) -> None:
        self.store = store
        self.link_by_email = link_by_email
        self.sharing_window_us = sharing_window_us
        # Ownership rows (accessdrift/schemas/Ownership.avsc) of the subjects whose owner changed:
        # the stage sends them to drift.ownership, so that SQL can see who owns what.
        self.ownership: list[dict[str, Any]] = []
        self.now_us = now_us
        self.partitions = partitions
        self.partition = partition
        # Messages for other resolver partitions, in the order they must be read.
        self.hops: list[Hop] = []
        # The watermark the facts of this batch came with (queued with them when they wait).
        self.watermark: int | None = None
        # Subjects whose facts wait for an owner's answer -> the least watermark they
        # came with; None: the subject no longer waits (the stage keeps the index).
        self.pending: dict[str, int | None] = {}

    def owns(self, subject: str) -> bool:
        """Is ``subject``'s node on this partition? (Always, on one partition.)"""
        return self.partitions == 1 or partition_of(subject, self.partitions) == self.partition

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
        after = self.effective_owner(node)
        if after is not None and not after[1] and not self.owns(after[0]):
            self._subscribe(subject, after[0])
        return after != before

    def record_link(
        self,
        subject: str,
        identity_id: str,
        identity_kind: str,
        time_us: int,
        removed: bool,
        is_credential: bool,
    ) -> list[Outbound]:
        """Keep a link claim (or its removal) in the subject's history, whatever it did
        to ownership, and tell the later claimer of each shared pair it completes.

        A pair is told at most once: a claim already in the history (a replay) completes
        nothing, and the pairs told are remembered. A removal that arrives after the
        pair it would have prevented was told does not take it back, and a claim older
        than every one of a full history is dropped unheard."""
        node = self._node(subject)
        history: list[LinkClaim] = [list(claim) for claim in node.get("lh") or []]
        if any(
            claim[0] == identity_id and claim[1] == time_us and bool(claim[2]) == removed
            for claim in history
        ):
            return []
        new: LinkClaim = [identity_id, time_us, removed, identity_kind]
        history.append(new)
        history.sort(key=_claim_order)
        history = history[-MAX_LINK_HISTORY:]
        if not any(claim is new for claim in history):
            return []
        node["lh"] = history
        out: list[Outbound] = []
        announced: list[list[Any]] = [list(pair) for pair in node.get("sh") or []]
        credential = is_credential or bool(node.get("k"))
        for earlier, later in shared_pairs(history, new, self.sharing_window_us):
            told = [earlier[0], earlier[1], later[0], later[1]]
            if told in announced:
                continue
            announced.append(told)
            message: SharedMessage = {
                "t": "shared",
                "s": subject,
                "cred": credential,
                "other": earlier[0],
                "ots": earlier[1],
                "ts": later[1],
                "ik": later[3],
                "fb": False,
            }
            out.append(Outbound(later[0], message))
        if out:
            announced.sort(key=lambda pair: (pair[3], pair[1], pair[2], pair[0]))
            node["sh"] = announced[-MAX_ANNOUNCED:]
        self.store[subject] = node
        return out

    def _subscribe(self, subject: str, parent: str) -> None:
        node = self._node(subject)
        heard = node.get("p")
        if heard is not None and heard[0] == parent:
            return
        node["p"] = [parent, None, []]
        self.store[subject] = node
        self.hops.append(Hop(parent, {"t": "sub", "child": subject}))

    def _add_child(self, account: str, credential: str) -> None:
        if not self.owns(account):
            return  # the owner's partition adds it when the subscription reaches it
        node = self._node(account)
        if credential not in node["c"]:
            node["c"] = [*node["c"], credential]
            self.store[account] = node

    # -- resolution -----------------------------------------------------------

    def resolve_path(self, subject: str) -> tuple[Resolved, list[str]] | None:
        """Where the chain from ``subject`` ends, and the subjects it passed; None while
        an owner on another partition has not answered yet."""
        current = subject
        seen = [subject]
        store = self.store
        for _ in range(MAX_CHAIN):
            node = store.get(current)
            owner = self.effective_owner(node) if node else None
            if owner is None:
                return Resolved(current, guess_kind(current), True), seen
            parent, parent_is_identity, identity_kind = owner[0], owner[1], owner[2]
            if parent_is_identity:
                return Resolved(parent, identity_kind or guess_kind(current), False), seen
            if parent in seen:
                break  # a cycle of claims: stop where it loops
            if self.partitions > 1 and not self.owns(parent):
                heard = cast(Node, node).get("p")
                if heard is None or heard[0] != parent or heard[1] is None:
                    return None
                path: list[str] = heard[2]
                if any(step in seen for step in path):
                    # The answer came round a cycle: every subject of the cycle stands for
                    # the same fallback, whichever answer reached it first (answers that
                    # cross each other would otherwise swap places for ever).
                    loop = [*seen]
                    for step in path:
                        if step in seen:
                            break
                        loop.append(step)
                    cycle = min(loop)
                    # The path is the cycle from here, the same whatever came: an answer
                    # whose path changes is news, and would be passed on round the cycle.
                    return Resolved(cycle, guess_kind(cycle), True), loop
                if len(seen) + len(path) > MAX_CHAIN:
                    break
                return Resolved(*heard[1]), seen + path
            seen.append(parent)
            current = parent
        return Resolved(current, guess_kind(current), True), seen

    def resolve(self, subject: str) -> Resolved | None:
        found = self.resolve_path(subject)
        return found[0] if found is not None else None

    def route(self, subject: str, is_credential: bool = False) -> Resolved | None:
        """Where a fact about ``subject`` goes now; remembers it so later moves know the
        source. None: the subject waits for an owner's answer (``wait`` its facts)."""
        resolved = self.resolve(subject)
        if resolved is None:
            return None
        node = self.store.get(subject)
        if node is None or node.get("r") != resolved.as_list():
            updated = self._node(subject)
            updated["r"] = resolved.as_list()
            if is_credential:
                updated["k"] = 1
            self.store[subject] = updated
            self.ownership.append(self._ownership_row(subject, updated, resolved))
        return resolved

    def wait(self, subject: str, message: Fact, is_credential: bool) -> None:
        """Keep a fact until the subject's owner on another partition answers."""
        node = self._node(subject)
        watermark = self.watermark if self.watermark is not None else 0
        node["q"] = [*(node.get("q") or []), [message, watermark]]
        if is_credential:
            node["k"] = 1
        self.store[subject] = node
        held = self.pending.get(subject)
        self.pending[subject] = watermark if held is None else min(held, watermark)

    def address(self, subject: str, message: Fact, is_credential: bool) -> list[Outbound]:
        """A fact about ``subject`` (a subject of this partition) for the identity it
        resolves to now, or kept until its owner on another partition answers."""
        resolved = self.route(subject, is_credential)
        if resolved is None:
            self.wait(subject, message, is_credential)
            return []
        message["ik"] = resolved.identity_kind
        message["fb"] = resolved.fallback
        message["s"] = subject
        return [Outbound(resolved.identity_id, message)]

    def forward(self, subject: str, message: AssumedMessage) -> list[Outbound]:
        """``address`` on ``subject``'s partition, wherever that is."""
        if self.owns(subject):
            return self.address(subject, message, False)
        self.hops.append(Hop(subject, {"t": "fwd", "m": message}))
        return []

    # -- who created a role ----------------------------------------------------

    def note_creator(self, role: str, creator: str, time_us: int, event_id: str) -> list[Outbound]:
        """The account that created ``role`` (the earliest creation counts); the
        assumptions of the role seen before its creation arrived go to its creator."""
        node = self._node(role)
        known = node.get("mk")
        if known is not None and (known[1], known[2]) <= (time_us, event_id):
            return []
        node["mk"] = [creator, time_us, event_id]
        self.store[role] = node
        out: list[Outbound] = []
        for kept in node.get("as") or [] if known is None else []:
            assumed = cast(AssumedMessage, dict(kept))
            assumed["via"], assumed["mk"] = "creator", creator
            assumed["mts"], assumed["mid"] = time_us, event_id
            out += self.forward(creator, assumed)
        return out

    def note_assumption(self, role: str, assumed: AssumedMessage) -> None:
        """The role's last assumptions, for a creation that arrives after them."""
        node = self._node(role)
        if node.get("mk") is not None:
            return  # its creator hears of each assumption as it comes
        recent = [item for item in node.get("as") or [] if item["id"] != assumed["id"]]
        node["as"] = sorted([*recent, dict(assumed)], key=lambda item: (item["ts"], item["id"]))[
            -KEEP_ROLE_ASSUMPTIONS:
        ]
        self.store[role] = node

    def creator_of(self, role: str) -> list[Any] | None:
        """[account, time, event id] of the creation of ``role``, if it was seen."""
        node = self.store.get(role)
        return node.get("mk") if node else None

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

    # -- messages between resolver partitions ----------------------------------

    def on_hop(self, subject: str, message: HopMessage) -> list[Outbound]:
        """A ``sub``, ``res`` or ``fwd`` for ``subject``, a subject of this partition."""
        if message["t"] == "sub":
            self._on_subscribe(subject, str(message["child"]))
            return []
        if message["t"] == "fwd":
            return self.address(subject, message["m"], False)
        return self._on_answer(subject, str(message["parent"]), message["r"], message["path"])

    def _on_subscribe(self, parent: str, child: str) -> None:
        self._add_child(parent, child)
        found = self.resolve_path(parent)
        if found is None:
            # Waiting itself: answer at once all the same, with what it stands for
            # until its own answer comes (then every subscriber hears again).
            found = (Resolved(parent, guess_kind(parent), True), [parent])
        else:
            node = self._node(parent)
            if node.get("a") is None:
                node["a"] = [found[0].as_list(), found[1]]
                self.store[parent] = node
        self.hops.append(self._answer(child, parent, *found))

    @staticmethod
    def _answer(child: str, parent: str, resolved: Resolved, path: list[str]) -> Hop:
        return Hop(child, {"t": "res", "parent": parent, "r": resolved.as_list(), "path": path})

    def _on_answer(
        self, subject: str, parent: str, resolved: list[Any], path: list[str]
    ) -> list[Outbound]:
        node = self.store.get(subject)
        owner = self.effective_owner(node) if node else None
        if node is None or owner is None or owner[1] or owner[0] != parent:
            return []  # an answer from an owner it no longer has
        heard = [parent, [str(resolved[0]), str(resolved[1]), bool(resolved[2])], list(path)]
        if node.get("p") == heard:
            return []
        updated = dict(node)
        updated["p"] = heard
        self.store[subject] = updated
        return self.reroute(subject)

    # -- moves ------------------------------------------------------------------

    def reroute(self, subject: str) -> list[Outbound]:
        """After an owner change: move the facts already sent for the subject and its
        keys, send on the facts that waited, and tell subscribers elsewhere."""
        moves: dict[tuple[str, str, bool, str, bool], dict[str, int]] = {}
        flushed: list[Outbound] = []
        # The subject and everything below it: an email's accounts, an account's keys.
        candidates = [subject]
        seen = {subject}
        for depth_candidate in candidates:
            if len(candidates) > 10_000:
                break
            for child in (self.store.get(depth_candidate) or {}).get("c") or []:
                if child not in seen and self.owns(child):
                    seen.add(child)
                    candidates.append(child)
        for candidate in candidates:
            candidate_node = self.store.get(candidate)
            if candidate_node is None:
                continue
            found = self.resolve_path(candidate)
            if found is None:
                continue  # still waiting for an owner's answer
            resolved, path = found
            if self.partitions > 1:
                self._announce(candidate, resolved, path)
                candidate_node = cast(Node, self.store.get(candidate))
            previous = candidate_node.get("r")
            if previous is not None and previous != resolved.as_list():
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
            elif previous is not None and candidate == subject:
                # A new claim, the same owner: the row says so.
                self.ownership.append(self._ownership_row(candidate, candidate_node, resolved))
            if candidate_node.get("q"):
                flushed += self._send_waiting(candidate, resolved)
        return [
            *(
                Outbound(
                    old_identity,
                    MoveMessage(
                        t="move",
                        subjects=list(generations),
                        g=generations,
                        to=new_identity,
                        to_kind=new_kind,
                        to_fallback=new_fallback,
                    ),
                )
                for (
                    old_identity,
                    new_identity,
                    new_fallback,
                    new_kind,
                    _,
                ), generations in moves.items()
            ),
            *flushed,
        ]

    def _send_waiting(self, subject: str, resolved: Resolved) -> list[Outbound]:
        node = dict(cast(Node, self.store.get(subject)))
        waiting = node.pop("q")
        self.store[subject] = node
        self.pending[subject] = None
        self.route(subject, bool(node.get("k")))
        out = []
        for message, watermark in waiting:
            message["ik"] = resolved.identity_kind
            message["fb"] = resolved.fallback
            message["s"] = subject
            out.append(Outbound(resolved.identity_id, message, int(watermark)))
        return out

    def _announce(self, subject: str, resolved: Resolved, path: list[str]) -> None:
        """Tell the subscribers on other partitions, once per new resolution."""
        node = cast(Node, self.store.get(subject))
        told = [resolved.as_list(), path]
        if node.get("a") == told:
            return
        remote = [child for child in node.get("c") or [] if not self.owns(child)]
        if not remote and node.get("a") is None:
            return
        updated = dict(node)
        updated["a"] = told
        self.store[subject] = updated
        self.hops += [self._answer(child, subject, resolved, path) for child in remote]
