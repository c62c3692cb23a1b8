from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from accessdrift.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ACCESSDRIFT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_contract_defaults() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topic_prefix == ""
    assert settings.deprovision_sla == timedelta(hours=24)
    assert settings.grace == timedelta(seconds=60)
    assert settings.lookback == timedelta(days=7)
    assert settings.clickhouse_dsn.startswith("chdb:///")
    assert settings.clickhouse_dsn.endswith(".accessdrift/clickhouse")
    assert settings.clickhouse_is_embedded


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_BOOTSTRAP", "broker-1:9093,broker-2:9093")
    monkeypatch.setenv("ACCESSDRIFT_TOPIC_PREFIX", "prod.")
    monkeypatch.setenv("ACCESSDRIFT_DEPROVISION_SLA", "4h")
    monkeypatch.setenv("ACCESSDRIFT_GRACE", "90s")
    monkeypatch.setenv("ACCESSDRIFT_LOOKBACK", "2d")
    monkeypatch.setenv(
        "ACCESSDRIFT_DEPROVISION_SLA_OVERRIDES", '{"aws": "1h", "okta:nhi": "30m", "*:nhi": "2d"}'
    )
    settings = Settings()
    assert settings.topic("drift.alerts") == "prod.drift.alerts"
    assert settings.grace == timedelta(seconds=90)
    assert settings.lookback == timedelta(days=2)
    assert settings.deprovision_sla_for("aws", "human") == timedelta(hours=1)
    assert settings.deprovision_sla_for("okta", "nhi") == timedelta(minutes=30)
    assert settings.deprovision_sla_for("gcp", "nhi") == timedelta(days=2)
    assert settings.deprovision_sla_for("gcp", "human") == timedelta(hours=4)
    assert settings.kafka_client_config()["bootstrap.servers"] == "broker-1:9093,broker-2:9093"


def test_an_env_file_adds_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ACCESSDRIFT_TOPIC_PREFIX=fromfile.\n")
    assert Settings().topic_prefix == "fromfile."


def test_secrets_stay_out_of_reprs_and_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSDRIFT_CLICKHOUSE_URL", "https://analyst:s3cret-pw@ch.example:8443/db")
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("ACCESSDRIFT_KAFKA_SASL_PASSWORD", "kafka-pw")
    settings = Settings()
    assert "s3cret-pw" not in repr(settings) and "kafka-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())
    assert settings.clickhouse_display == "https://analyst:***@ch.example:8443/db"
    assert not settings.clickhouse_is_embedded
    config = settings.kafka_client_config()
    assert config["sasl.password"] == "kafka-pw"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"


@pytest.mark.parametrize(
    "variable, value",
    [
        ("ACCESSDRIFT_GRACE", "soon"),
        ("ACCESSDRIFT_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("ACCESSDRIFT_TOPIC_PARTITIONS", "0"),
    ],
)
def test_bad_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_load_settings_names_the_variable_in_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from accessdrift.errors import ConfigError
    from accessdrift.settings import load_settings

    monkeypatch.setenv("ACCESSDRIFT_LOOKBACK", "a week")
    with pytest.raises(ConfigError, match=r"ACCESSDRIFT_LOOKBACK: .*not a duration"):
        load_settings()


def test_sasl_without_a_mechanism_means_plain_for_every_client() -> None:
    from accessdrift.streams.app import _faust_credentials

    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password="p"
    )
    assert settings.kafka_client_config()["sasl.mechanism"] == "PLAIN"  # librdkafka: not GSSAPI
    assert str(_faust_credentials(settings).mechanism).endswith("PLAIN")
    assert "sasl.mechanism" not in Settings().kafka_client_config()
