"""The command line agrees with itself: choices and bounds refused before anything runs,
every failure one line on stderr with the exit status of its class, progress bars only on
a terminal, shell completion offered, the demo's way to its dashboard."""

import io
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from accessdrift import cli, demo, errors
from accessdrift.core.detectors import ALERT_KINDS
from accessdrift.sinks.clickhouse import QueryResult

RUNNER = CliRunner()
WIDE = {"COLUMNS": "300"}


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """``accessdrift ARGV`` as the console script runs it (cli.main), in this process."""
    monkeypatch.setattr(sys, "argv", ["accessdrift", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    captured = capsys.readouterr()
    code = ended.value.code
    return (
        (code if isinstance(code, int) else (0 if code is None else 1)),
        captured.out,
        captured.err,
    )


def run_process(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``accessdrift ARGV`` in a process of its own: librdkafka and chDB write and hold
    what an in-process run would share."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("ACCESSDRIFT_")}
    clean.update(ACCESSDRIFT_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "accessdrift.cli", *argv],
        env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- formats: -f/--format, a choice, on every command that chooses one -----------------


@pytest.mark.parametrize(
    "command",
    [
        ["query", "SELECT 1"],
        ["access", "E1"],
        ["evidence", "E1"],
        ["report", "--since", "2026-01-01", "--until", "2026-02-01"],
        ["replay", "x.json"],
        ["simulate"],
        ["evaluate", "truth.json"],
    ],
)
def test_every_format_is_a_choice_of_f_or_format(command: list[str]) -> None:
    refused = RUNNER.invoke(cli.app, [*command, "-f", "bogus"], env=WIDE)
    assert refused.exit_code == 2, refused.output
    assert "Invalid value for '--format' / '-f'" in refused.output


def test_simulate_writes_with_f(tmp_path: Path) -> None:
    out = tmp_path / "org.jsonl"
    made = RUNNER.invoke(
        cli.app, ["simulate", "-f", "canonical", "-o", str(out), "--identities", "3", "--days",
                  "0.3", "--mover-sla", "12h"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert out.read_text().startswith('{"record": ')


def test_simulate_raw_to_stdout_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, "simulate", "-f", "raw")
    assert (code, out) == (2, "")
    assert err == (
        "accessdrift: --format raw writes a file per format: give --output DIRECTORY "
        "(or --to-kafka)\n"
    )


def figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty run against an empty truth: perfect, without ClickHouse."""

    def run_query(settings: object, sql: str, limit: int | None = None) -> QueryResult:
        if "count() AS n" in sql:
            return QueryResult(["n"], [(0,)])
        return QueryResult([], [])

    monkeypatch.setattr("accessdrift.commands.query.run_query", run_query)


@pytest.mark.parametrize("wanted", [["-f", "json"], ["--format", "json"], ["--json"]])
def test_evaluate_prints_json_with_format_json_or_the_old_json_flag(
    wanted: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    figures(monkeypatch)
    truth = tmp_path / "truth.json"
    truth.write_text('{"alerts": [], "lags": []}')
    scored = RUNNER.invoke(cli.app, ["evaluate", *wanted, str(truth)])
    assert scored.exit_code == 0, scored.output
    assert scored.output.startswith("{") and '"perfect": true' in scored.output
    table = RUNNER.invoke(cli.app, ["evaluate", str(truth)])
    assert table.output.startswith("kind ")
    assert "--json" not in RUNNER.invoke(cli.app, ["evaluate", "--help"], env=WIDE).output


# --- bounds on numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["--identities", "-5"],
        ["--identities", "0"],
        ["--days", "0"],
        ["--days", "-1"],
        ["--days", "0.2"],
        ["--days", "22"],
        ["--events-per-second", "-0.1"],
        ["--speed", "0"],
        ["--seed", "-1"],
    ],
)
def test_simulate_refuses_numbers_out_of_bounds(option: list[str], tmp_path: Path) -> None:
    out = tmp_path / "org.jsonl"
    refused = RUNNER.invoke(cli.app, ["simulate", "-o", str(out), *option], env=WIDE)
    assert refused.exit_code == 2, refused.output
    assert f"Invalid value for '{option[0]}'" in refused.output
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [["query", "--limit", "0", "SELECT 1"], ["kafka", "up", "--brokers", "0"],
     ["kafka", "up", "--brokers", "10"], ["worker", "--loglevel", "loud"]],
)  # fmt: skip
def test_other_numbers_and_choices_are_bounded(command: list[str]) -> None:
    assert RUNNER.invoke(cli.app, command, env=WIDE).exit_code == 2


# --- choices known to the detectors ------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "valid"),
    [("--kind", tuple(ALERT_KINDS)), ("--severity", ("info", "low", "medium", "high"))],
)
def test_alerts_routes_refuses_an_unknown_kind_or_severity_in_one_line(
    option: str,
    valid: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("destinations: {}\nroutes: []\n")
    monkeypatch.setenv("ACCESSDRIFT_ALERT_ROUTES", str(routes))
    code, out, err = run_main(monkeypatch, capsys, "alerts", "routes", option, "typo")
    assert (code, out) == (2, "")
    assert err.startswith(f"accessdrift: {option}: 'typo' is not one of ") and err.count("\n") == 1
    assert all(name in err for name in valid)
    nhi = RUNNER.invoke(cli.app, ["alerts", "routes", "--identity-kind", "robot"], env=WIDE)
    assert nhi.exit_code == 2 and "'human', 'nhi'" in nhi.output


# --- one line, one exit status per class --------------------------------------------------


def test_every_class_of_failure_has_its_exit_status() -> None:
    assert errors.exit_code(errors.UsageError("x")) == 2
    assert errors.exit_code(errors.ConfigError("x")) == 78
    assert errors.exit_code(errors.SchemaMissing("x")) == 78
    assert errors.exit_code(errors.KafkaError("x")) == 69
    assert errors.exit_code(errors.KafkaUnavailable("x")) == 69
    assert errors.exit_code(errors.ClickHouseUnavailable("x")) == 69
    assert errors.exit_code(errors.QueryRefused("x")) == 77
    assert errors.exit_code(errors.WorkerImpostor("x")) == 77
    assert errors.exit_code(errors.LocalKafkaError("x")) == 1
    assert errors.exit_code(errors.ClickHouseError("x")) == 1
    assert errors.exit_code(errors.IdentityNotFound("x")) == 1
    documented = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for code in (1, 2, 69, 77, 78):
        assert f"| {code} |" in documented


def test_a_message_of_many_lines_is_printed_on_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise errors.QueryRefused("`accessdrift query` is read-only:\nDROP TABLE\n  x")

    monkeypatch.setattr("accessdrift.commands.query.run_query", refuse)
    code, out, err = run_main(monkeypatch, capsys, "query", "DROP TABLE x")
    assert (code, out, err) == (
        77,
        "",
        "accessdrift: `accessdrift query` is read-only: DROP TABLE x\n",
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["simulate", "--identities", "-5"],
         "accessdrift simulate: Invalid value for '--identities': "),
        (["simulate", "--bogus"], "accessdrift simulate: No such option: --bogus"),
        (["nosuch"], "accessdrift: No such command 'nosuch'."),
        (["query"], "accessdrift query: Missing argument 'sql'."),
        (["evaluate", "t.json", "-f", "xml"], "accessdrift evaluate: Invalid value for '--format'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_that_points_at_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    code, out, err = run_main(monkeypatch, capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(line), err
    command = " ".join(["accessdrift", *argv[:1]]) if argv[0] != "nosuch" else "accessdrift"
    assert err.endswith(f"(see {command} --help)\n"), err
    assert "╭" not in err and "Usage:" not in err


def test_help_and_version_still_answer_with_status_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, "--version")
    assert (code, err) == (0, "") and out.startswith("accessdrift ")
    code, out, err = run_main(monkeypatch, capsys, "migrate", "--help")
    assert (code, err) == (0, "") and "Usage" in out
    # No arguments at all: the help, as Click answers it (status 2), and no empty line.
    code, out, err = run_main(monkeypatch, capsys)
    assert (code, err) == (2, "") and "Usage" in out


def test_no_broker_is_one_line_and_the_unavailable_status(tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{closed_port()}"
    ran = run_process(tmp_path, "alerts", "silences", ACCESSDRIFT_KAFKA_BOOTSTRAP=bootstrap)
    assert ran.returncode == 69, ran.stderr
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert ran.stderr.startswith(f"accessdrift: cannot read drift.silences at {bootstrap}: ")


def test_a_database_never_migrated_says_to_migrate(tmp_path: Path) -> None:
    closed = {"ACCESSDRIFT_WORKER_WEB_PORT": str(closed_port())}
    for command in (["query", "SELECT * FROM alerts"], ["evidence", "E1"]):
        ran = run_process(tmp_path, *command, **closed)
        assert ran.returncode == 78, ran.stderr
        assert ran.stderr.count("\n") == 1 and ran.stdout == ""
        assert ran.stderr.endswith("was never migrated: run `accessdrift migrate` first\n")
    assert run_process(tmp_path, "migrate", **closed).returncode == 0
    typo = run_process(tmp_path, "query", "SELECT * FROM alertz", **closed)
    assert typo.returncode == 1 and "migrate" not in typo.stderr
    assert "UNKNOWN_TABLE" in typo.stderr and typo.stderr.count("\n") == 1


def test_a_worker_that_names_a_missing_table_gets_the_hint_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the worker (the embedded engine held by it) the message is the worker's."""
    from accessdrift.commands import query
    from accessdrift.settings import Settings

    asked: list[str] = []

    def worker(settings: Settings, sql: str, limit: int | None = None) -> QueryResult:
        asked.append(sql)
        if "system.tables" in sql:
            return QueryResult(["count()"], [(0,)])
        raise errors.ClickHouseError(
            "Unknown table expression identifier 'alerts'. (UNKNOWN_TABLE)"
        )

    monkeypatch.setattr(query, "_run", worker)
    with pytest.raises(
        errors.SchemaMissing, match=r"no table 'alerts': database .* `accessdrift migrate`"
    ):
        query.run_query(Settings(), "SELECT * FROM alerts")
    assert len(asked) == 2


# --- progress bars only on a terminal ----------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_stays_out_of_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with cli._progress("produced", "records") as progress:
        assert progress is not None
        progress(500, 1000)
    assert "\x1b[" in terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with cli._progress("produced", "records") as progress:
        assert progress is None


def test_piped_simulate_to_kafka_and_replay_carry_no_escapes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    given: list[Callable[[int, int], None] | None] = []

    def send(
        simulation: Any, settings: Any, speed: Any, progress: Any, raw: bool
    ) -> dict[str, int]:
        given.append(progress)
        return {"t": 1}

    def replay(settings: Any, format_name: str, files: list[str], progress: Any) -> Any:
        given.append(progress)
        from accessdrift.commands.replay import ReplaySummary

        return ReplaySummary("drift.deadletter")

    monkeypatch.setattr("accessdrift.simulate.output.send_to_kafka", send)
    monkeypatch.setattr("accessdrift.commands.replay.replay", replay)
    sent = RUNNER.invoke(cli.app, ["simulate", "--to-kafka", "--identities", "2", "--days", "0.3"])
    replayed = RUNNER.invoke(cli.app, ["replay", str(tmp_path)])
    assert sent.exit_code == 0 and replayed.exit_code == 0, sent.output + replayed.output
    assert given == [None, None]
    assert "\x1b[" not in sent.output + replayed.output


# --- completion, the demo's closing words ------------------------------------------------


def test_shell_completion_is_offered() -> None:
    shown = RUNNER.invoke(cli.app, ["--help"], env=WIDE).output
    assert "--install-completion" in shown and "--show-completion" in shown


def test_the_demo_ends_with_the_way_to_its_dashboard(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: None)
    figures_ = {
        "alerts": {},
        "lags": {"expected": 0, "detected": 0, "precision": 1.0, "recall": 1.0,
                 "max_error_seconds": 0, "groups": {}},
        "duplicates": 0,
        "perfect": True,
    }  # fmt: skip
    demo._summary((10, 0, 0, 0), 1.0, [], figures_, "123")
    said = capsys.readouterr().out
    env = (
        "ACCESSDRIFT_DATA_DIR=.accessdrift/demo/123 ACCESSDRIFT_TOPIC_PREFIX=demo123. "
        f"ACCESSDRIFT_WORKER_WEB_PORT={demo.WEB_PORT}"
    )
    worker_line = next(line for line in said.splitlines() if line.endswith(" worker"))
    assert worker_line.startswith(f"  {env} ACCESSDRIFT_DEPROVISION_SLA=")
    assert "ACCESSDRIFT_MOVER_SLA=12h" in worker_line
    assert f"{sys.executable} -m accessdrift.cli worker" in worker_line
    assert said.rstrip().endswith(f"http://127.0.0.1:{demo.WEB_PORT}/dashboard/")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "accessdrift").write_text("")
    assert demo.command_name() == ".venv/bin/accessdrift"
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/accessdrift")
    assert demo.command_name() == "accessdrift"


# --- after review: usage errors are usage errors, nothing escapes, nothing half-written ---


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["alerts", "silence", "--match", "kind=x", "--for", "bogus", "--reason", "r"],
         "accessdrift: --for: "),
        (["alerts", "silence", "--match", "x", "--for", "2h", "--reason", "r"],
         "accessdrift: --match: "),
        (["alerts", "silence", "--match", "nosuchfield=x", "--for", "2h", "--reason", "r"],
         "accessdrift: --match: "),
        (["alerts", "silence", "--match", "kind=x", "--for", "99999999d", "--reason", "r"],
         "accessdrift: --for: "),
        (["simulate", "--mover-sla", "bogus"], "accessdrift: --mover-sla: "),
        (["replay", "/nonexistent/org.jsonl"], "accessdrift: FILES: no such file"),
        (["simulate", "--identities", "100001"], "accessdrift simulate: Invalid value"),
        (["simulate", "--events-per-second", "1e9"], "accessdrift: --events-per-second: "),
        (["query", "--limit", "10000000000", "SELECT 1"], "accessdrift query: Invalid value"),
    ],
)  # fmt: skip
def test_a_bad_value_on_the_command_line_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    start: str,
) -> None:
    # No broker answers here: a usage error is found before one is asked.
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_BOOTSTRAP", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("ACCESSDRIFT_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run_main(monkeypatch, capsys, *argv)
    assert (code, out) == (2, ""), err
    assert err.startswith(start) and err.count("\n") == 1, err


