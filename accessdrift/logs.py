"""Log lines: text, or one JSON object per line (``ACCESSDRIFT_LOG_FORMAT=json``).

Text is what it always was (``LEVEL logger: message`` for the commands, Faust's own
format for the worker). JSON is for a log pipeline (Loki, Elastic, Cloud Logging): each
record is one object on one line, its newlines and quotes escaped by JSON, with

- ``time`` (ISO 8601, UTC, microseconds, ``Z``), ``level``, ``logger``, ``message``;
- ``deployment`` (``ACCESSDRIFT_TOPIC_PREFIX``, empty for the default one) and ``app_id``;
- ``stage``: ``worker``, ``notifier`` (the notifier's records, in the worker too) or
  the command's name (``migrate``, ``alerts expire``);
- whatever the call passed with ``extra=``: the ids a person searches for
  (``SEARCHED_IDS``: identity_id, alert_id, event_id, topic, partition, offset) first,
  then the rest (destination, status, table, ...);
- ``exception`` and ``stack`` when the record has them.

Both formats pass the message, the traceback and every value through
``accessdrift.redact``: a token in an error's text, or an ``extra`` named like a
secret, is ``[REDACTED]`` in either. Faust's and mode's records go through the
root logger: the worker hands Faust this formatter (``faust_logging_config``), so
its lines are JSON too.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import typer
from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

from accessdrift.errors import ConfigError
from accessdrift.redact import redact_text, redact_value

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
SEARCHED_IDS = ("identity_id", "alert_id", "event_id", "topic", "partition", "offset")
# Records of these loggers are the notifier's, whichever process runs it.
NOTIFIER_LOGGERS = ("accessdrift.notifier",)
# A record's own attributes (not extras); ``taskName`` came with Python 3.12.
_NOT_EXTRA = frozenset({*RESERVED_ATTRS, "taskName", "stage"})

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class RedactingTextFormatter(logging.Formatter):
    """The text format as it was, with the message and traceback redacted (the
    level and logger name are ours, and left alone). The methods keep logging's names."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = redact_text(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: ExcInfo) -> str:
        return redact_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact_text(super().formatStack(stack_info))


class JsonLineFormatter(JsonFormatter):
    """One record, one JSON object, one line (python-json-logger does the encoding)."""

    def __init__(self, deployment: str = "", app_id: str = "", stage: str = "") -> None:
        super().__init__(reserved_attrs=sorted(_NOT_EXTRA))
        self.deployment = deployment
        self.app_id = app_id
        self.stage = stage

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data.update(
            time=datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            level=record.levelname,
            logger=record.name,
            message=redact_text(record.message),
            deployment=self.deployment,
            app_id=self.app_id,
            stage=record_stage(record, self.stage),
        )
        extras: dict[str, Any] = {}
        merge_record_extra(record, extras, reserved=self._skip_fields)
        # A dict logged as the message (``log.info({...})``): its items are extras too;
        # python-json-logger puts the traceback among them.
        exception = message_dict.pop("exc_info", None)
        stack = message_dict.pop("stack_info", None)
        extras.update(message_dict)
        log_data.update(ordered(redacted_extras(extras)))
        if exception:
            log_data["exception"] = redact_text(str(exception))
        if stack:
            log_data["stack"] = redact_text(str(stack))


def record_stage(record: logging.LogRecord, default: str) -> str:
    """The record's ``stage`` extra, else ``notifier`` for the notifier's loggers, else
    the process's (the worker, or the command's name)."""
    given = record.__dict__.get("stage")
    if isinstance(given, str) and given:
        return given
    if record.name.startswith(NOTIFIER_LOGGERS):
        return "notifier"
    return default


def _plain(value: Any) -> Any:
    """JSON's own types, as they are; anything else as its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    return str(value)


def redacted_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """Values redacted as a document: a key named like a secret loses its value, a
    token in any string is replaced."""
    try:
        plain = _plain(extras)
    except RecursionError:  # a value that contains itself: only its text
        plain = {key: str(value) for key, value in extras.items()}
    redacted: dict[str, Any] = redact_value(plain)
    return redacted


def ordered(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The searched ids first, in their order, then the rest as given."""
    first = {name: extras[name] for name in SEARCHED_IDS if name in extras}
    return first | {key: value for key, value in extras.items() if key not in first}


def formatter(
    log_format: LogFormat, deployment: str = "", app_id: str = "", stage: str = ""
) -> logging.Formatter:
    if log_format == "json":
        return JsonLineFormatter(deployment, app_id, stage)
    return RedactingTextFormatter(TEXT_FORMAT)


def command_name(app: typer.Typer, argv: Sequence[str]) -> str:
    """The command ``argv`` runs (``migrate``, ``alerts expire``), read from the Typer
    app's own commands and groups without building Click's; empty when none is named."""
    names: list[str] = []
    current: typer.Typer | None = app
    for word in argv:
        if current is None:
            break
        if word.startswith("-"):
            continue  # an option of the app or a group (--version, --help)
        groups = {info.name: info.typer_instance for info in current.registered_groups}
        commands = {
            info.name or (info.callback.__name__.lower().replace("_", "-") if info.callback else "")
            for info in current.registered_commands
        }
        if word in groups:
            current = groups[word]
        elif word in commands:
            current = None
        else:
            break
        names.append(word)
    return " ".join(names)


def configure_command_logging(app: typer.Typer, argv: Sequence[str]) -> None:
    """The commands' logging, to stderr at WARNING (as ``logging.basicConfig`` did):
    in the format the settings name. Settings that do not load leave it text; the
    command says what is wrong when it reads them."""
    from accessdrift.settings import load_settings

    global _command_format
    handler = logging.StreamHandler()
    try:
        settings = load_settings()
    except (ConfigError, ValueError):  # pydantic-settings' own errors are ValueErrors
        handler.setFormatter(formatter("text"))
    else:
        _command_format = settings.log_format
        handler.setFormatter(
            formatter(
                settings.log_format,
                settings.topic_prefix,
                settings.app_id,
                command_name(app, argv),
            )
        )
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    # Their retries are the command's own business: its failure is the one line it
    # prints (a worker's sink logs its retries itself).
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(logging.ERROR)


# urllib3's pool by name: clickhouse_connect sets ``urllib3`` itself to WARNING when it
# is imported (after this), and a child's own level is the one that counts.
QUIET_LIBRARIES = ("urllib3", "urllib3.connectionpool", "clickhouse_connect")
_command_format: LogFormat = "text"


def command_log_format() -> LogFormat:
    """The format configure_command_logging chose (text until it ran, or when the
    settings did not load)."""
    return _command_format


def faust_logging_config(
    log_format: LogFormat, deployment: str, app_id: str, loglevel: str
) -> dict[str, Any] | None:
    """What the worker hands Faust (mode's ``logging_config``): None keeps Faust's
    own text lines; for JSON, the root logger's one handler, on stderr like Faust's."""
    if log_format != "json":
        return None
    level = loglevel.upper()  # a name dictConfig knows, or its error, as with Faust's own
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": JsonLineFormatter,
                "deployment": deployment,
                "app_id": app_id,
                "stage": "worker",
            }
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "json", "level": level}
        },
        "root": {"level": level, "handlers": ["default"]},
    }
