"""Silences, as Alertmanager's: matchers on an alert's fields, a time span, a reason and
who set it. Pure: the notifier asks ``silencing`` before it queues a delivery."""

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from accessdrift.errors import ConfigError

MATCHABLE = (
    "kind",
    "severity",
    "identity_id",
    "identity_kind",
    "account_id",
    "credential_id",
    "system",
    "source_ip",
    "action",
)

Silence = dict[str, Any]  # a decoded Silence record (accessdrift/schemas/Silence.avsc)


def parse_matchers(pairs: Iterable[str]) -> dict[str, str]:
    """``["kind=orphaned_nhi", "identity_id=svc-1"]`` -> their map; one at least."""
    matchers: dict[str, str] = {}
    for pair in pairs:
        field, equals, value = pair.partition("=")
        field = field.strip()
        if not equals or not value:
            raise ConfigError(f"a matcher is field=value: {pair!r}")
        if field not in MATCHABLE:
            raise ConfigError(f"cannot match on {field!r}: one of {', '.join(MATCHABLE)}")
        matchers[field] = value
    if not matchers:
        raise ConfigError("a silence needs at least one --match field=value")
    return matchers


def new_silence(
    matchers: Mapping[str, str], span: timedelta, reason: str, created_by: str, now: datetime
) -> Silence:
    if not reason.strip():
        raise ConfigError("a silence needs a --reason: an auditor will ask why")
    if span <= timedelta(0):
        raise ConfigError("a silence lasts some time: --for 2h, 7d")
    return {
        "silence_id": uuid.uuid4().hex[:12],
        "matchers": dict(matchers),
        "starts_at": now,
        "ends_at": now + span,
        "reason": reason.strip(),
        "created_by": created_by,
        "created_at": now,
        "expired_at": None,
        "updated_at": now,
    }


def expired(silence: Silence, now: datetime) -> Silence:
    return {**silence, "expired_at": now, "updated_at": now}


def is_active(silence: Silence, now: datetime) -> bool:
    return silence["expired_at"] is None and silence["starts_at"] <= now < silence["ends_at"]


def latest(silences: Iterable[Silence]) -> dict[str, Silence]:
    """The latest version of each silence (by ``updated_at``)."""
    found: dict[str, Silence] = {}
    for silence in silences:
        before = found.get(silence["silence_id"])
        if before is None or silence["updated_at"] >= before["updated_at"]:
            found[silence["silence_id"]] = silence
    return found


def silencing(
    silences: Iterable[Silence], alert: Mapping[str, Any], now: datetime
) -> Silence | None:
    """The first active silence whose every matcher equals the alert's field."""
    for silence in silences:
        if is_active(silence, now) and all(
            str(alert.get(field)) == value for field, value in silence["matchers"].items()
        ):
            return silence
    return None