def test_the_program_is_named_accessdrift_however_it_was_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["/somewhere/accessdrift/__main__.py", "nosuch"])
    with pytest.raises(SystemExit):
        cli.main()
    assert capsys.readouterr().err.startswith("accessdrift: No such command")


def test_an_unwritable_output_writes_no_truth_beside_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    for argv in (
        ["simulate", "--identities", "2", "-o", str(folder)],
        ["simulate", "--identities", "2", "-o", str(tmp_path / "missing" / "org.jsonl")],
        ["simulate", "--identities", "2", "-f", "raw", "-o", str(tmp_path / "a-file")],
        [
            "simulate",
            "--identities",
            "2",
            "-o",
            str(tmp_path / "org.jsonl"),
            "--truth",
            str(folder),
        ],
    ):
        (tmp_path / "a-file").write_text("x")
        code, _, err = run_main(monkeypatch, capsys, *argv)
        assert code == 2 and err.count("\n") == 1, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "out"]
    assert list(folder.iterdir()) == []
    # Beside a device (/dev/null) no truth file is written; beside a file, one is.
    assert cli._simulate_paths("/dev/null", None, raw=False, to_kafka=False) is None
    assert cli._simulate_paths("-", None, raw=False, to_kafka=False) is None
    beside = cli._simulate_paths(str(tmp_path / "org.jsonl"), None, raw=False, to_kafka=False)
    assert beside == tmp_path / "org.jsonl.truth.json"


