"""The routing file cannot send the project's secrets, or any file, anywhere (issue 23,
items 6 and 7): destinations may not read ``ACCESSDRIFT_*`` variables nor files outside
the allowed folders, URLs are https (plain http to loopback only), never link-local or a
cloud metadata service; the file itself is bounded in size and in expanded nodes."""

from pathlib import Path

import pytest

from accessdrift.alerts.config import load_routing
from accessdrift.alerts.deliver import post_alerts
from accessdrift.errors import ConfigError
from tests.receivers import Receiver, receiving
from tests.unit.alerts.samples import alert

ENV = {
    "SIEM_URL": "http://127.0.0.1:1/",
    "SIEM_KEY": "k" * 32,
    "ACCESSDRIFT_WORKER_TOKEN": "the-worker-token-0123456789",
    "LISTENER": "http://127.0.0.1:9/collect",
}


# "metadata" in circled letters, which the IDNA mapping Python's socket applies folds back.
CIRCLED_METADATA = "".join(chr(0x24D0 + ord(letter) - ord("a")) for letter in "metadata")


def write(folder: Path, text: str, name: str = "routes.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def refused(path: Path, environ: dict[str, str], secrets_dirs: list[Path] | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        if secrets_dirs is None:
            load_routing(path, environ)
        else:
            load_routing(path, environ, secrets_dirs=secrets_dirs)
    return str(error.value)


@pytest.mark.parametrize(
    "key, variable",
    [
        ("token_env", "ACCESSDRIFT_WORKER_TOKEN"),
        ("token_env", "accessdrift_worker_token"),  # pydantic-settings reads names in any case
        ("url_env", "ACCESSDRIFT_CLICKHOUSE_URL"),
        ("secret_env", "Accessdrift_Kafka_Sasl_Password"),
    ],
)
def test_a_destination_cannot_read_the_projects_own_variables(
    tmp_path: Path, key: str, variable: str
) -> None:
    destination = {
        "token_env": "{type: slack, url_env: LISTENER, channel: C1, token_env: %s}",
        "url_env": "{type: teams, url_env: %s}",
        "secret_env": "{type: webhook, url_env: SIEM_URL, secret_env: %s}",
    }[key] % variable
    path = write(tmp_path, f"max_age: 1h\ndestinations:\n  leak: {destination}\n")
    said = refused(path, {**ENV, variable: "https://hooks.example/x"})
    assert "routes.yaml:3:" in said and f"destinations.leak.{key}" in said
    assert "ACCESSDRIFT_" in said
    assert "the-worker-token" not in said


@pytest.mark.parametrize(
    "key, variable",
    [
        ("token_env", "AWS_SECRET_ACCESS_KEY"),
        ("secret_env", "aws_session_token"),  # env names are case-insensitive on Windows
        ("url_env", "AZURE_CLIENT_SECRET"),
        ("secret_env", "ARM_CLIENT_SECRET"),
        ("secret_env", "Google_Application_Credentials"),
        ("secret_env", "GCP_SERVICE_ACCOUNT_KEY"),
        ("secret_env", "CLOUDSDK_AUTH_ACCESS_TOKEN"),
        ("url_env", "KUBERNETES_SERVICE_HOST"),
        ("token_env", "VAULT_TOKEN"),
        ("url_env", "ECS_CONTAINER_METADATA_URI_V4"),
        ("token_env", "GITHUB_TOKEN"),
        ("token_env", "gh_token"),
        ("token_env", "CI_JOB_TOKEN"),
        ("token_env", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ("url_env", "ACTIONS_ID_TOKEN_REQUEST_URL"),
        ("secret_env", "DATABASE_URL"),
        ("url_env", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ],
)
def test_a_destination_cannot_read_the_platforms_credentials(
    tmp_path: Path, key: str, variable: str
) -> None:
    destination = {
        "token_env": "{type: slack, url_env: LISTENER, channel: C1, token_env: %s}",
        "url_env": "{type: teams, url_env: %s}",
        "secret_env": "{type: webhook, url_env: SIEM_URL, secret_env: %s}",
    }[key] % variable
    path = write(tmp_path, f"max_age: 1h\ndestinations:\n  leak: {destination}\n")
    said = refused(path, {**ENV, variable: "https://hooks.example/the-cloud-secret"})
    assert "routes.yaml:3:" in said and f"destinations.leak.{key}" in said
    assert "platform" in said and "the-cloud-secret" not in said


def test_a_destination_reads_the_variables_its_operator_names(tmp_path: Path) -> None:
    # CONTRACT.md's examples, and names that only look like the refused ones.
    environ = {
        **ENV,
        "SLACK_SOC_WEBHOOK": "https://hooks.slack.com/services/T/B/x",
        "TEAMS_SOC_WORKFLOW": "https://prod.westeurope.logic.azure.com/workflows/x",
        "SIEM_URL": "https://siem.example/ingest",
        "SIEM_SIGNING_SECRET": "s" * 32,
        "SLACK_BOT_TOKEN": "xoxb-1",
        "PAGERDUTY_ROUTING_KEY": "r" * 32,
        "AWSOME_HOOK": "https://hooks.example/a",
        "MY_AWS_ALERTS_URL": "https://hooks.example/b",
        "GITHUB_TOKEN_FOR_ALERTS": "t" * 8,
    }
    text = (
        "destinations:\n"
        "  slack: {type: slack, url_env: SLACK_SOC_WEBHOOK}\n"
        "  bot: {type: slack, token_env: SLACK_BOT_TOKEN, channel: C1}\n"
        "  teams: {type: teams, url_env: TEAMS_SOC_WORKFLOW}\n"
        "  siem: {type: webhook, url_env: SIEM_URL, secret_env: SIEM_SIGNING_SECRET}\n"
        "  pd: {type: pagerduty, secret_env: PAGERDUTY_ROUTING_KEY}\n"
        "  a: {type: teams, url_env: AWSOME_HOOK}\n"
        "  b: {type: webhook, url_env: MY_AWS_ALERTS_URL, secret_env: GITHUB_TOKEN_FOR_ALERTS}\n"
    )
    assert len(load_routing(write(tmp_path, text), environ).destinations) == 7


@pytest.mark.parametrize(
    "file",
    [
        "/proc/self/cmdline",
        "/proc/self/environ",
        "/dev/zero",
        "/sys/kernel/notes",
        "/run/secrets/../../proc/self/environ",
        "/etc/passwd",
    ],
)
def test_a_destination_cannot_read_files_outside_the_allowed_folders(
    tmp_path: Path, file: str
) -> None:
    path = write(
        tmp_path,
        "destinations:\n"
        f"  leak: {{type: slack, url_env: LISTENER, channel: C1, token_file: {file}}}\n",
    )
    # Even an operator who allows "/" never hands out /proc, /dev or /sys.
    for dirs in ([tmp_path], [Path("/")]):
        if dirs == [Path("/")] and file == "/etc/passwd":
            continue  # the operator allowed it
        said = refused(path, ENV, dirs)
        assert "routes.yaml:2:" in said and "destinations.leak.token_file" in said, said


def test_a_link_out_of_an_allowed_folder_is_followed_before_the_check(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "slack_url").write_text("https://hooks.slack.test/services/T/B/X\n")
    (secrets / "sneaky").symlink_to("/proc/self/environ")
    (secrets / "up").symlink_to(tmp_path)
    (tmp_path / "outside").write_text("https://hooks.slack.test/services/T/B/Y\n")
    good = "destinations:\n  ok: {type: slack, url_file: %s}\n"
    routing = load_routing(
        write(tmp_path, good % (secrets / "slack_url")), ENV, secrets_dirs=[secrets]
    )
    assert routing.destinations["ok"].url(ENV).get_secret_value().endswith("/X")
    for bad in (secrets / "sneaky", secrets / "up" / "outside", secrets / ".." / "outside"):
        said = refused(write(tmp_path, good % bad), ENV, [secrets])
        assert "routes.yaml:2:" in said and "url_file" in said, said
        assert "hooks.slack.test" not in said


def test_the_default_folders_are_the_secret_mounts_not_the_routing_files_own(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("ACCESSDRIFT_WORKER_TOKEN=the-worker-token-0123456789\n")
    text = f"destinations:\n  leak: {{type: pagerduty, secret_file: {tmp_path / '.env'}}}\n"
    said = refused(write(tmp_path, text), ENV)
    assert "routes.yaml:2:" in said and "secret_file" in said
    assert "the-worker-token" not in said


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example/drop",
        "gopher://127.0.0.1:6379/_INFO",
        "http://hooks.example/x",  # plain http beyond loopback
        "http://127.0.0.1.nip.io/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://169.254.170.2/v2/credentials",
        "https://[fe80::1]/x",
        "https://[fe80::1%25eth0]/x",
        "https://[fd00:ec2::254]/latest",
        "https://[::ffff:169.254.169.254]/x",
        "https://[64:ff9b::a9fe:a9fe]/x",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://METADATA.google.internal./computeMetadata/v1/",
        f"https://{CIRCLED_METADATA}.google.internal/x",  # IDNA maps it to metadata
        "https://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/latest/",  # full-width digits, the same
        "https://metadata/computeMetadata/v1/",
        "https://100.100.100.200/latest/meta-data/",
        "https://0.0.0.0/x",
        "https://[::]/x",
        "https://2852039166/x",  # 169.254.169.254 in one number: the C resolver accepts it
        "https://0251.0376.0251.0376/x",  # ... and in octal
        "https://169.254.43518/x",
        "https://user:s3cr3t@hooks.example/x",
        "https://hooks.slack.com@169.254.169.254/x",
        "https://%31%36%39.254.169.254/x",  # urllib unquotes the host before it connects
        "http://localhost./x",  # may be asked of DNS
        "http://localhost.evil.example/x",
        "https://[fe80::1%25%0a]/x",
        "https:///no-host",
        "not a url at all",
        "https://hooks.example/x\r\nX-Injected: 1",
    ],
)
def test_a_destination_url_is_https_and_never_link_local_or_metadata(
    tmp_path: Path, url: str
) -> None:
    path = write(tmp_path, "destinations:\n  out: {type: teams, url_env: OUT}\n")
    said = refused(path, {**ENV, "OUT": url})
    assert "routes.yaml:2:" in said and "destinations.out.url_env" in said, said
    assert url not in said and "s3cr3t" not in said and "169.254" not in said


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.1.2.3/hook",
        "http://localhost:8080/hook",
        "http://[::1]:8080/hook",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://10.1.2.3/siem",  # a SIEM on the private network is fine
        "https://[2001:db8::1]:8443/siem",
    ],
)
def test_https_anywhere_public_or_private_and_http_to_loopback_are_fine(
    tmp_path: Path, url: str
) -> None:
    path = write(tmp_path, "destinations:\n  out: {type: teams, url_env: OUT}\n")
    routing = load_routing(path, {**ENV, "OUT": url})
    assert routing.destinations["out"].url({"OUT": url}).get_secret_value() == url


