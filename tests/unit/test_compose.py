"""docker-compose.yml, .env.example and deploy/prometheus/prometheus.yml, checked without Docker.

The file is validated against the Compose specification's JSON schema as check-jsonschema
vendors it (its builtin ``vendor.compose-spec``), read from the installed package: no
download. The rest are the promises docs/compose.md makes: Kafka's data on a volume,
images pinned to the releases CI runs, a worker healthcheck and a Prometheus that can
reach /metrics/, and an .env.example naming every variable compose needs. Each rule is a
function over the parsed files with a negative case that plants the fault it looks for.
"""

import copy
import importlib.resources
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from accessdrift.kafka.local import KAFKA_VERSION
from accessdrift.settings import Settings
from accessdrift.sinks.server_functions import REQUIRED_FUNCTIONS
from accessdrift.streams.web_auth import OPEN_PATHS, allowed_host, allowed_hosts

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"

Compose = dict[str, Any]


def load_compose() -> Compose:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def compose_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendored.joinpath("compose-spec.json").read_text())
    assert isinstance(schema, dict)
    return schema


def schema_errors(compose: Compose) -> list[str]:
    validator = jsonschema.Draft7Validator(compose_schema())
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(compose)
    ]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, from either form the specification allows."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def parse_env_file(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        assert separator, f"not NAME=value: {line!r}"
        pairs[name.strip()] = value.strip()
    return pairs


# ${NAME}, ${NAME:?message}, ${NAME-default} ... and $NAME; $$ is a literal dollar.
INTERPOLATION = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolated(text: str) -> set[str]:
    names: set[str] = set()
    for chunk in text.split("$$"):
        for braced, bare in INTERPOLATION.findall(chunk):
            names.add(braced or bare)
    return names


def secret_variables(compose: Compose) -> set[str]:
    """The variables compose reads for secrets of ``environment:`` source."""
    return {
        secret["environment"]
        for secret in (compose.get("secrets") or {}).values()
        if "environment" in secret
    }


# --- the rules ------------------------------------------------------------------------


def unknown_settings(compose: Compose, env_example: Mapping[str, str]) -> list[str]:
    """ACCESSDRIFT_ variables compose or .env.example sets that no Settings field reads:
    pydantic-settings ignores an unknown one (extra="ignore"), so a typo went unnoticed."""
    fields = {name.upper() for name in Settings.model_fields}
    names = {
        (service_name, name)
        for service_name, service in compose["services"].items()
        for name in environment(service)
    } | {(".env.example", name) for name in env_example}
    return sorted(
        f"{where}: {name}"
        for where, name in names
        if name.startswith("ACCESSDRIFT_") and name.removeprefix("ACCESSDRIFT_") not in fields
    )


def kafka_data_not_on_a_volume(compose: Compose) -> list[str]:
    kafka = compose["services"]["kafka"]
    # The apache/kafka image's default (docker/resources/common-scripts/configureDefaults).
    log_dirs = environment(kafka).get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
    mounts = [str(volume).split(":")[1] for volume in kafka.get("volumes", [])]
    return [
        directory
        for directory in log_dirs.split(",")
        if not any(
            directory == target or directory.startswith(target.rstrip("/") + "/")
            for target in mounts
        )
    ]


# An exact release: three or four numbers (a leading v allowed), then the variants of that
# release if any (python:3.11.14-slim-bookworm: the Debian release too); or a digest.
EXACT_TAG = re.compile(r"v?\d+\.\d+\.\d+(\.\d+)?(-[a-z][a-z0-9]*)*")


def exact_image(image: str) -> bool:
    """Whether a reference names one release: python:3.11-slim and grafana/grafana follow
    whatever is published next. The Dockerfile's FROM keeps this rule too."""
    if "@sha256:" in image:
        return True
    _, _, tag = image.rpartition(":")
    return "/" not in tag and EXACT_TAG.fullmatch(tag) is not None


def unpinned_images(compose: Compose) -> list[str]:
    loose = []
    for name, service in compose["services"].items():
        image = service.get("image")
        if image is None:
            if "build" not in service:
                loose.append(f"{name}: neither image nor build")
            continue
        if not exact_image(image):
            loose.append(f"{name}: {image}")
    return sorted(loose)


