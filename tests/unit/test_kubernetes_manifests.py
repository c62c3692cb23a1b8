"""deploy/kubernetes: the manifests of a Kubernetes deployment, checked without a cluster.

kustomize is not installed where the tests run (CI installs no Kubernetes tool), so
``render`` builds a kustomization the way ``kubectl kustomize`` does for the few
features the folder uses (resources, components, namespace, images, replicas and the
ConfigMap and Secret generators) and refuses any other, so that a feature added to a
kustomization.yaml fails here instead of being left out. Unlike kustomize it adds no
hash suffix to generated names: the references then stay as written, and nothing
below depends on the suffix.

Every rendered document but the ServiceMonitor is validated, in strict mode (an
unknown field fails), against the OpenAPI schemas of three Kubernetes versions that
kubernetes-validate ships. The ServiceMonitor is a CRD of the Prometheus Operator,
whose schema the package does not have: it is checked by hand, field by field.
"""

import base64
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr

from accessdrift.alerts.config import load_routing
from accessdrift.errors import ConfigError
from accessdrift.settings import Settings
from accessdrift.streams.web_auth import OPEN_PATHS, allowed_hosts, decide

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"
DOCS = REPO / "docs" / "kubernetes.md"

# The oldest minor still commonly run, a recent one, and the newest the package has.
KUBERNETES_VERSIONS = ("1.31.0", "1.34.0", "1.37.0")

Doc = dict[str, Any]

# What ``render`` knows how to apply; anything else in a kustomization.yaml fails.
KUSTOMIZATION_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "components",
        "namespace",
        "images",
        "replicas",
        "configMapGenerator",
        "secretGenerator",
        "configurations",
    }
)
GENERATOR_KEYS = frozenset({"name", "behavior", "envs", "files", "literals"})
SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"})

# Values for the secret env files the test writes in its copy of the overlay: shaped
# like the real ones (docs/kubernetes.md), never a real secret.
FAKE_SECRETS = {
    "accessdrift.env": {
        "ACCESSDRIFT_WORKER_TOKEN": "test-token-not-a-secret-0123456789",
        "ACCESSDRIFT_CLICKHOUSE_URL": "http://accessdrift:test-password@clickhouse:8123/accessdrift",
        "ACCESSDRIFT_KAFKA_SASL_PASSWORD": "test-kafka-password",
    },
    "destinations.env": {
        "SLACK_SOC_WEBHOOK": "https://hooks.slack.com/services/T000/B000/test",
        "SIEM_URL": "https://siem.example.com/accessdrift",
        "SIEM_SIGNING_SECRET": "test-signing-secret",
    },
}


# -- a kustomize for what the folder uses ------------------------------------------------


