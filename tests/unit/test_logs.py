"""ACCESSDRIFT_LOG_FORMAT: one JSON object per line with the fields a log pipeline
searches by, the text format as it was, and the same redaction in both."""

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from mode.utils.logging import setup_logging

from accessdrift.cli import app
from accessdrift.errors import ConfigError
from accessdrift.logs import (
    TEXT_FORMAT,
    JsonLineFormatter,
    RedactingTextFormatter,
    command_name,
    faust_logging_config,
    record_stage,
)
from accessdrift.settings import load_settings

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # GitHub's token shape
HOSTILE = 'say "hi"\nWARNING accessdrift.notifier: forged line\r\x1b[2K\u2028end'


def _record(
    message: str = "insert into %s failed",
    args: tuple[Any, ...] = ("alerts",),
    name: str = "accessdrift.ingest",
    level: int = logging.ERROR,
    extra: dict[str, Any] | None = None,
    exc_info: Any = None,
) -> logging.LogRecord:
    record = logging.getLogger(name).makeRecord(
        name, level, __file__, 1, message, args, exc_info, extra=extra
    )
    record.created = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z
    return record


def _json(record: logging.LogRecord, stage: str = "migrate") -> dict[str, Any]:
    line = JsonLineFormatter("prod.", "prod.accessdrift", stage).format(record)
    assert "\n" not in line and "\r" not in line, line
    document: dict[str, Any] = json.loads(line)
    return document


def test_a_record_is_one_json_object_with_the_searched_fields() -> None:
    found = _json(
        _record(
            extra={
                "offset": 42,
                "alert_id": "a-1",
                "topic": "prod.drift.raw.cloudtrail",
                "partition": 3,
                "identity_id": "okta:00u1",
                "event_id": "e-9",
                "table": "alerts",
            }
        )
    )
    assert found == {
        "time": "2026-01-01T00:00:00.250000Z",
        "level": "ERROR",
        "logger": "accessdrift.ingest",
        "message": "insert into alerts failed",
        "deployment": "prod.",
        "app_id": "prod.accessdrift",
        "stage": "migrate",
        "identity_id": "okta:00u1",
        "alert_id": "a-1",
        "event_id": "e-9",
        "topic": "prod.drift.raw.cloudtrail",
        "partition": 3,
        "offset": 42,
        "table": "alerts",
    }
    # The ids a person searches for come first, in one order.
    assert list(found)[7:13] == [
        "identity_id",
        "alert_id",
        "event_id",
        "topic",
        "partition",
        "offset",
    ]


def test_newlines_quotes_and_control_characters_stay_on_the_line() -> None:
    found = _json(_record("answer: %s", (HOSTILE,), extra={"destination": HOSTILE}))
    assert found["message"] == f"answer: {HOSTILE}"
    assert found["destination"] == HOSTILE


def test_a_secret_is_redacted_as_in_the_text_format() -> None:
    record = _record("login failed: %s", (f"Authorization: Bearer {TOKEN}",))
    text = RedactingTextFormatter(TEXT_FORMAT).format(record)
    found = _json(_record("login failed: %s", (f"Authorization: Bearer {TOKEN}",)))
    assert TOKEN not in text and TOKEN not in json.dumps(found)
    assert text == f"ERROR accessdrift.ingest: {found['message']}"
    assert "[REDACTED]" in found["message"]


def test_extras_named_like_secrets_and_tokens_in_extras_are_redacted() -> None:
    found = _json(
        _record(extra={"password": "hunter2", "destination": f"https://x/?t={TOKEN}", "n": 1})
    )
    assert found["password"] == "[REDACTED]"
    assert TOKEN not in found["destination"] and "[REDACTED]" in found["destination"]
    assert found["n"] == 1


def test_a_traceback_is_one_field_redacted() -> None:
    try:
        raise RuntimeError(f"refused token {TOKEN}\nsecond line")
    except RuntimeError:
        exc_info = sys.exc_info()
    found = _json(_record("failed", (), exc_info=exc_info))
    assert found["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: refused token [REDACTED]" in found["exception"]
    assert TOKEN not in json.dumps(found)
    text = RedactingTextFormatter(TEXT_FORMAT).format(_record("failed", (), exc_info=exc_info))
    assert "RuntimeError: refused token [REDACTED]" in text and TOKEN not in text


def test_values_json_does_not_know_are_their_text() -> None:
    found = _json(_record(extra={"when": object, "sizes": (1, {2}), "nested": {"token": "t"}}))
    assert found["when"] == "<class 'object'>"
    assert found["sizes"] == [1, [2]]
    assert found["nested"] == {"token": "[REDACTED]"}


def test_the_stage_is_the_notifiers_for_its_records_else_the_process() -> None:
    assert record_stage(_record(name="accessdrift.notifier"), "worker") == "notifier"
    assert record_stage(_record(name="accessdrift.ingest"), "worker") == "worker"
    assert record_stage(_record(name="faust.worker"), "worker") == "worker"
    assert record_stage(_record(extra={"stage": "resolver"}), "worker") == "resolver"
    assert _json(_record(name="accessdrift.notifier"), stage="worker")["stage"] == "notifier"


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["migrate"], "migrate"),
        (["--version"], ""),
        (["worker", "--loglevel", "debug"], "worker"),
        (["replay", "notify", "-f", "cloudtrail"], "replay"),  # a file named like a command
        (["alerts", "expire", "s-1"], "alerts expire"),
        (["alerts", "--help"], "alerts"),
        (["no-such-command"], ""),
        ([], ""),
    ],
)
def test_the_command_is_read_from_the_apps_own_commands(argv: list[str], name: str) -> None:
    assert command_name(app, argv) == name


def test_an_unknown_format_is_a_configuration_error_naming_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCESSDRIFT_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"ACCESSDRIFT_LOG_FORMAT: .*'text' or 'json'"):
        load_settings()
    monkeypatch.setenv("ACCESSDRIFT_LOG_FORMAT", "json")
    assert load_settings().log_format == "json"
    monkeypatch.delenv("ACCESSDRIFT_LOG_FORMAT")
    assert load_settings().log_format == "text"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Faust (mode) replaces the root logger's handlers: put them back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_faust_keeps_its_own_text_unless_json() -> None:
    assert faust_logging_config("text", "prod.", "prod.accessdrift", "info") is None


def test_faust_and_mode_records_are_json_lines_through_the_config_the_worker_gives(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = faust_logging_config("json", "prod.", "prod.accessdrift", "info")
    # What mode.Worker does with it as it starts (mode/worker.py: _setup_logging).
    setup_logging(loglevel="INFO", logging_config=config)
    logging.getLogger("faust.worker").info("[^Worker]: Ready\n%s", "second")
    logging.getLogger("mode.services").debug("below the level")
    logging.getLogger("accessdrift.notifier").warning("delivery to %s", "soc")
    lines = capsys.readouterr().err.splitlines()
    found = [json.loads(line) for line in lines]
    assert [(f["logger"], f["stage"], f["message"]) for f in found] == [
        ("faust.worker", "worker", "[^Worker]: Ready\nsecond"),
        ("accessdrift.notifier", "notifier", "delivery to soc"),
    ]
    assert {f["deployment"] for f in found} == {"prod."}
