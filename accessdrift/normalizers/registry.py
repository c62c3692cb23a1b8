"""Every raw format by its topic name, and one raw message -> outcomes."""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from accessdrift import jsontext
from accessdrift.errors import DecodeError, RecordError
from accessdrift.normalizers import cloudtrail, entra, gcp, hr_csv, okta, scim, vault
from accessdrift.normalizers.base import Normalized
from accessdrift.normalizers.scrub import scrub
from schemas.models import Record

JSON_FORMATS: dict[str, ModuleType] = {
    "cloudtrail": cloudtrail,
    "gcp-audit": gcp,
    "entra-audit": entra,
    "okta": okta,
    "vault": vault,
    "scim": scim,
}
FORMATS = (*JSON_FORMATS, "hr-csv")
CSV_HEADER = "csv-header"
FEED_HEADER = "accessdrift-feed"


@dataclass(frozen=True)
class NormalizerConfig:
    scim_feed: scim.ScimFeed = field(default_factory=scim.ScimFeed)
    scim_feeds: Mapping[str, scim.ScimFeed] = field(default_factory=dict)
    hr_mapping: hr_csv.HrMapping = field(default_factory=hr_csv.HrMapping)


@dataclass(frozen=True)
class Outcome:
    """What became of one vendor record inside a raw message."""

    index: int
    records: list[Record] = field(default_factory=list)
    ignored: str | None = None
    error: RecordError | None = None
    raw: bytes | None = None  # this record's own bytes, when the message held several


MAX_LETTERS_PER_MESSAGE = 10
MAX_LISTED_REASONS = 50


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
    is one letter, not 300,000 copies of the file)."""
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    if len(failed) <= MAX_LETTERS_PER_MESSAGE:
        return [
            Rejection(
                outcome.raw if outcome.raw is not None else message,
                f"record {outcome.index}: {outcome.error}"
                if len(outcomes) > 1
                else str(outcome.error),
                outcome.error.error_type,  # type: ignore[union-attr]
            )
            for outcome in failed
        ]
    listed = "; ".join(
        f"record {outcome.index}: {outcome.error}" for outcome in failed[:MAX_LISTED_REASONS]
    )
    more = len(failed) - MAX_LISTED_REASONS
    return [
        Rejection(
            message,
            f"{len(failed)} of {len(outcomes)} records rejected: {listed}"
            + (f"; and {more} more" if more > 0 else ""),
            failed[0].error.error_type,  # type: ignore[union-attr]
        )
    ]


def normalize_message(
    format_name: str,
    value: bytes,
    headers: Mapping[str, bytes] | None = None,
    config: NormalizerConfig | None = None,
) -> list[Outcome]:
    """Never raises for bad input: each record's outcome says what became of it."""
    headers = headers or {}
    config = config or NormalizerConfig()
    if format_name == "hr-csv":
        header = headers.get(CSV_HEADER)
        if not header:
            return [Outcome(0, error=RecordError(f"HR CSV line without its {CSV_HEADER} header"))]
        return [
            _apply(0, lambda: hr_csv.normalize(hr_csv.parse_row(value, header), config.hr_mapping))
        ]
    module = JSON_FORMATS.get(format_name)
    if module is None:
        return [Outcome(0, error=RecordError(f"unknown raw format {format_name!r}"))]
    try:
        document = jsontext.loads(value)
    except DecodeError as error:
        return [Outcome(0, error=error)]
    normalize: Callable[[Any], Normalized] = module.normalize
    if format_name == "scim":
        feed_name = headers.get(FEED_HEADER, b"").decode(errors="replace")
        feed = config.scim_feeds.get(feed_name, config.scim_feed)
        items = scim.unwrap(document)
        return _own_bytes(
            [
                _apply(index, lambda item=item: scim.normalize(item, feed))  # type: ignore[misc]
                for index, item in enumerate(items)
            ],
            items,
        )
    items = module.unwrap(document)
    return _own_bytes(
        [
            _apply(index, lambda item=item: normalize(item))  # type: ignore[misc]
            for index, item in enumerate(items)
        ],
        items,
    )


def _own_bytes(outcomes: list[Outcome], items: list[Any]) -> list[Outcome]:
    """A rejected record of a message that held several carries its own bytes."""
    if len(items) <= 1:
        return outcomes
    return [
        replace(outcome, raw=json.dumps(items[outcome.index], ensure_ascii=False).encode())
        if outcome.error is not None
        else outcome
        for outcome in outcomes
    ]


def _apply(index: int, work: Callable[[], Normalized]) -> Outcome:
    try:
        normalized = work()
    except RecordError as error:
        return Outcome(index, error=error)
    except Exception as error:  # a vendor shape we did not foresee: keep it, say why
        return Outcome(
            index, error=RecordError(f"normalizer failed: {type(error).__name__}: {error}")
        )
    # The one choke point between the vendors and the canonical topics: no secret passes.
    records = [scrub(record) for record in normalized.records]
    return Outcome(index, records=records, ignored=normalized.ignored)


def split_for_replay(format_name: str, data: bytes) -> list[tuple[int, bytes | None, str | None]]:
    """A file -> [(line or record number, raw message or None, error)] for raw topics.

    A whole JSON document (a CloudTrail file, an array) is split into its records;
    otherwise the file is JSON lines, each line sent as published.
    """
    if format_name == "hr-csv":
        raise ValueError("CSV files are split by hr_csv.rows_of")
    module = JSON_FORMATS[format_name]
    try:
        document = jsontext.loads(data)
    except DecodeError:
        document = None
    if document is not None and not isinstance(document, (str, int, float, bool)):
        return [
            (index, json.dumps(item).encode(), None)
            for index, item in enumerate(module.unwrap(document), start=1)
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
