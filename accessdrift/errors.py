"""One root exception for everything accessdrift raises on purpose.

Library errors are wrapped with ``raise ... from`` so the original stays in the
traceback while callers catch one family.
"""


class AccessDriftError(Exception):
    """Root of every error accessdrift raises."""


class ConfigError(AccessDriftError):
    """A setting or a configuration file is wrong."""


class RecordError(AccessDriftError):
    """A record does not decode or does not validate. ``error_type`` classifies it."""

    error_type = "validation"


class DecodeError(RecordError):
    """Bytes that are not a record of a known schema."""

    error_type = "decode"


class EventInTheFuture(RecordError):
    """An event time further ahead of this machine's clock than the tolerance allows."""

    error_type = "future"


class RecordTooLarge(RecordError):
    """A record over the size cap."""

    error_type = "too_large"


class KafkaError(AccessDriftError):
    """The broker refused or could not be reached."""


class LocalKafkaError(KafkaError):
    """The local development broker could not be fetched, started or stopped."""


class ClickHouseError(AccessDriftError):
    """ClickHouse refused a statement or could not be reached."""


class RowsRefused(ClickHouseError):
    """ClickHouse refused the values of an insert: sending them again cannot help."""


class QueryRefused(ClickHouseError):
    """A statement sent through `accessdrift query` that is not read-only."""


class IdentityNotFound(AccessDriftError):
    """No directory change, pair, alert or ownership names this identity."""


class WorkerImpostor(AccessDriftError):
    """The server on the worker's port could not prove it holds the worker token: it may be
    anyone who bound the port while the worker was down, so nothing was sent to it."""
