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


class UsageError(ConfigError):
    """A value given on the command line that its option cannot take (a time without a
    zone, an unknown alert kind): the command line is wrong, not the deployment."""


class ServiceUnavailable(AccessDriftError):
    """A service the command needs (Kafka, ClickHouse, the worker) did not answer."""


class KafkaUnavailable(KafkaError, ServiceUnavailable):
    """No Kafka broker answered."""


class ClickHouseUnavailable(ClickHouseError, ServiceUnavailable):
    """ClickHouse could not be opened or reached."""


class SchemaMissing(ClickHouseError):
    """The database lacks the tables the command reads: `accessdrift migrate` never ran on it."""


# The exit status of a command that failed, per class of failure (sysexits.h's numbers),
# the first class that matches: the one place they are decided, listed in docs/cli.md.
EXIT_OTHER = 1
EXIT_USAGE = 2  # click's own for a usage error: a missing argument, a bad choice
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE
EXIT_REFUSED = 77  # EX_NOPERM
EXIT_CONFIG = 78  # EX_CONFIG
EXIT_CODES: tuple[tuple[type[AccessDriftError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (QueryRefused, EXIT_REFUSED),
    (WorkerImpostor, EXIT_REFUSED),
    (SchemaMissing, EXIT_CONFIG),
    (ConfigError, EXIT_CONFIG),
    (LocalKafkaError, EXIT_OTHER),  # the local broker failed to start: see its log
    (ServiceUnavailable, EXIT_UNAVAILABLE),
    (KafkaError, EXIT_UNAVAILABLE),  # a broker that refuses a client serves nothing either
)


def exit_code(error: AccessDriftError) -> int:
    """The exit status for ``error`` (``EXIT_CODES``); anything else is EXIT_OTHER."""
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), EXIT_OTHER)