def load_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def parse_env_file(path: Path) -> dict[str, str]:
    """kustomize's env files: ``KEY=value`` a line, ``#`` comments, the value as written."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, equals, value = line.partition("=")
        # Without "=" kustomize would read the value from the environment of whoever
        # builds: never what a deployment means.
        assert equals, f"{path}:{number}: no '='"
        assert key == key.strip() and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), (
            f"{path}:{number}: {key!r} is not a variable name"
        )
        assert not value.startswith(("'", '"')), f"{path}:{number}: quotes would be in the value"
        values[key] = value
    return values


def generated(kind: str, spec: Mapping[str, Any], folder: Path) -> Doc:
    assert set(spec) <= GENERATOR_KEYS, set(spec) - GENERATOR_KEYS
    data: dict[str, str] = {}
    for env in spec.get("envs", []):
        data.update(parse_env_file(folder / env))
    for entry in spec.get("files", []):
        key, _, path = entry.rpartition("=")
        data[key or Path(path).name] = (folder / path).read_text()
    for literal in spec.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        doc["type"] = "Opaque"
        data = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    doc["data"] = data
    return doc


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{len(matches)} {kind} named {name}"
    return matches[0]


def render(folder: Path) -> list[Doc]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    assert not unknown, f"{folder}: render() does not apply {sorted(unknown)}"
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        docs += render(path) if path.is_dir() else load_documents(path)
    for entry in kustomization.get("components", []):
        component = yaml.safe_load((folder / entry / "kustomization.yaml").read_text())
        assert component["kind"] == "Component"
        docs += render(folder / entry)
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for spec in kustomization.get(key, []):
            made = generated(kind, spec, folder)
            behavior = spec.get("behavior", "create")
            if behavior == "create":
                docs.append(made)
                continue
            existing = find(docs, kind, spec["name"])
            if behavior == "merge":
                existing["data"] = {**existing["data"], **made["data"]}
            else:
                assert behavior == "replace", behavior
                existing["data"] = made["data"]
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        assert set(image) <= {"name", "newName", "newTag"}, image
        for container in all_containers(docs):
            if image_name(container["image"]) == image["name"]:
                tag = container["image"].removeprefix(image["name"])
                tag = f":{image['newTag']}" if "newTag" in image else tag
                container["image"] = image.get("newName", image["name"]) + tag
    for replicas in kustomization.get("replicas", []):
        assert set(replicas) == {"name", "count"}, replicas
        matches = [
            d for d in docs if d["kind"] in SCALABLE and d["metadata"]["name"] == replicas["name"]
        ]
        assert len(matches) == 1, replicas
        matches[0]["spec"]["replicas"] = replicas["count"]
    return docs


def image_name(image: str) -> str:
    """The image without its tag or digest (a registry's port stays)."""
    image = image.split("@", 1)[0]
    head, slash, last = image.rpartition("/")
    return head + slash + last.split(":", 1)[0]


def pod_specs(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for doc in docs:
        if doc["kind"] in {"StatefulSet", "Deployment"}:
            yield doc, doc["spec"]["template"]["spec"]


def all_containers(docs: list[Doc]) -> Iterator[Doc]:
    for _, pod in pod_specs(docs):
        yield from pod.get("initContainers", [])
        yield from pod["containers"]


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    """The example overlay with its secret files made up (the user makes the real ones)."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    for name, values in FAKE_SECRETS.items():
        lines = [f"{key}={value}" for key, value in values.items()]
        (copy / "overlays" / "example" / "secrets" / name).write_text("\n".join(lines) + "\n")
    return render(copy / "overlays" / "example")


@pytest.fixture(params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> list[Doc]:
    docs: list[Doc] = request.getfixturevalue(request.param)
    return docs


def worker(docs: list[Doc]) -> Doc:
    return find(docs, "StatefulSet", "accessdrift-worker")


def notifier(docs: list[Doc]) -> Doc:
    return find(docs, "Deployment", "accessdrift-notifier")


def container(workload: Doc) -> Doc:
    containers: list[Doc] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# -- the documents -------------------------------------------------------------------------


def test_the_deployment_is_there(base: list[Doc], overlay: list[Doc]) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in base)
    assert kinds == [
        ("ConfigMap", "accessdrift-routes"),
        ("ConfigMap", "accessdrift-settings"),
        ("Deployment", "accessdrift-notifier"),
        ("PodDisruptionBudget", "accessdrift-worker"),
        ("Service", "accessdrift-worker"),
        ("ServiceAccount", "accessdrift"),
        ("StatefulSet", "accessdrift-worker"),
    ]
    added = sorted(
        (d["kind"], d["metadata"]["name"])
        for d in overlay
        if (d["kind"], d["metadata"]["name"]) not in kinds
    )
    assert added == [
        ("Secret", "accessdrift"),
        ("Secret", "accessdrift-destinations"),
        ("ServiceMonitor", "accessdrift-worker"),
    ]
    assert {d["metadata"]["namespace"] for d in overlay} == {"accessdrift"}
    assert worker(overlay)["spec"]["replicas"] == 3
    images = {c["image"] for c in all_containers(overlay)}
    assert images == {"registry.example.com/security/accessdrift:0.1.0"}
    # Only the image and the command: nothing of the package's layout.
    for item in all_containers(overlay):
        assert item["command"] == ["accessdrift"]
    assert container(worker(overlay))["args"] == ["worker"]
    assert container(notifier(overlay))["args"] == ["notify"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_is_valid_kubernetes(rendered: list[Doc], version: str) -> None:
    problems = []
    checked = 0
    for doc in rendered:
        if doc["kind"] == "ServiceMonitor":
            continue  # a CRD: test_service_monitor
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            problems.append(f"{doc['kind']} {doc['metadata']['name']} {where}: {error.message}")
    assert not problems, "\n".join(problems)
    assert checked == len([d for d in rendered if d["kind"] != "ServiceMonitor"])


def test_an_unknown_field_fails_validation(base: list[Doc]) -> None:
    """Strict mode is what makes the test above worth having."""
    bad = yaml.safe_load(yaml.safe_dump(worker(base)))
    container(bad)["readinesProbe"] = container(bad)["readinessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[0], strict=True)


def test_service_monitor(overlay: list[Doc]) -> None:
    """By hand: the Prometheus Operator's schema is not in kubernetes-validate."""
    monitor = find(overlay, "ServiceMonitor", "accessdrift-worker")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["metadata"]) <= {"name", "namespace", "labels"}
    assert set(monitor["spec"]) == {"selector", "endpoints"}
    service = find(overlay, "Service", "accessdrift-worker")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {port["name"] for port in service["spec"]["ports"]}
    token_key = secret_key_ref(container(worker(overlay)), "ACCESSDRIFT_WORKER_TOKEN")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {
        "port",
        "path",
        "scheme",
        "interval",
        "scrapeTimeout",
        "authorization",
    }
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics/"
    assert endpoint["scheme"] == "http"
    for duration in ("interval", "scrapeTimeout"):
        assert re.fullmatch(r"[0-9]+(ms|s|m|h)", endpoint[duration])
    # /metrics/ sits behind the worker token: Prometheus sends it from the worker's Secret.
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": token_key["name"], "key": token_key["key"]},
    }
    find(overlay, "Secret", token_key["name"])
    # kustomize follows a generated Secret's new name into the ServiceMonitor only along
    # the path the component's configuration names: it must be where the name is.
    config = yaml.safe_load(
        (KUBERNETES / "components" / "servicemonitor" / "kustomizeconfig.yaml").read_text()
    )
    (reference,) = config["nameReference"]
    assert reference["kind"] == "Secret"
    (spec,) = reference["fieldSpecs"]
    assert (spec["kind"], spec["group"]) == ("ServiceMonitor", "monitoring.coreos.com")
    node: Any = monitor["spec"]
    for part in spec["path"].split("/")[1:]:
        node = node[0][part] if isinstance(node, list) else node[part]
    assert node == token_key["name"]