def image_tag(compose: Compose, service: str) -> str:
    return str(compose["services"][service]["image"]).rpartition(":")[2]


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def worker_healthcheck_problems(compose: Compose) -> list[str]:
    worker = compose["services"]["worker"]
    check = worker.get("healthcheck")
    if not check or check.get("disable"):
        return ["the worker has no healthcheck"]
    test = check.get("test")
    command = " ".join(test) if isinstance(test, list) else str(test)
    port = environment(worker).get("ACCESSDRIFT_WORKER_WEB_PORT", "6066")
    problems = []
    if f":{port}/live/" not in command:
        problems.append(f"the healthcheck does not ask /live/ on port {port}: {command}")
    if re.search(r"\b(curl|wget)\b", command):
        # python:slim, the worker's image, has neither.
        problems.append(f"the worker's image has no curl or wget: {command}")
    return problems


def prometheus_problems(compose: Compose, prometheus: Mapping[str, Any]) -> list[str]:
    """Prometheus scrapes the worker's /metrics/ with a credential the worker takes."""
    problems: list[str] = []
    services = compose["services"]
    if "prometheus" not in services:
        return ["no prometheus service"]
    service = services["prometheus"]
    mounted = {
        str(volume).split(":")[1]: str(volume).split(":")[0]
        for volume in service.get("volumes", [])
    }
    if mounted.get("/etc/prometheus/prometheus.yml") != "./deploy/prometheus/prometheus.yml":
        problems.append("deploy/prometheus/prometheus.yml is not the service's configuration")
    worker_env = environment(services["worker"])
    port = worker_env.get("ACCESSDRIFT_WORKER_WEB_PORT", "6066")
    names = allowed_hosts(
        worker_env.get("ACCESSDRIFT_WORKER_WEB_HOST", "127.0.0.1"),
        worker_env.get("ACCESSDRIFT_WORKER_ALLOWED_HOSTS", ""),
    )
    secrets_in = {
        f"/run/secrets/{entry['target'] if isinstance(entry, dict) else entry}": (
            entry["source"] if isinstance(entry, dict) else entry
        )
        for entry in service.get("secrets", [])
    }
    jobs = [
        job
        for job in prometheus.get("scrape_configs", [])
        for static in job.get("static_configs", [])
        if f"worker:{port}" in static.get("targets", [])
    ]
    if not jobs:
        return [*problems, f"no scrape job targets worker:{port}"]
    for job in jobs:
        path = job.get("metrics_path", "/metrics")
        if path != "/metrics/":
            problems.append(f"{job['job_name']}: scrapes {path}, the worker serves /metrics/")
        if not allowed_host(f"worker:{port}", names):
            problems.append("the worker refuses the Host header worker:<port> (421)")
        if path in OPEN_PATHS:
            continue
        credentials = (job.get("authorization") or {}).get("credentials_file")
        source = secrets_in.get(str(credentials))
        if source is None:
            problems.append(f"{job['job_name']}: no token file from a compose secret")
        elif (compose.get("secrets") or {}).get(source, {}).get(
            "environment"
        ) != "ACCESSDRIFT_WORKER_TOKEN":
            problems.append(f"{job['job_name']}: secret {source} is not the worker's token")
    return problems


def env_example_gaps(
    compose_text: str, compose: Compose, env_example: Mapping[str, str]
) -> list[str]:
    """Every variable compose interpolates or turns into a secret is in .env.example,
    nothing more, and none holds a value that could be a real secret."""
    needed = interpolated(compose_text) | secret_variables(compose)
    gaps = [f"missing from .env.example: {name}" for name in sorted(needed - set(env_example))]
    gaps += [f"not used by compose: {name}" for name in sorted(set(env_example) - needed)]
    gaps += [
        f"{name} is not a placeholder"
        for name, value in env_example.items()
        if not value.startswith("replace-")
    ]
    return gaps


# --- the tests ------------------------------------------------------------------------


def test_compose_follows_the_compose_specification() -> None:
    assert schema_errors(load_compose()) == []


def test_the_schema_refuses_what_compose_would() -> None:
    planted = load_compose()
    planted["services"]["worker"]["healthcheck"]["intervall"] = "15s"
    planted["services"]["kafka"]["ports"] = "29092"
    errors = schema_errors(planted)
    assert any("intervall" in error for error in errors)
    assert any(error.startswith("services/kafka/ports") for error in errors)


def test_every_accessdrift_variable_is_a_setting() -> None:
    compose = load_compose()
    env_example = parse_env_file(ENV_EXAMPLE.read_text())
    assert unknown_settings(compose, env_example) == []
    planted = copy.deepcopy(compose)
    planted["services"]["worker"]["environment"]["ACCESSDRIFT_CLICKHOUSE_DSN"] = "x"
    assert unknown_settings(planted, {"ACCESSDRIFT_WORKER_TOKN": "x"}) == [
        ".env.example: ACCESSDRIFT_WORKER_TOKN",
        "worker: ACCESSDRIFT_CLICKHOUSE_DSN",
    ]


