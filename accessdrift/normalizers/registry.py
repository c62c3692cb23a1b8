"""Every raw format, found in the normalizer modules that declare one, and one raw
message -> outcomes.

A raw format is its module: ``FORMAT = RawFormat(...)`` in a module of this package makes
it a ``raw.<name>`` topic, a ``replay --format`` choice and a worker agent; nothing here
names a format. Every record made passes ``scrub`` (no secret reaches a canonical topic),
and one message reads and makes at most ``NormalizerConfig.max_records`` records: a
message of 100,000 broken records, or a SCIM PATCH of 60,000 members, is that many
records' work no more; what is past the cap is dead-lettered, with how many and why.
"""

import functools
import importlib
import json
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from accessdrift import jsontext
from accessdrift.errors import DecodeError, RecordError, RecordTooLarge
from accessdrift.normalizers.base import CSV_HEADER as CSV_HEADER
from accessdrift.normalizers.base import FEED_HEADER as FEED_HEADER
from accessdrift.normalizers.base import MessageContext, Normalized, RawFormat, csv_rows
from accessdrift.normalizers.config import NormalizerConfig as NormalizerConfig
from accessdrift.normalizers.scrub import scrub
from accessdrift.schemas.models import Record


def discover_formats(package: str, folder: Path) -> dict[str, RawFormat]:
    """The ``FORMAT`` of every module of ``package`` that declares one, by name, listed by
    their ``order`` then name. Two modules that declare one name are a mistake that would
    make one of them silently unreachable: it raises."""
    found: dict[str, tuple[RawFormat, str]] = {}
    for module_info in pkgutil.iter_modules([str(folder)]):
        module_name = f"{package}.{module_info.name}"
        if module_name == __name__:
            continue
        declared = getattr(importlib.import_module(module_name), "FORMAT", None)
        if not isinstance(declared, RawFormat):
            continue
        if declared.name in found:
            raise ImportError(
                f"the raw format {declared.name!r} is declared twice: "
                f"by {found[declared.name][1]} and by {module_name}"
            )
        found[declared.name] = (declared, module_name)
    listed = sorted((raw_format for raw_format, _ in found.values()), key=_listing)
    return {raw_format.name: raw_format for raw_format in listed}


def _listing(raw_format: RawFormat) -> tuple[int, str]:
    return raw_format.order, raw_format.name


FORMATS: Mapping[str, RawFormat] = discover_formats(
    __name__.rpartition(".")[0], Path(__file__).parent
)
"""Every raw format by name, in their listing order (``catalog.RAW_FORMATS``)."""
JSON_FORMATS: Mapping[str, RawFormat] = {
    name: raw_format for name, raw_format in FORMATS.items() if raw_format.document == "json"
}


@dataclass(frozen=True)
class Outcome:
    """What became of one vendor record inside a raw message."""

    index: int
    records: list[Record] = field(default_factory=list)
    ignored: str | None = None
    error: RecordError | None = None
    raw: bytes | None = None  # this record's own bytes, when the message held several
    # Past the message's cap: records this vendor record would have made beyond it, or
    # (the last outcome) the vendor records from ``index`` on that were not read at all.
    # ``error`` says how many and why; the records made before the cap are kept.
    dropped: int = 0


MAX_LETTERS_PER_MESSAGE = 10
MAX_LISTED_REASONS = 50
CAP_SETTING = "ACCESSDRIFT_MAX_RECORDS_PER_MESSAGE"


@dataclass(frozen=True)
class Rejection:
    """One dead letter to write: which bytes, and why."""

    value: bytes
    error: str
    error_type: str


def rejections(outcomes: list[Outcome], message: bytes) -> list[Rejection]:
    """The dead letters of one raw message: one per rejected record, each with its own
    bytes; or, when a message holds more than MAX_LETTERS_PER_MESSAGE rejected records,
    one letter with the message and the list of reasons (a file of 300,000 bad records
    is one letter, not 300,000 copies of the file). What the cap left out always has a
    letter of its own, with the bytes it left out, so its reason is never lost in a list."""
    several = len(outcomes) > 1

    def letter(outcome: Outcome) -> Rejection:
        assert outcome.error is not None
        return Rejection(
            outcome.raw if outcome.raw is not None else message,
            f"record {outcome.index}: {outcome.error}" if several else str(outcome.error),
            outcome.error.error_type,
        )

    capped = [letter(outcome) for outcome in outcomes if outcome.dropped]
    failed = [outcome for outcome in outcomes if outcome.error is not None and not outcome.dropped]
    if len(failed) <= MAX_LETTERS_PER_MESSAGE:
        return capped + [letter(outcome) for outcome in failed]
    read = sum(1 for outcome in outcomes if not (outcome.dropped and not outcome.records))
    listed = "; ".join(
        f"record {outcome.index}: {outcome.error}" for outcome in failed[:MAX_LISTED_REASONS]
    )
    more = len(failed) - MAX_LISTED_REASONS
    return [
        *capped,
        Rejection(
            message,
            f"{len(failed)} of {read} records rejected: {listed}"
            + (f"; and {more} more" if more > 0 else ""),
            failed[0].error.error_type,  # type: ignore[union-attr]
        ),
    ]


Normalize = Callable[[Any, int], Normalized]  # a vendor record, the records it may make


