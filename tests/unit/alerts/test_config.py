from pathlib import Path

import pytest

from accessdrift.alerts.config import load_routing
from accessdrift.errors import ConfigError

ENV = {
    "SLACK_URL": "https://hooks.slack.test/x",
    "SIEM_URL": "http://127.0.0.1:1/",
    "SIEM_KEY": "k" * 32,
}

CONTRACT_EXAMPLE = """\
destinations:
  soc-slack: {type: slack, url_env: SLACK_URL}
  siem:      {type: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY}
routes:
  - match: {kind: [used_after_deprovision, used_after_revocation], min_severity: high}
    to: [soc-slack, siem]
  - match: {identity_kind: [nhi]}
    to: [soc-slack]
    group_wait: 30s
max_age: 7d
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return path


def test_the_contracts_example_loads_with_its_defaults(tmp_path: Path) -> None:
    routing = load_routing(write(tmp_path, CONTRACT_EXAMPLE), ENV)
    assert routing.routes[0].group_by == ["identity_id"]
    assert routing.routes[0].group_wait.total_seconds() == 10
    assert routing.routes[1].group_wait.total_seconds() == 30
    assert routing.routes[0].group_interval.total_seconds() == 300
    assert routing.max_age.days == 7


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("routes:\n  - match: {colour: red}\n    to: [a]\n", 2, "colour"),
        ("destinations:\n  a: {type: fax, url_env: SLACK_URL}\n", 2, "type"),
        ("routes:\n  - to: [a]\n    group_wait: soon\n", 3, "not a duration"),
        ("routes:\n  - match: {min_severity: urgent}\n    to: [a]\n", 2, "min_severity"),
        ("retries: 3\n", 1, "retries"),
    ],
)
def test_unknown_keys_and_bad_values_are_refused_with_their_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_routing(write(tmp_path, text), ENV)
    assert f"routes.yaml:{line}:" in str(refused.value)
    assert words in str(refused.value)


def test_a_route_to_an_unknown_destination_or_a_missing_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no destination named 'pager'"):
        load_routing(write(tmp_path, "routes:\n  - to: [pager]\n"), ENV)
    with pytest.raises(ConfigError, match="SIEM_KEY is empty"):
        load_routing(write(tmp_path, CONTRACT_EXAMPLE), {**ENV, "SIEM_KEY": ""})
    unsigned = "destinations:\n  siem: {type: webhook, url_env: SIEM_URL}\n"
    with pytest.raises(ConfigError, match="needs secret_env"):
        load_routing(write(tmp_path, unsigned), ENV)


def test_a_url_never_appears_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_routing(write(tmp_path, CONTRACT_EXAMPLE + "bogus: 1\n"), ENV)
    assert "hooks.slack.test" not in str(refused.value)