# -- settings ------------------------------------------------------------------------------


def secret_key_ref(item: Doc, name: str) -> Doc:
    (variable,) = [env for env in item["env"] if env["name"] == name]
    ref: Doc = variable["valueFrom"]["secretKeyRef"]
    return ref


def test_every_accessdrift_variable_is_a_setting() -> None:
    """In every file of the folder and the doc, comments included."""
    fields = {f"ACCESSDRIFT_{name.upper()}" for name in Settings.model_fields}
    named: dict[str, set[str]] = {}
    paths = [path for path in KUBERNETES.rglob("*") if path.is_file()] + [DOCS]
    for path in paths:
        for variable in re.findall(r"\bACCESSDRIFT_[A-Z0-9_]*[A-Z0-9]", path.read_text()):
            named.setdefault(variable, set()).add(str(path.relative_to(REPO)))
    unknown = {name: sorted(where) for name, where in named.items() if name not in fields}
    assert not unknown, unknown
    assert len(named) > 15, "the scan found the settings"


def environment(item: Doc, docs: list[Doc], pod_name: str) -> dict[str, str]:
    """What the kubelet gives the container: envFrom first, env over it, $(VAR) expanded."""
    values: dict[str, str] = {}
    for source in item.get("envFrom", []):
        if "configMapRef" in source:
            values.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = find(docs, "Secret", source["secretRef"]["name"])
            values.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    fields = {"metadata.name": pod_name, "metadata.namespace": "accessdrift"}
    for variable in item.get("env", []):
        if "value" in variable:
            value = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values[m[1]], variable["value"]
            )
        elif "fieldRef" in variable["valueFrom"]:
            value = fields[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            secret = find(docs, "Secret", ref["name"])
            value = base64.b64decode(secret["data"][ref["key"]]).decode()
        values[variable["name"]] = value
    return values


def settings_of(values: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The container's settings as the program reads them (the runner's own variables
    and .env file left out)."""
    for name in [name for name in os.environ if name.startswith("ACCESSDRIFT_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_the_worker_settings(overlay: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    item = container(worker(overlay))
    settings = settings_of(environment(item, overlay, "accessdrift-worker-0"), monkeypatch)
    # More than one worker: a ClickHouse server, never each pod's embedded engine; a pod
    # whose Secret lacks the URL does not start rather than fall back to it.
    assert worker(overlay)["spec"]["replicas"] > 1
    for required in ("ACCESSDRIFT_CLICKHOUSE_URL", "ACCESSDRIFT_WORKER_TOKEN"):
        assert not secret_key_ref(item, required).get("optional"), required
    assert not settings.clickhouse_is_embedded
    assert settings.clickhouse_dsn.startswith("http://")
    assert settings.worker_token is not None
    assert not settings.worker_notifies, "the notifier runs apart"
    assert settings.alert_routes is None, "else the worker would need the destinations' secrets"
    assert settings.topic_prefix == "prod."
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_client_config()["sasl.password"] == "test-kafka-password"
    (port,) = item["ports"]
    assert (port["name"], port["containerPort"]) == ("web", settings.worker_web_port)
    mounts = {mount["name"]: mount["mountPath"] for mount in item["volumeMounts"]}
    (claim,) = worker(overlay)["spec"]["volumeClaimTemplates"]
    assert Path(mounts[claim["metadata"]["name"]]) == settings.data_dir
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_workers_share_one_app_id(overlay: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    """ACCESSDRIFT_WORKER_ID is the Faust app name: the consumer groups. Taken from the pod
    name it would give each worker a group of its own, each reading every partition."""
    item = container(worker(overlay))
    assert all(env["name"] != "ACCESSDRIFT_WORKER_ID" for env in item["env"])
    apps = {
        settings_of(environment(item, overlay, f"accessdrift-worker-{n}"), monkeypatch).app_id
        for n in range(3)
    }
    assert apps == {"prod.accessdrift"}


def test_the_notifier_settings(
    overlay: list[Doc], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    item = container(notifier(overlay))
    values = environment(item, overlay, "accessdrift-notifier-5d9c7-abcde")
    settings = settings_of(values, monkeypatch)
    assert not settings.clickhouse_is_embedded, "one delivery state for every notifier"
    assert not secret_key_ref(item, "ACCESSDRIFT_CLICKHOUSE_URL").get("optional")
    assert settings.worker_token is None, "the notifier serves nothing and needs no token"
    assert settings.alert_routes is not None
    mounts = {mount["name"]: Path(mount["mountPath"]) for mount in item["volumeMounts"]}
    volumes = {v["name"]: v for v in notifier(overlay)["spec"]["template"]["spec"]["volumes"]}
    (name,) = [n for n, path in mounts.items() if settings.alert_routes.parent == path]
    routes = find(overlay, "ConfigMap", volumes[name]["configMap"]["name"])
    # The routing file as mounted loads, with the destinations' variables of the Secret.
    mounted = tmp_path / settings.alert_routes.name
    mounted.write_text(routes["data"][settings.alert_routes.name])
    routing = load_routing(mounted, values, secrets_dirs=settings.alert_secrets_dirs)
    assert set(routing.destinations) == {"soc-slack", "siem"}


@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_routing_files_load(folder: Path) -> None:
    """With a value for each variable they name, and refused without them."""
    path = folder / "routes.yaml"
    names = set(re.findall(r"_env: *([A-Z0-9_]+)", path.read_text()))
    values = {name: "https://hooks.example.com/x" for name in names}
    load_routing(path, values)
    for name in names:
        with pytest.raises(ConfigError, match=f"variable {name} is empty"):
            load_routing(path, {**values, name: ""})
    documented = DOCS.read_text()
    assert all(name in documented for name in names), "docs/kubernetes.md lists the variables"


def test_the_secret_keys_are_documented(overlay: list[Doc]) -> None:
    documented = DOCS.read_text()
    for item in all_containers(overlay):
        for env in item["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert f"`{ref['key']}`" in documented, ref["key"]
                assert ref["name"] in {"accessdrift"}, "one Secret for accessdrift's own settings"


# -- probes, web -------------------------------------------------------------------------


def test_probes_reach_live_and_ready_without_the_token(rendered: list[Doc]) -> None:
    item = container(worker(rendered))
    assert item["livenessProbe"]["httpGet"] == {"path": "/live/", "port": "web"}
    assert item["startupProbe"]["httpGet"] == {"path": "/live/", "port": "web"}
    assert item["readinessProbe"]["httpGet"] == {"path": "/ready/", "port": "web"}
    assert {"/live/", "/ready/"} <= OPEN_PATHS
    token = FAKE_SECRETS["accessdrift.env"]["ACCESSDRIFT_WORKER_TOKEN"]
    hosts = allowed_hosts("0.0.0.0", "")
    for path in ("/live/", "/ready/"):
        # The kubelet's Host is the pod's address and port; it sends no token.
        for host in ("10.244.1.7:6066", "[fd00:10:244::7]:6066"):
            answer = decide(
                path=path,
                method="GET",
                headers={"Host": host},
                cookies={},
                token=token,
                hosts=hosts,
            )
            assert answer.allowed, (path, host, answer.reason)


def test_metrics_need_the_token_prometheus_sends() -> None:
    token = FAKE_SECRETS["accessdrift.env"]["ACCESSDRIFT_WORKER_TOKEN"]
    hosts = allowed_hosts("0.0.0.0", "")
    headers = {"Host": "10.244.1.7:6066"}

    def allowed(extra: Mapping[str, str]) -> bool:
        decision = decide(
            path="/metrics/",
            method="GET",
            headers={**headers, **extra},
            cookies={},
            token=token,
            hosts=hosts,
        )
        return decision.allowed

    assert not allowed({})
    assert allowed({"Authorization": f"Bearer {token}"})


def test_each_worker_answers_to_its_stable_name(
    overlay: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    item = container(worker(overlay))
    settings = settings_of(environment(item, overlay, "accessdrift-worker-2"), monkeypatch)
    token = FAKE_SECRETS["accessdrift.env"]["ACCESSDRIFT_WORKER_TOKEN"]
    hosts = allowed_hosts(settings.worker_web_host, settings.worker_allowed_hosts)
    service = find(overlay, "Service", "accessdrift-worker")
    assert worker(overlay)["spec"]["serviceName"] == service["metadata"]["name"]
    for name in (
        "accessdrift-worker-2.accessdrift-worker",
        "accessdrift-worker-2.accessdrift-worker.accessdrift.svc",
        "accessdrift-worker-2.accessdrift-worker.accessdrift.svc.cluster.local",
    ):
        answer = decide(
            path="/stats/",
            method="GET",
            headers={"Host": f"{name}:6066", "Authorization": f"Bearer {token}"},
            cookies={},
            token=token,
            hosts=hosts,
        )
        assert answer.allowed, (name, answer.reason)
    # Another worker's name, or any other, is not this one's.
    assert "accessdrift-worker-1.accessdrift-worker" not in hosts
    assert not any("example" in host for host in hosts)


def test_prometheus_annotations(rendered: list[Doc]) -> None:
    annotations = worker(rendered)["spec"]["template"]["metadata"]["annotations"]
    port = container(worker(rendered))["ports"][0]["containerPort"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics/",
    }


# -- the workers' set, the service, the budget ----------------------------------------------


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_statefulset_service_and_budget(rendered: list[Doc]) -> None:
    workers = worker(rendered)
    pod_labels = workers["spec"]["template"]["metadata"]["labels"]
    assert labels_match(workers["spec"]["selector"]["matchLabels"], pod_labels)
    (claim,) = workers["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    mounts = {m["name"] for m in container(workers)["volumeMounts"]}
    assert claim["metadata"]["name"] in mounts
    service = find(rendered, "Service", workers["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None", "the governing Service is headless"
    assert labels_match(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "web"
    budget = find(rendered, "PodDisruptionBudget", "accessdrift-worker")
    assert labels_match(budget["spec"]["selector"]["matchLabels"], pod_labels)
    assert budget["spec"]["maxUnavailable"] == 1
    notifier_labels = notifier(rendered)["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"], budget["spec"]["selector"]["matchLabels"]):
        assert not labels_match(selector, notifier_labels), "the notifier is not a worker"


def test_every_reference_names_a_document(overlay: list[Doc]) -> None:
    for _, pod in pod_specs(overlay):
        find(overlay, "ServiceAccount", pod["serviceAccountName"])
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                find(overlay, "ConfigMap", volume["configMap"]["name"])
    for item in all_containers(overlay):
        for source in item.get("envFrom", []):
            if "configMapRef" in source:
                find(overlay, "ConfigMap", source["configMapRef"]["name"])
            else:
                find(overlay, "Secret", source["secretRef"]["name"])
        for env in item["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                secret = find(overlay, "Secret", ref["name"])
                assert ref.get("optional") or ref["key"] in secret["data"], ref


# -- security --------------------------------------------------------------------------------


def test_pods_run_restricted(rendered: list[Doc]) -> None:
    """Non-root as the image's user, no capability, a read-only root, no API token: the
    restricted Pod Security Standard and then some."""
    uid = re.search(r"--uid (\d+)", (REPO / "Dockerfile").read_text())
    assert uid is not None
    for workload, pod in pod_specs(rendered):
        name = workload["metadata"]["name"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] == int(uid[1]) == 10001, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        for item in pod["containers"]:
            own = item["securityContext"]
            # A container's own setting overrides the pod's.
            assert own.get("runAsNonRoot", True) is True, name
            assert own.get("runAsUser", context["runAsUser"]) == context["runAsUser"], name
            assert own["allowPrivilegeEscalation"] is False, name
            assert own["readOnlyRootFilesystem"] is True, name
            assert own["capabilities"] == {"drop": ["ALL"]}, name
            for need in ("requests", "limits"):
                assert set(item["resources"][need]) == {"cpu", "memory"}, (name, need)
            # Read-only root: every place it writes is a volume.
            mounts = {m["mountPath"] for m in item["volumeMounts"]}
            assert "/tmp" in mounts, name
    account = find(rendered, "ServiceAccount", "accessdrift")
    assert account["automountServiceAccountToken"] is False


def secret_fields() -> set[str]:
    return {
        f"ACCESSDRIFT_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }


def test_no_secret_in_the_repository() -> None:
    """Secrets come from files the user makes, which git ignores; no committed Secret
    carries a value, no ConfigMap a secret setting."""
    assert secret_fields() >= {"ACCESSDRIFT_WORKER_TOKEN", "ACCESSDRIFT_CLICKHOUSE_URL"}
    for path in KUBERNETES.rglob("*.yaml"):
        for doc in load_documents(path):
            if doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), path
    for path in KUBERNETES.rglob("*.env"):
        assert not set(parse_env_file(path)) & secret_fields(), path
    for path in KUBERNETES.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        for spec in kustomization.get("secretGenerator", []):
            assert "literals" not in spec, path
            for entry in spec.get("envs", []) + spec.get("files", []):
                file = path.parent / entry.rpartition("=")[2]
                ignore = file.parent / ".gitignore"
                rules = [
                    line for line in ignore.read_text().splitlines() if not line.startswith("#")
                ]
                assert rules == ["*", "!.gitignore"], f"{ignore} ignores {file.name}"
                # What the test itself writes goes to a copy, never here.
                assert file.parent != KUBERNETES / "base", "the base makes no Secret"