def normalize_message(
    format_name: str,
    value: bytes,
    headers: Mapping[str, bytes] | None = None,
    config: NormalizerConfig | None = None,
) -> list[Outcome]:
    """Never raises for bad input: each record's outcome says what became of it.

    At most ``config.max_records`` vendor records of the message are read and at most
    as many canonical records made (a vendor record counts for the records it makes,
    at least one); what is past the cap is one outcome with an error, not silence."""
    context = MessageContext(headers or {}, config or NormalizerConfig())
    cap = context.config.max_records
    raw_format = FORMATS.get(format_name)
    if raw_format is None:
        return [Outcome(0, error=RecordError(f"unknown raw format {format_name!r}"))]
    if raw_format.document == "csv-line":  # one line, one record
        line = functools.partial(raw_format.normalize, value, cap, context)
        return [_apply(0, line, cap)]
    try:
        document = jsontext.loads(value)
    except DecodeError as error:
        return [Outcome(0, error=error)]
    items = raw_format.unwrap(document)

    def normalize(item: Any, limit: int) -> Normalized:
        return raw_format.normalize(item, limit, context)

    return _own_bytes(_read(items, normalize, cap), items)


def _read(items: list[Any], normalize: Normalize, cap: int) -> list[Outcome]:
    """Each vendor record's outcome, while the message's cap lasts; the records past it
    are one outcome that carries them, so that they can be replayed once it is raised."""
    outcomes: list[Outcome] = []
    budget = cap
    for index, item in enumerate(items):
        if budget <= 0:
            unread = len(items) - index
            outcomes.append(
                Outcome(
                    index,
                    error=RecordTooLarge(
                        f"{unread:,} of {len(items):,} records not read: over the cap of "
                        f"{cap:,} records per message ({CAP_SETTING}); this letter holds them"
                    ),
                    raw=json.dumps(items[index:], ensure_ascii=False).encode(
                        "utf-8", "surrogatepass"
                    ),
                    dropped=unread,
                )
            )
            break
        outcome = _apply(index, functools.partial(normalize, item, budget), budget)
        budget -= max(1, len(outcome.records))
        outcomes.append(outcome)
    return outcomes


def _own_bytes(outcomes: list[Outcome], items: list[Any]) -> list[Outcome]:
    """A rejected record of a message that held several carries its own bytes: when it
    gets a letter of its own (past MAX_LETTERS_PER_MESSAGE the letter is the message's,
    and 100,000 records' own bytes would be built for nothing)."""
    if len(items) <= 1:
        return outcomes
    failed = sum(1 for outcome in outcomes if outcome.error is not None and not outcome.dropped)
    return [
        replace(outcome, raw=json.dumps(items[outcome.index], ensure_ascii=False).encode())
        if outcome.error is not None
        and outcome.raw is None
        and (outcome.dropped or failed <= MAX_LETTERS_PER_MESSAGE)
        else outcome
        for outcome in outcomes
    ]


def _apply(index: int, work: Callable[[], Normalized], limit: int) -> Outcome:
    try:
        normalized = work()
    except RecordError as error:
        return Outcome(index, error=error)
    except Exception as error:  # a vendor shape we did not foresee: keep it, say why
        return Outcome(
            index, error=RecordError(f"normalizer failed: {type(error).__name__}: {error}")
        )
    # The one choke point between the vendors and the canonical topics: no secret passes.
    records = [scrub(record) for record in normalized.records[:limit]]
    dropped = normalized.dropped + max(0, len(normalized.records) - limit)
    if not dropped:
        return Outcome(index, records=records, ignored=normalized.ignored)
    made = len(records) + dropped
    return Outcome(
        index,
        records=records,
        error=RecordTooLarge(
            f"this one record makes {made:,} records: the first {len(records):,} were "
            f"produced, the other {dropped:,} dropped, over the cap of records per "
            f"message ({CAP_SETTING})"
        ),
        dropped=dropped,
    )


def split_for_replay(format_name: str, data: bytes) -> list[tuple[int, bytes | None, str | None]]:
    """A file -> [(line or record number, raw message or None, error)] for raw topics.

    A whole JSON document (a CloudTrail file, an array) is split into its records;
    otherwise the file is JSON lines, each line sent as published.
    """
    raw_format = JSON_FORMATS.get(format_name)
    if raw_format is None:
        raise ValueError(f"{format_name!r} is not a JSON format: see replay_file")
    try:
        document = jsontext.loads(data)
    except DecodeError:
        document = None
    if document is not None and not isinstance(document, (str, int, float, bool)):
        return [
            (index, json.dumps(item).encode(), None)
            for index, item in enumerate(raw_format.unwrap(document), start=1)
        ]
    out: list[tuple[int, bytes | None, str | None]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            jsontext.loads(stripped)
        except DecodeError as error:
            out.append((number, stripped, str(error)))
            continue
        out.append((number, stripped, None))
    return out


@dataclass(frozen=True)
class ReplayFile:
    """A file to replay onto ``raw.<format>``: its messages as [(line or record number,
    raw message or None, error)], and the Kafka headers each is sent with."""

    messages: list[tuple[int, bytes | None, str | None]]
    csv_header: bytes | None = None  # a CSV file's header line, which each line is read with

    @property
    def headers(self) -> list[tuple[str, str | bytes | None]] | None:
        return None if self.csv_header is None else [(CSV_HEADER, self.csv_header)]


def replay_file(format_name: str, data: bytes) -> ReplayFile:
    """A file of a raw format -> its messages: a CSV file's lines (with its header line),
    or a JSON document's records or JSON lines (``split_for_replay``)."""
    if FORMATS[format_name].document == "csv-line":
        header, lines = csv_rows(data)
        return ReplayFile([(number, line, None) for number, line in lines], header)
    return ReplayFile(split_for_replay(format_name, data))
