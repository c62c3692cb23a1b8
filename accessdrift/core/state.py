"""One identity's state and what handling a message yields: the plain data that the
identity stage (``identity``) and the ``detectors`` share.

State is a JSON-able dict per identity (it goes to the changelog as it is); its
lists hold facts as positional rows whose columns ``facts`` names.
"""

from dataclasses import dataclass, field
from typing import Any

from accessdrift.core.resolver import Outbound

State = dict[str, Any]


def new_state(identity_kind: str = "human", fallback: bool = False) -> State:
    return {
        "kind": identity_kind,
        "fb": fallback,
        "dirs": [],
        "acc": {},
        "cred": {},
        "chg": [],
        "use": [],
        "nhis": [],
        "owners_left": [],
        "emitted": {},
        "moved": {},
    }


@dataclass
class Result:
    """Findings of one message (alerts, lag rows, pairs, the ledger's intervals), the messages
    to other identities, the next deadline."""

    lags: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)  # AccessInterval rows
    messages: list[Outbound] = field(default_factory=list)
    next_deadline_us: int | None = None