def test_a_url_changed_after_start_is_checked_again_at_send_time(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    url_file = secrets / "siem_url"
    listener = Receiver()
    with receiving(listener):
        url_file.write_text(listener.url)
        text = f"destinations:\n  siem: {{type: webhook, url_file: {url_file}, secret_env: SIEM_KEY}}\n"
        routing = load_routing(write(tmp_path, text), ENV, secrets_dirs=[secrets])
        destination = routing.destinations["siem"]
        assert post_alerts(destination, ENV, [alert()]).outcome == "sent"
        url_file.write_text("http://169.254.169.254/latest/meta-data/iam/")
        answer = post_alerts(destination, ENV, [alert()])
        assert answer.outcome == "failed" and "169.254" not in answer.text
        url_file.unlink()
        url_file.symlink_to("/proc/self/environ")
        answer = post_alerts(destination, ENV, [alert()])
        assert answer.outcome == "failed"
        # Nothing but the first message reached anyone.
        assert len(listener.received) == 1


def test_a_variable_changed_after_start_is_checked_again_at_send_time(tmp_path: Path) -> None:
    text = "destinations:\n  teams: {type: teams, url_env: OUT}\n"
    routing = load_routing(write(tmp_path, text), {**ENV, "OUT": "https://teams.example/x"})
    answer = post_alerts(routing.destinations["teams"], {"OUT": "file:///etc/passwd"}, [alert()])
    assert answer.outcome == "failed" and "passwd" not in answer.text


def test_a_routing_file_over_the_size_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    route = "  - match: {kind: [used_after_deprovision], min_severity: high}\n    to: [a]\n"
    text = "routes:\n" + route * (2_000_000 // len(route))
    # Past the cap, text that is not YAML: the refusal must come from the size, unparsed.
    said = refused(write(tmp_path, text + "\t: [\n"), ENV)
    assert "routes.yaml" in said and "larger than" in said and "not YAML" not in said


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    # One list of 30,000 names, then 30,000 routes that each name it: under the size cap,
    # 900 million strings for pydantic to walk (and copy) once the aliases are expanded.
    names = ", ".join(["a"] * 30_000)
    text = f"health: {{to: &names [{names}]}}\nroutes:\n" + "  - {to: *names}\n" * 30_000
    assert len(text.encode()) < 1024 * 1024
    said = refused(write(tmp_path, text), ENV)
    assert "routes.yaml" in said and "nodes" in said


def test_the_billion_laughs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    text = "anchors:\n" + "\n".join(f"  {line}" for line in lines) + "\nroutes:\n  - to: *a9\n"
    said = refused(write(tmp_path, text), ENV)
    assert "routes.yaml" in said and "nodes" in said


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    said = refused(write(tmp_path, "routes: &loop\n  - to: *loop\n"), ENV)
    assert "routes.yaml" in said and "nodes" in said


def test_aliases_a_person_would_write_still_load(tmp_path: Path) -> None:
    text = (
        "destinations:\n"
        "  siem: {type: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY}\n"
        "routes:\n"
        "  - match: &urgent {min_severity: high}\n"
        "    to: [siem]\n"
        "  - match: *urgent\n"
        "    to: [siem]\n"
    )
    routing = load_routing(write(tmp_path, text), ENV)
    assert routing.routes[0].match == routing.routes[1].match


def test_the_setting_names_the_folders_and_the_commands_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessdrift.alerts.commands import routing_of
    from accessdrift.settings import Settings

    assert Settings().alert_secrets_dirs == [Path("/run/secrets"), Path("/run/credentials")]
    secrets = tmp_path / "team secrets"
    secrets.mkdir()
    (secrets / "teams_url").write_text("https://teams.example/workflow\n")
    routes = write(
        tmp_path, f"destinations:\n  t: {{type: teams, url_file: {secrets}/teams_url}}\n"
    )
    monkeypatch.setenv("ACCESSDRIFT_ALERT_ROUTES", str(routes))
    with pytest.raises(ConfigError, match="outside the folders"):
        routing_of(Settings())
    monkeypatch.setenv("ACCESSDRIFT_ALERT_SECRETS_DIRS", f"/run/secrets, {secrets}")
    settings = Settings()
    assert settings.alert_secrets_dirs == [Path("/run/secrets"), secrets]
    assert "t" in routing_of(settings).destinations
    settings_doc = (Path(__file__).resolve().parents[3] / "docs" / "settings.md").read_text()
    assert "| `ACCESSDRIFT_ALERT_SECRETS_DIRS` | `/run/secrets,/run/credentials` |" in settings_doc
