"""The messages between the stages, each typed once.

Resolver -> identity stage (``IdentityMessage``, carried by ``Outbound``) and resolver
partition -> resolver partition (``HopMessage``, carried by ``Hop``). They are
TypedDicts, so on the wire they are exactly the JSON objects the codec writes
(``accessdrift.streams.bundles.pack_messages`` / ``unpack_messages``, orjson): no conversion per
message in the hot path, and the changelogs and topics written by earlier versions
still read. ``t`` is the tag of the union: a ``match``/``if`` on it narrows the type.

Short keys on purpose: a busy deployment sends hundreds of millions of them.
"""

from typing import Any, Literal, NotRequired, TypedDict


class Envelope(TypedDict, total=False):
    """What every identity message may carry besides its own fields.

    ``ik``/``fb``: the kind of the identity it was resolved to, and whether that
    identity is a fallback (no directory record speaks for it yet); ``s``: the
    subject (account or credential) it was resolved from; ``wm``/``rp``: the
    sending resolver partition's watermark and number, set by the sender."""

    ik: str
    fb: bool
    s: str
    wm: int | None
    rp: int


class DirectoryMessage(Envelope):
    """A directory change (joiner, mover, leaver...) of this identity."""

    t: Literal["dir"]
    id: str
    ts: int
    src: str
    ct: str
    accounts: list[str]
    owner: str | None
    ents: NotRequired[
        list[str] | None
    ]  # a mover's new role's entitlements (attributes.entitlements)


class ClaimMessage(Envelope):
    """A link says subject ``s`` belongs (or, ``removed``, no longer belongs) here."""

    t: Literal["claim"]
    ts: int
    cred: bool
    acc: str | None
    removed: bool


class UseMessage(Envelope):
    """One use of an account or a credential (cloud audit or secret store)."""

    t: Literal["use"]
    id: str
    ts: int
    sys: str
    acc: str | None
    cred: str | None
    act: str | None
    ok: bool
    ip: str | None
    ua: str | None


class ChangeMessage(Envelope):
    """A lifecycle change of an account or credential (created, disabled, deleted...)."""

    t: Literal["chg"]
    id: str
    ts: int
    sys: str
    kind: str
    acc: str | None
    cred: str | None
    act: str | None
    ok: bool
    session: bool
    ent: NotRequired[
        str | None
    ]  # what a permission_granted / permission_revoked grants or takes away
    priv: NotRequired[bool | None]  # the record's own verdict on it; None: judged by the patterns
    by: str | None


class MoveMessage(Envelope):
    """These subjects now belong to identity ``to``: send their facts there.
    ``g``: each subject's move generation."""

    t: Literal["move"]
    subjects: list[str]
    g: dict[str, int]
    to: str
    to_kind: str
    to_fallback: bool


class FactsMessage(Envelope):
    """Facts sent on by the identity that held the subjects before (rows as in
    ``state``: columns named in ``facts``)."""

    t: Literal["facts"]
    g: dict[str, int]
    use: list[list[Any]]
    chg: list[list[Any]]
    cred: dict[str, Any]
    acc: dict[str, Any]
    asm: NotRequired[list[list[Any]]]  # assumptions of the roles that moved (state "asm")
    stl: NotRequired[dict[str, list[int]]]  # staleness judged of what moved (state "stl")
    stg: NotRequired[dict[str, list[list[int]]]]  # its stretches not yet judged ("stg")


class OwnerOfMessage(Envelope):
    """To an owner: NHI ``nhi`` names you as its owner."""

    t: Literal["owner_of"]
    nhi: str
    ts: int


class OwnerLeftMessage(Envelope):
    """To an NHI: its owner ``owner`` left at ``ts``."""

    t: Literal["owner_left"]
    owner: str
    ts: int


class SharedMessage(Envelope):
    """Two identities claimed subject ``s`` at once (links within the sharing window):
    sent to the later claimer, naming the ``other`` and both claims' times."""

    t: Literal["shared"]
    cred: bool
    other: str
    ots: int
    ts: int


class AssumedMessage(Envelope):
    """Role ``role`` was assumed (a session issued for it: AssumeRole, a Vault AppRole
    login, a service account's token) at ``ts`` by account ``by`` with credential
    ``cred``. ``via``: "holder", sent to the identity that holds the role; "creator",
    sent to the identity of the account that created it (``mk``, at ``mts`` by event
    ``mid``)."""

    t: Literal["assumed"]
    id: str
    ts: int
    role: str
    by: str | None
    cred: str | None
    ip: str | None
    via: str
    mk: str | None
    mts: int | None
    mid: str | None


class TickMessage(Envelope):
    """A deadline of this identity is due: evaluate again."""

    t: Literal["tick"]


class WatermarkMessage(Envelope):
    """No identity: the sending resolver partition's watermark moved (``wm``, ``rp``)."""

    t: Literal["wm"]


IdentityMessage = (
    DirectoryMessage
    | ClaimMessage
    | UseMessage
    | ChangeMessage
    | MoveMessage
    | FactsMessage
    | OwnerOfMessage
    | OwnerLeftMessage
    | SharedMessage
    | AssumedMessage
    | TickMessage
    | WatermarkMessage
)
"""A message for the identity stage."""

Fact = UseMessage | ChangeMessage | AssumedMessage
"""A fact about a subject: what waits in the resolver for a subject's owner."""


class SubscribeHop(TypedDict):
    """To a parent's partition: subject ``child`` hangs under you; tell it your owner."""

    t: Literal["sub"]
    child: str


class AnswerHop(TypedDict):
    """To a child's partition: parent ``parent`` resolves to ``r`` along ``path``."""

    t: Literal["res"]
    parent: str
    r: list[Any]
    path: list[str]


class ForwardHop(TypedDict):
    """To a subject's partition: send fact ``m`` to the identity the subject resolves to
    (an assumption of a role, to the identity of the account that created it)."""

    t: Literal["fwd"]
    m: "AssumedMessage"


HopMessage = SubscribeHop | AnswerHop | ForwardHop
"""A message between resolver partitions."""
