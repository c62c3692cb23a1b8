"""docker-compose.yml is for users' deployments: no Docker engine runs here, so check the file."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from accessdrift.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_the_whole_system_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"kafka", "clickhouse", "worker", "grafana", "prometheus"}
    assert compose["services"]["worker"]["build"] == "."
    assert (REPO / "Dockerfile").is_file()
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"


def test_worker_environment_names_real_settings(compose: dict[str, Any]) -> None:
    environment = compose["services"]["worker"]["environment"]
    fields = {f"ACCESSDRIFT_{name.upper()}" for name in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields
    assert environment["ACCESSDRIFT_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert environment["ACCESSDRIFT_CLICKHOUSE_URL"].startswith("http://")
    assert "@clickhouse:8123/" in environment["ACCESSDRIFT_CLICKHOUSE_URL"]
    # The values parse as settings do.
    values = {
        key.removeprefix("ACCESSDRIFT_").lower(): re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "x" * 32, value)
        for key, value in environment.items()
    }
    settings = Settings(**values)
    assert not settings.clickhouse_is_embedded
    assert settings.worker_web_port == 6066


def test_grafana_gets_the_clickhouse_data_source(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"].startswith(
        "grafana-clickhouse-datasource@4."
    )
    source = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/clickhouse.yaml").read_text()
    )["datasources"][0]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["host"] == "clickhouse"


def test_no_default_password_and_no_port_open_beyond_loopback(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "change-me" not in text and ":-" not in text, "no password that works by default"
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"
    worker = compose["services"]["worker"]["environment"]
    assert worker["ACCESSDRIFT_WORKER_WEB_HOST"] == "0.0.0.0"
    assert worker["ACCESSDRIFT_WORKER_TOKEN"].startswith("${ACCESSDRIFT_WORKER_TOKEN:?")