def test_a_truth_file_that_is_not_one_is_said_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    truth = tmp_path / "truth.json"
    truth.write_text("{}")
    monkeypatch.setenv("ACCESSDRIFT_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_main(monkeypatch, capsys, "evaluate", str(truth))
    assert code == 2 and "is not a ground truth" in err and err.count("\n") == 1, err


def test_a_failure_line_runs_no_escape_sequence_and_stays_short(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise errors.QueryRefused("\x1b]0;pwned\x07\x1b[2J" + "x" * 30_000)

    monkeypatch.setattr("accessdrift.commands.query.run_query", refuse)
    code, _, err = run_main(monkeypatch, capsys, "query", "SELECT 1")
    assert code == 77 and "\x1b" not in err and "\x07" not in err
    assert len(err) < 2_200 and err.endswith("(30014 characters)\n"), err[-80:]


def test_a_file_the_system_refuses_is_one_line_and_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied", "/srv/report.html")

    monkeypatch.setattr("accessdrift.commands.query.run_query", refuse)
    code, out, err = run_main(monkeypatch, capsys, "query", "SELECT 1")
    assert (code, out) == (1, "")
    assert err == "accessdrift: [Errno 13] Permission denied: '/srv/report.html'\n"


def test_with_json_logs_the_failure_line_is_json_too(tmp_path: Path) -> None:
    import json

    ran = run_process(
        tmp_path, "query", "SELECT count() FROM alerts", ACCESSDRIFT_LOG_FORMAT="json"
    )
    assert ran.returncode == 78, ran.stderr
    lines = ran.stderr.splitlines()
    assert lines, ran.stderr
    records = [json.loads(line) for line in lines]  # every line, not only the last
    assert records[-1]["level"] == "ERROR" and records[-1]["exit_code"] == 78
    assert "accessdrift migrate" in records[-1]["message"]


def test_migrate_and_query_open_clickhouse_with_the_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a cluster every session needs its settings (distributed_product_mode,
    distributed_foreground_insert): each command that opens ClickHouse names the cluster."""
    opened: list[Any] = []

    class Opened(Exception):
        pass

    def fake(*args: Any, **kwargs: Any) -> None:
        opened.append(kwargs.get("cluster"))
        raise Opened

    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_URL", "http://127.0.0.1:1/accessdrift")
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_CLUSTER", "analytics")
    monkeypatch.setattr("accessdrift.sinks.clickhouse.ClickHouse", fake)
    monkeypatch.setattr("accessdrift.commands.query.ClickHouse", fake)
    for argv in (["migrate"], ["query", "SELECT 1"]):
        monkeypatch.setattr(sys, "argv", ["accessdrift", *argv])
        with pytest.raises(Opened):
            cli.main()
    assert opened == ["analytics", "analytics"]


def test_a_clickhouse_that_does_not_answer_is_one_line_and_hides_the_password(
    tmp_path: Path,
) -> None:
    url = f"http://analyst:S3cretPW@127.0.0.1:{closed_port()}/accessdrift"
    ran = run_process(tmp_path, "migrate", ACCESSDRIFT_CLICKHOUSE_URL=url)
    assert ran.returncode == 69, ran.stderr
    assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("accessdrift: cannot open"), (
        ran.stderr
    )
    assert "S3cretPW" not in ran.stderr and "Retrying" not in ran.stderr
