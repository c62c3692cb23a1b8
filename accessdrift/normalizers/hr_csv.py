"""HR exports as CSV -> DirectoryChange, columns mapped by a small YAML file.

The mapping (``ACCESSDRIFT_HR_CSV_MAPPING``, or the default below) names the
export's columns and how its action words become change types:

    columns:
      identity_id: employee_id
      change_type: action
      event_time: effective_date
      email: email            # optional
      identity_kind: worker_type   # optional: "contractor" etc. are humans; "service" -> nhi
      owner_id: owner_id      # optional
      accounts: accounts      # optional, separated by ";"
      event_id: record_id     # optional: else a hash of the row
    attributes: [department, title, manager, entitlements]
    change_types: {hire: joiner, transfer: mover, termination: leaver, ...}
    timezone: UTC           # for dates and times written without a zone
    effective_time: "00:00" # for a date without a time

Rules: an action word not in ``change_types`` is dead-lettered with the words
known; a row without identity, action or date is dead-lettered. The ``entitlements``
attribute of a mover lists what the new role entitles (docs/entitlements.md: ids
separated by commas, ``aws:group/data-analysts,okta:group/00g2data``).
"""

import csv
import io
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from accessdrift.errors import RecordError
from accessdrift.normalizers.base import (
    CSV_HEADER,
    MessageContext,
    Normalized,
    RawFormat,
    csv_rows,
    stable_id,
    text,
)
from accessdrift.normalizers.config import HrMapping as HrMapping  # the mapping is an HR CSV thing
from accessdrift.schemas.models import DirectoryChange


def parse_row(line: bytes, header: bytes) -> dict[str, str]:
    """One CSV line, with the file's header line, as a dict."""
    try:
        names = next(csv.reader(io.StringIO(header.decode("utf-8-sig"))))
        values = next(csv.reader(io.StringIO(line.decode("utf-8"))))
    except (UnicodeDecodeError, StopIteration, csv.Error) as error:
        raise RecordError(f"unreadable CSV line: {error}") from error
    if len(values) != len(names):
        raise RecordError(f"CSV line has {len(values)} fields, the header {len(names)}")
    return dict(zip((name.strip() for name in names), values, strict=True))


def _time(value: str, mapping: HrMapping) -> datetime:
    zone = ZoneInfo(mapping.timezone)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise RecordError(f"unreadable date {value!r}") from error
    if len(value.strip()) <= 10:  # a date alone
        hours, _, minutes = mapping.effective_time.partition(":")
        parsed = datetime.combine(parsed.date(), time(int(hours), int(minutes or 0)))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


DEFAULT_MAPPING = HrMapping()


def normalize(row: Mapping[str, str], mapping: HrMapping = DEFAULT_MAPPING) -> Normalized:
    def column(name: str) -> str | None:
        source = mapping.columns.get(name)
        return text(row.get(source)) if source else None

    identity = column("identity_id")
    action = column("change_type")
    when = column("event_time")
    if identity is None or action is None or when is None:
        raise RecordError(
            "HR row without "
            + ", ".join(
                mapping.columns[name]
                for name, value in (
                    ("identity_id", identity),
                    ("change_type", action),
                    ("event_time", when),
                )
                if value is None
            )
        )
    change_type = mapping.change_types.get(action.lower())
    if change_type is None:
        known = ", ".join(sorted(mapping.change_types))
        raise RecordError(f"HR action {action!r} is not mapped (known: {known})")
    kind_text = (column("identity_kind") or "").lower()
    accounts = [part.strip() for part in (column("accounts") or "").split(";") if part.strip()]
    attributes = {name: row[name] for name in mapping.attributes if text(row.get(name))}
    return Normalized(
        [
            DirectoryChange(
                event_id=column("event_id") or stable_id("hr", dict(row)),
                event_time=_time(when, mapping),
                source="hr-csv",
                identity_id=identity,
                identity_kind="nhi"
                if kind_text in ("nhi", "service", "service account", "bot")
                else "human",
                change_type=change_type,
                accounts=accounts or None,
                owner_id=column("owner_id"),
                attributes=attributes or None,
                email=column("email"),
            )
        ]
    )


rows_of = csv_rows  # a whole export -> (header line, [(line number, line)]) for replay


def first(values: list[Any]) -> Any:
    return values[0] if values else None


def _normalize_line(line: bytes, _limit: int, context: MessageContext) -> Normalized:
    """One line of an export, read with its file's header line (the CSV_HEADER header)."""
    header = context.headers.get(CSV_HEADER)
    if not header:
        raise RecordError(f"HR CSV line without its {CSV_HEADER} header")
    return normalize(parse_row(line, header), context.config.hr_mapping)


FORMAT = RawFormat(
    name="hr-csv",
    summary="HR exports as CSV -> DirectoryChange, columns mapped by a small YAML file",
    order=70,
    document="csv-line",
    normalize=_normalize_line,
)
