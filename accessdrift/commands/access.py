"""`accessdrift access IDENTITY_ID [--at T]`: what an identity holds, or held at T, in
every system, from the access ledger: its accounts, credentials and entitlements, each
with when it began, the event that opened it and whether it is privileged.

The SQL goes where ``accessdrift query``'s goes (``run_query``: through the running
worker when it holds the embedded engine), read-only and checked. The identity id comes
from a person: it enters the SQL only as a literal quoted by clickhouse-connect's own
binding (``accessdrift.evidence.collect.literal``), as the evidence does on the same path;
the time is a value parsed here and written back by this module.
"""

import re
from collections.abc import Callable
from datetime import UTC, datetime

from accessdrift.errors import IdentityNotFound, UsageError
from accessdrift.evidence.collect import literal
from accessdrift.sinks.clickhouse import QueryResult

Query = Callable[[str], QueryResult]

COLUMNS = (
    "system",
    "account_id",
    "subject_type",
    "subject",
    "privileged",
    "valid_from",
    "opened_by",
    "valid_to",
    "closed_by",
)
# RFC 3339: a date, T (or a space, as its section 5.6 allows), a time, a zone.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
# What a person types, in UTC: 2026-03-03 09:00 or 2026-03-03 09:00:30.
_PLAIN = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?")
# ClickHouse's DateTime64 holds 1900-01-01 to 2299-12-31.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC)


def parse_moment(text: str) -> datetime:
    """``--at``: RFC 3339 (``2026-03-03T09:00:00Z``, ``...+02:00``) or
    ``YYYY-MM-DD HH:MM[:SS]`` in UTC; anything else is a UsageError of one line."""
    shown = repr(text[:64] + ("..." if len(text) > 64 else ""))
    wrong = UsageError(
        f"--at: {shown} is not an RFC 3339 time (2026-03-03T09:00:00Z) nor "
        "'YYYY-MM-DD HH:MM[:SS]' in UTC"
    )
    try:
        rfc = _RFC3339.fullmatch(text.strip())
        if rfc is not None:
            fraction = (rfc.group(7) or "")[:6].ljust(6, "0")
            zone = rfc.group(8).upper().replace("Z", "+00:00")
            moment = datetime.fromisoformat(
                f"{rfc.group(1)}-{rfc.group(2)}-{rfc.group(3)}T{rfc.group(4)}:{rfc.group(5)}:"
                f"{rfc.group(6)}.{fraction}{zone}"
            )
        else:
            plain = _PLAIN.fullmatch(text.strip())
            if plain is None:
                raise wrong
            year, month, day, hour, minute, second = (int(part or 0) for part in plain.groups())
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as error:  # a 13th month, a 25th hour, a zone of +99:00
        raise wrong from error
    moment = moment.astimezone(UTC)
    if not EARLIEST <= moment <= LATEST:
        raise UsageError(f"--at: {shown} is outside 1900-01-01 to 2299-12-31")
    return moment


def access_sql(identity_id: str, at: datetime | None) -> str:
    """What the identity held at ``at`` (``access_at``), or, without it, what it holds:
    every interval the ledger has open, whatever the event time of the data (a replay of
    last year's logs shows where they ended)."""
    who = literal(identity_id)
    if at is None:
        source = "access_ledger FINAL"
        held = "NOT removed AND valid_to IS NULL AND "
    else:
        moment = literal(at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
        source = f"access_at(at = {moment})"
        held = ""
    return (
        f"SELECT {', '.join(COLUMNS)} FROM {source} WHERE {held}identity_id = {who} "
        "ORDER BY system, account_id, indexOf(['account', 'credential', 'entitlement'], "
        "subject_type), subject, valid_from"
    )


def identity_access(query: Query, identity_id: str, at: datetime | None) -> QueryResult:
    """The rows; IdentityNotFound when the ledger has no interval of the identity at all
    (one that holds nothing, a leaver long gone, gets an empty result)."""
    result = query(access_sql(identity_id, at))
    if not result.rows:
        known = query(
            f"SELECT count() FROM access_ledger WHERE identity_id = {literal(identity_id)}"
        )
        if not known.rows or not int(known.rows[0][0]):
            raise IdentityNotFound(f"the access ledger has no interval of {identity_id!r}")
    return result