def test_kafka_writes_its_data_to_the_mounted_volume() -> None:
    compose = load_compose()
    assert kafka_data_not_on_a_volume(compose) == []
    assert "kafka-data" in compose["volumes"]
    planted = copy.deepcopy(compose)
    del planted["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"]
    assert kafka_data_not_on_a_volume(planted) == ["/tmp/kraft-combined-logs"]


def test_every_image_is_an_exact_release() -> None:
    compose = load_compose()
    assert unpinned_images(compose) == []
    planted = copy.deepcopy(compose)
    planted["services"]["clickhouse"]["image"] = "clickhouse/clickhouse-server:26.3"
    planted["services"]["grafana"]["image"] = "grafana/grafana"
    planted["services"]["prometheus"]["image"] = "prom/prometheus:latest"
    planted["services"]["kafka"]["image"] = "apache/kafka:4.4-alpine"
    assert unpinned_images(planted) == [
        "clickhouse: clickhouse/clickhouse-server:26.3",
        "grafana: grafana/grafana",
        "kafka: apache/kafka:4.4-alpine",
        "prometheus: prom/prometheus:latest",
    ]


def test_kafka_is_the_release_ci_runs() -> None:
    assert image_tag(load_compose(), "kafka") == KAFKA_VERSION


def test_clickhouse_has_every_function_the_project_calls() -> None:
    server = release(image_tag(load_compose(), "clickhouse"))
    for name, first in REQUIRED_FUNCTIONS.items():
        assert server[:2] >= release(first), f"{name} needs ClickHouse {first}"


def test_the_worker_has_a_healthcheck_on_live() -> None:
    compose = load_compose()
    assert worker_healthcheck_problems(compose) == []
    planted = copy.deepcopy(compose)
    planted["services"]["worker"]["healthcheck"]["test"] = [
        "CMD-SHELL",
        "curl -f http://127.0.0.1:6066/ready/",
    ]
    assert len(worker_healthcheck_problems(planted)) == 2
    del planted["services"]["worker"]["healthcheck"]
    assert worker_healthcheck_problems(planted) == ["the worker has no healthcheck"]


def load_prometheus() -> dict[str, Any]:
    loaded = yaml.safe_load(PROMETHEUS.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_prometheus_scrapes_the_workers_metrics_with_its_token() -> None:
    compose, prometheus = load_compose(), load_prometheus()
    assert prometheus_problems(compose, prometheus) == []


PLANTED_PROMETHEUS: dict[str, Callable[[Compose, dict[str, Any]], None]] = {
    "no token file from a compose secret": lambda _, p: p["scrape_configs"][0].pop("authorization"),
    "scrapes /metrics,": lambda _, p: p["scrape_configs"][0].pop("metrics_path"),
    "refuses the Host header": lambda c, _: c["services"]["worker"]["environment"].pop(
        "ACCESSDRIFT_WORKER_ALLOWED_HOSTS"
    ),
    "no scrape job targets": lambda _, p: p["scrape_configs"][0]["static_configs"][0].update(
        targets=["localhost:6066"]
    ),
    "is not the worker's token": lambda c, _: c["secrets"]["worker_token"].update(
        environment="GRAFANA_PASSWORD"
    ),
}


@pytest.mark.parametrize("fault", sorted(PLANTED_PROMETHEUS))
def test_a_prometheus_that_cannot_scrape_is_reported(fault: str) -> None:
    compose, prometheus = load_compose(), load_prometheus()
    PLANTED_PROMETHEUS[fault](compose, prometheus)
    assert any(fault in problem for problem in prometheus_problems(compose, prometheus))


def test_env_example_names_every_variable_compose_needs() -> None:
    text = COMPOSE.read_text()
    compose = load_compose()
    env_example = parse_env_file(ENV_EXAMPLE.read_text())
    assert env_example_gaps(text, compose, env_example) == []
    assert {"CLICKHOUSE_PASSWORD", "ACCESSDRIFT_WORKER_TOKEN"} <= set(env_example)
    planted = text + "\nx-extra: ${NEW_SECRET:?set it}\n"
    assert env_example_gaps(planted, compose, {**env_example, "OLD": "hunter2"}) == [
        "missing from .env.example: NEW_SECRET",
        "not used by compose: OLD",
        "OLD is not a placeholder",
    ]


def test_interpolation_reads_what_compose_reads() -> None:
    assert interpolated("a ${A:?x} $B ${C-d} $$NOT ${D}") == {"A", "B", "C", "D"}
