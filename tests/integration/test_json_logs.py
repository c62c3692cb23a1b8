"""A real command with ACCESSDRIFT_LOG_FORMAT=json: every log record on stderr is one
JSON object per line (embedded ClickHouse; no Kafka)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import REPO

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
# `accessdrift migrate` logs nothing when all goes well: this runs the same entry point
# (accessdrift.cli:main) with a record logged from inside the command, as a migration
# step would, hostile text and a secret included.
LOGGING_MIGRATE = f"""
import logging, sys
import accessdrift.sinks.migrate as migrations
from accessdrift import cli

real = migrations.migrate

def migrate(*args, **kwargs):
    logging.getLogger("accessdrift.migrate").warning(
        "step %s", 'one "quoted"\\nWARNING forged line token={TOKEN}',
        extra={{"table": "alerts", "offset": 7}},
    )
    return real(*args, **kwargs)

migrations.migrate = migrate
sys.argv = ["accessdrift", "migrate"]
cli.main()
"""


def _run(command: list[str], tmp_path: Path, log_format: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ACCESSDRIFT_")
    }
    environment |= {
        "ACCESSDRIFT_DATA_DIR": str(tmp_path / "data"),
        "ACCESSDRIFT_LOG_FORMAT": log_format,
        "ACCESSDRIFT_TOPIC_PREFIX": "team-a.",
    }
    # From tmp_path: no .env of the checkout adds to the settings.
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


def test_migrate_writes_only_json_lines(tmp_path: Path) -> None:
    done = _run([sys.executable, "-c", LOGGING_MIGRATE], tmp_path, "json")
    assert done.returncode == 0, done.stderr
    assert "applied" in done.stdout  # what the command prints stays on stdout, as text
    (found,) = _json_lines(done.stderr)
    assert found["level"] == "WARNING" and found["logger"] == "accessdrift.migrate"
    assert found["message"].startswith('step one "quoted"\nWARNING forged line token=')
    assert TOKEN not in done.stderr and "[REDACTED]" in found["message"]
    assert found["stage"] == "migrate"
    assert found["deployment"] == "team-a." and found["app_id"] == "team-a.accessdrift"
    assert (found["table"], found["offset"]) == ("alerts", 7)
    assert found["time"].endswith("Z")

    # The installed command itself, on the same data: up to date, and nothing on
    # stderr but JSON lines (ClickHouse's and the libraries' records included).
    again = _run([str(REPO / ".venv" / "bin" / "accessdrift"), "migrate"], tmp_path, "json")
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    assert all(isinstance(line, dict) for line in _json_lines(again.stderr))


def test_text_stays_the_default_format(tmp_path: Path) -> None:
    done = _run([sys.executable, "-c", LOGGING_MIGRATE], tmp_path, "text")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith('WARNING accessdrift.migrate: step one "quoted"\n')
    assert TOKEN not in done.stderr


def test_an_unknown_format_is_refused_naming_the_choices(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "accessdrift.cli", "migrate"], tmp_path, "xml")
    assert done.returncode != 0  # the exit code of a configuration error is the CLI's
    assert "ACCESSDRIFT_LOG_FORMAT: Input should be 'text' or 'json'" in done.stderr
