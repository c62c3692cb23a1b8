"""Settings refused at load, each with a one-line ConfigError naming its variable, rather
than failing later in whatever first uses them."""

import re
from datetime import timedelta

import pytest

from accessdrift.errors import ConfigError, exit_code
from accessdrift.settings import Settings, load_settings

# The same clean environment as test_settings.py (autouse: no ACCESSDRIFT_ variable, no .env).
from tests.unit.test_settings import clean_environment  # noqa: F401


def refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert exit_code(raised.value) == 78
    assert message.isprintable(), message  # one line, whatever the value held
    assert re.search(rf"{variable}( at .*)?: ", message), message
    return message


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_cluster_or_database_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_CLUSTER", value)
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_DATABASE", value)
    settings = load_settings()
    assert settings.clickhouse_cluster is None
    assert settings.database == "accessdrift"


@pytest.mark.parametrize("value", ["0", "-1", "65536", "99999"])
def test_a_port_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    refused(monkeypatch, "ACCESSDRIFT_WORKER_WEB_PORT", value)


@pytest.mark.parametrize("value", [1, 65535])
def test_every_port_is_taken(value: int) -> None:
    assert Settings(worker_web_port=value).worker_web_port == value


@pytest.mark.parametrize("value", ["p\n", "team a.", "a/b", "équipe.", "p\t", "x:y"])
def test_a_prefix_kafka_would_refuse_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    refused(monkeypatch, "ACCESSDRIFT_TOPIC_PREFIX", value)


@pytest.mark.parametrize("prefix", ["", "prod.", "team-a.", "t0123456789.", "a_b-c.d", "-."])
def test_a_prefix_and_the_database_it_names_are_taken(prefix: str) -> None:
    settings = Settings(topic_prefix=prefix)
    # The database a prefix names passes the database's own check.
    derived = Settings(clickhouse_database=settings.database).database
    assert derived == settings.database
    assert re.fullmatch(r"accessdrift(_[A-Za-z0-9_]+)?", derived)


@pytest.mark.parametrize("value", ["a`b", "a b", "a-b", "db;DROP", "a.b", "x\n"])
def test_a_database_name_unsafe_in_sql_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    refused(monkeypatch, "ACCESSDRIFT_CLICKHOUSE_DATABASE", value)


@pytest.mark.parametrize("value", ["999999999999999999999999d", "36501d", "1" + "0" * 400])
def test_a_huge_duration_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert "too long" in refused(monkeypatch, "ACCESSDRIFT_GRACE", value)


def test_a_retention_past_clickhouses_datetime_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A century on from now wraps around to the 1980s: every row would be deleted.
    assert "2106" in refused(monkeypatch, "ACCESSDRIFT_EVENT_TTL", "36500d")
    assert "2106" in refused(monkeypatch, "ACCESSDRIFT_FINDING_TTL", "20000d")
    monkeypatch.delenv("ACCESSDRIFT_FINDING_TTL")
    assert Settings(event_ttl="18250d").event_ttl == timedelta(days=18250)


def test_a_line_break_in_a_json_key_stays_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, "ACCESSDRIFT_SCIM_FEEDS", '{"a\\nb": {"side": [1]}}')
    assert "\\n" in message


def test_a_json_setting_that_is_not_json_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "not valid JSON" in refused(monkeypatch, "ACCESSDRIFT_SCIM_FEEDS", "{bad")


def test_the_displayed_dsn_hides_a_password_in_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_URL", "https://ch.example:8443/db?password=S3cret")
    assert load_settings().clickhouse_display == "https://ch.example:8443/db?password=***"
