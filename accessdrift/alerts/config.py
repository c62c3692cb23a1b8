"""The routing file (``ACCESSDRIFT_ALERT_ROUTES``, CONTRACT.md "Alerts to people").

Parsed into frozen models; an unknown key or a bad value is refused at start with
the file's line and the reason. URLs and secrets are never in the file: each
destination names the environment variable (or file) that holds them.

Whoever writes the routing file chooses where alerts go, not what the process holds:
a destination may not read the project's own variables (``ACCESSDRIFT_*``, the worker
token, the ClickHouse and Kafka passwords), nor the platform's credentials (``AWS_*``,
``GITHUB_TOKEN``: ``PLATFORM_PREFIXES``, ``PLATFORM_NAMES``), nor files outside the secret folders
(``ACCESSDRIFT_ALERT_SECRETS_DIRS``), and its URL is https (plain http to loopback only),
never a link-local address or a cloud metadata service. Checked at start with the line,
and again at every send (a variable or a file may change after the start).
"""

import ipaddress
import os
import re
import socket
import stat
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accessdrift.durations import parse_duration
from accessdrift.errors import ConfigError

SEVERITIES = ("info", "low", "medium", "high", "critical")
"""Lowest first."""

Severity = Literal["info", "low", "medium", "high", "critical"]
KINDS = (
    "used_after_deprovision",
    "used_after_revocation",
    "attempted_after_deprovision",
    "deprovision_overdue",
    "orphaned_nhi",
)
GROUPABLE = ("identity_id", "kind", "severity", "identity_kind", "system", "account_id")


SLACK_API = "https://slack.com/api/"
PAGERDUTY_EVENTS = "https://events.pagerduty.com/v2/enqueue"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> timedelta:
    if isinstance(value, bool):
        raise ValueError("not a duration")
    try:
        return parse_duration(value)
    except ConfigError as error:  # as a ValueError, pydantic names the key and its line
        raise ValueError(str(error)) from error


class Destination(_Strict):
    type: Literal["slack", "teams", "webhook", "pagerduty"]
    url_env: str | None = None
    url_file: Path | None = None
    secret_env: str | None = None
    secret_file: Path | None = None
    min_severity: Severity = "info"
    rate_limit: int | None = Field(default=None, ge=1, description="messages per minute")
    token_env: str | None = None
    token_file: Path | None = None
    channel: str | None = Field(
        default=None, description="Slack's Web API (chat.postMessage): the channel id or name"
    )
    link: str | None = Field(
        default=None,
        description="a link template for each alert, e.g. https://grafana.example/d/x?alert={alert_id}",
    )

    # The folders its files may be in, as the routing file was loaded with: every read,
    # at start and at each send, is checked against them.
    _secrets_dirs: tuple[Path, ...] = PrivateAttr(default=())

    @field_validator("url_env", "secret_env", "token_env")
    @classmethod
    def _not_our_own(cls, variable: str | None) -> str | None:
        reason = None if variable is None else variable_refusal(variable)
        if reason is not None:
            raise ValueError(reason)
        return variable

    @field_validator("url_file", "secret_file", "token_file")
    @classmethod
    def _in_a_secrets_dir(cls, file: Path | None, info: ValidationInfo) -> Path | None:
        reason = None if file is None else file_refusal(file, _secrets_dirs_of(info))
        if reason is not None:
            raise ValueError(reason)
        return file

    @model_validator(mode="after")
    def _remember_the_dirs(self, info: ValidationInfo) -> Self:
        self._secrets_dirs = _secrets_dirs_of(info)
        return self

    def url(self, environ: Mapping[str, str]) -> SecretStr:
        if self.url_env is None and self.url_file is None:
            if self.uses_slack_api:
                return SecretStr(SLACK_API)
            if self.type == "pagerduty":
                return SecretStr(PAGERDUTY_EVENTS)
        url = self._read(self.url_env, self.url_file, environ, "url")
        reason = url_refusal(url.get_secret_value())
        if reason is not None:  # the reason never quotes the URL: it may be a secret
            raise ConfigError(f"the url of a destination: {reason}")
        return url

    def key_of(self, what: Literal["url", "secret", "token"]) -> str:
        """The routing file's key a value of the destination comes from (for the line)."""
        if getattr(self, f"{what}_env") is not None:
            return f"{what}_env"
        return f"{what}_file" if getattr(self, f"{what}_file") is not None else "type"

    def _read(
        self, variable: str | None, file: Path | None, environ: Mapping[str, str], what: str
    ) -> SecretStr:
        return _from_env_or_file(variable, file, environ, what, self._secrets_dirs)

    @property
    def uses_slack_api(self) -> bool:
        """A Slack destination with a bot token posts through the Web API
        (``chat.postMessage``; its URL, if given, is the API's base URL)."""
        return self.type == "slack" and (self.token_env is not None or self.token_file is not None)

    def token(self, environ: Mapping[str, str]) -> SecretStr:
        return self._read(self.token_env, self.token_file, environ, "token")

    def secret(self, environ: Mapping[str, str]) -> SecretStr | None:
        if self.secret_env is None and self.secret_file is None:
            return None
        return self._read(self.secret_env, self.secret_file, environ, "secret")


class Match(_Strict):
    kind: list[Literal[KINDS]] | None = None  # type: ignore[valid-type]
    min_severity: Severity = "info"
    system: list[str] | None = None
    identity_kind: list[Literal["human", "nhi"]] | None = None


class Route(_Strict):
    match: Match = Match()
    to: list[str] = Field(min_length=1)
    group_by: list[Literal[GROUPABLE]] = ["identity_id"]  # type: ignore[valid-type]
    group_wait: timedelta = timedelta(seconds=10)
    group_interval: timedelta = timedelta(minutes=5)

    _durations = field_validator("group_wait", "group_interval", mode="before")(_duration)


class Health(_Strict):
    to: list[str] = []


class Routing(_Strict):
    destinations: dict[str, Destination] = {}
    routes: list[Route] = []
    max_age: timedelta = timedelta(hours=24)
    health: Health = Health()

    _durations = field_validator("max_age", mode="before")(_duration)

    def check_names(self) -> None:
        for where, names in [(f"routes[{i}].to", r.to) for i, r in enumerate(self.routes)] + [
            ("health.to", self.health.to)
        ]:
            for name in names:
                if name not in self.destinations:
                    raise ConfigError(f"{where}: no destination named {name!r}")


ROUTING_MAX_BYTES = 1024 * 1024
"""A routing file is a few kilobytes; a bigger one is refused unread (PyYAML and pydantic
took 40 s and 805 MB over 2 MB)."""
ROUTING_MAX_NODES = 20_000
"""YAML nodes once aliases are expanded: ``*names`` under 30,000 routes would hand pydantic
900 million strings from a file under the size cap (the billion laughs, made linear)."""
SECRET_FILE_MAX_BYTES = 64 * 1024
DEFAULT_SECRETS_DIRS = (Path("/run/secrets"), Path("/run/credentials"))
"""Where Docker and Compose (``/run/secrets``) and systemd (``LoadCredential=``,
``/run/credentials/<unit>``) put secrets: folders that hold nothing but secrets given to
this service. Not the routing file's own folder: that is often the deployment's, with its
``.env`` beside it."""
NEVER_READ = (
    Path("/proc"),  # /proc/self/environ, /proc/self/cmdline: every secret of the process
    Path("/dev"),
    Path("/sys"),
    # The platform's credentials, mounted beside the service's own secrets: the pod's
    # Kubernetes service account token, EKS, EKS Pod Identity and AKS workload identity.
    Path("/run/secrets/kubernetes.io"),
    Path("/run/secrets/eks.amazonaws.com"),
    Path("/run/secrets/pods.eks.amazonaws.com"),
    Path("/run/secrets/azure"),
    Path("/var/run/secrets/kubernetes.io"),
    Path("/var/run/secrets/eks.amazonaws.com"),
    Path("/var/run/secrets/pods.eks.amazonaws.com"),
    Path("/var/run/secrets/azure"),
)
OWN_PREFIX = "ACCESSDRIFT_"
# The platform's own credentials, which the environment of a worker on a cloud, in a pod
# or in CI holds beside the variables its operator set for the destinations: the routing
# file chooses where alerts go, not which of the process's secrets go with them. A
# denylist, kept short and well known: the operator names a destination's variables
# (SLACK_SOC_WEBHOOK, SIEM_SIGNING_SECRET), and these are never among them.
PLATFORM_PREFIXES = (
    "AWS_",  # AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CONTAINER_CREDENTIALS_*_URI
    "AZURE_",  # AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE
    "ARM_",  # Terraform's azurerm: ARM_CLIENT_SECRET
    "IDENTITY_",  # Azure App Service managed identity: IDENTITY_ENDPOINT, IDENTITY_HEADER
    "MSI_",  # its former names: MSI_ENDPOINT, MSI_SECRET
    "GOOGLE_",  # GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN
    "GCP_",
    "GCLOUD_",
    "CLOUDSDK_",  # CLOUDSDK_AUTH_ACCESS_TOKEN
    "ALIBABA_CLOUD_",  # ALIBABA_CLOUD_ACCESS_KEY_SECRET
    "KUBERNETES_",  # the API server of the pod's cluster
    "VAULT_",  # VAULT_TOKEN
    "ECS_",  # ECS_CONTAINER_METADATA_URI
    "ACTIONS_",  # GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_RUNTIME_TOKEN
)
PLATFORM_NAMES = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "CI_JOB_TOKEN",  # GitLab CI
        "CI_JOB_JWT",
        "CI_JOB_JWT_V2",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPLOY_PASSWORD",
        "SYSTEM_ACCESSTOKEN",  # Azure Pipelines
        "BUILDKITE_AGENT_ACCESS_TOKEN",
        "CIRCLE_OIDC_TOKEN",
        "CIRCLE_OIDC_TOKEN_V2",
        "DOCKER_AUTH_CONFIG",
        "DATABASE_URL",  # Heroku, Render, Fly: the database's password in a URL
    }
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def variable_refusal(variable: str) -> str | None:
    """Why a destination may not read this environment variable, or None."""
    if not _VARIABLE.fullmatch(variable):
        return f"{variable!r} is not the name of an environment variable"
    # pydantic-settings reads ACCESSDRIFT_ names in any case: so is the refusal.
    if variable.upper().startswith(OWN_PREFIX):
        return (
            f"{variable} is accessdrift's own setting: a destination's URL or secret comes "
            f"from a variable of its own, never from an {OWN_PREFIX}* one"
        )
    name = variable.upper()  # Windows' names are case-insensitive: so is the refusal
    if name in PLATFORM_NAMES or name.startswith(PLATFORM_PREFIXES):
        return (
            f"{variable} holds the platform's credentials (cloud, cluster or CI): "
            "a destination's URL or secret comes from a variable named for it"
        )
    return None


def file_refusal(file: Path, secrets_dirs: Sequence[Path]) -> str | None:
    """Why a destination may not read this file, or None. Links and ``..`` are followed
    first: the check is on the file that would be read."""
    try:
        resolved = file.resolve()
        never = [path.resolve() for path in NEVER_READ]
        allowed = [Path(folder).resolve() for folder in secrets_dirs]
    except (OSError, RuntimeError):  # a loop of links
        return f"{file}: its links do not resolve"
    if any(resolved.is_relative_to(path) for path in never):
        return f"{file} is never read: /proc, /dev, /sys and the platform's credentials"
    if resolved.name == ".env":
        return f"{file} is an env file: it holds accessdrift's own settings"
    if not any(resolved.is_relative_to(folder) for folder in allowed):
        folders = ", ".join(str(folder) for folder in secrets_dirs) or "none"
        return (
            f"{file} is outside the folders a destination's secrets may be read from "
            f"(ACCESSDRIFT_ALERT_SECRETS_DIRS: {folders})"
        )
    return None


METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
        "169.254.170.2",  # ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's WireServer
        "192.0.0.192",  # Oracle Cloud's former address
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


def url_refusal(url: str) -> str | None:
    """Why a destination may not post to this URL, or None: https anywhere (private
    addresses too: a SIEM on the internal network), plain http to loopback only (local
    receivers, tests), no credentials in it, never a link-local address or a cloud metadata
    service however it is spelled. The reason never quotes the URL (it may be a secret)."""
    if _CONTROL.search(url):
        return "the URL holds spaces or control characters"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() not in ("https", "http"):
        return "the URL is not https"
    if parts.username is not None or parts.password is not None:
        # Never sent by accessdrift's clients, and a way to dress one host as another
        # (https://hooks.slack.com@169.254.169.254/).
        return "the URL carries a user name or password"
    if not host:
        return "the URL names no host"
    host = unquote(host)  # as urllib does before it connects: %31%36%39.254.169.254
    if _CONTROL.search(host):
        return "the URL's host holds spaces or control characters"
    address, name = _host(host)
    if address is None and name is None:
        return "the URL's host is not a host name"
    bare = (name or "").rstrip(".")
    if bare in METADATA_NAMES or bare.endswith(".metadata.google.internal"):
        return "the URL's host is a cloud metadata service"
    # "localhost" exactly: "localhost." may be asked of DNS, whose answer is anyone's.
    loopback = name == "localhost"
    for each in _addresses(address):
        if each in METADATA_ADDRESSES:
            return "the URL's host is a cloud metadata service"
        if each.is_link_local:
            return "the URL's host is a link-local address"
        if each.is_unspecified or each.is_multicast:
            return "the URL's host is not the address of one machine"
        loopback = loopback or each.is_loopback
    if parts.scheme.lower() == "http" and not loopback:
        return "plain http only to a loopback address (127.0.0.1, ::1, localhost): use https"
    return None


def _host(
    host: str,
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, str | None]:
    """The URL's host as the resolver will take it: an address (also the forms
    ``inet_aton`` accepts, 2852039166 or 0251.0376.0251.0376), or a name, after the IDNA
    mapping Python's socket applies (full-width digits, circled letters, U+3002 dots)."""
    try:
        return ipaddress.ip_address(host), None
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None, None
    try:
        return ipaddress.ip_address(name.rstrip(".")), None
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name.rstrip("."))), None
    except OSError:
        return None, name


def _addresses(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address and the IPv4 address it carries, if any (mapped, NAT64, 6to4)."""
    if address is None:
        return []
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        found.append(ipaddress.IPv6Address(address.compressed.split("%")[0]))  # no zone
    return found


def _secrets_dirs_of(info: ValidationInfo) -> tuple[Path, ...]:
    context = info.context if isinstance(info.context, Mapping) else {}
    return tuple(context.get("secrets_dirs", DEFAULT_SECRETS_DIRS))


def _from_env_or_file(
    variable: str | None,
    file: Path | None,
    environ: Mapping[str, str],
    what: str,
    secrets_dirs: Sequence[Path],
) -> SecretStr:
    if variable is not None:
        reason = variable_refusal(variable)
        if reason is not None:
            raise ConfigError(f"the {what} of a destination: {reason}")
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(
                f"the {what} of a destination: environment variable {variable} is empty"
            )
        return SecretStr(value)
    if file is not None:
        return SecretStr(_read_secret_file(file, secrets_dirs, what).strip())
    raise ConfigError(f"a destination needs {what}_env or {what}_file")


def _read_secret_file(file: Path, secrets_dirs: Sequence[Path], what: str) -> str:
    """Checked again at each read: a file, or a link to it, may be changed after the
    start. The resolved path is opened without following a last link (one swapped in
    since the check), and only a regular file of a secret's size is read."""
    reason = file_refusal(file, secrets_dirs)
    if reason is not None:
        raise ConfigError(f"the {what} of a destination: {reason}")
    try:
        descriptor = os.open(file.resolve(), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as opened:
            status = os.fstat(opened.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise ConfigError(f"the {what} of a destination: {file} is not a regular file")
            raw = opened.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(
            f"the {what} of a destination: cannot read {file}: {error.strerror}"
        ) from error
    if len(raw) > SECRET_FILE_MAX_BYTES:
        raise ConfigError(f"the {what} of a destination: {file} is larger than a secret")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"the {what} of a destination: {file} is not UTF-8 text") from error


def _read_routing_file(path: Path) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(ROUTING_MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read the routing file {path}: {error}") from error
    if len(raw) > ROUTING_MAX_BYTES:
        raise ConfigError(
            f"{path}: larger than {ROUTING_MAX_BYTES} bytes, refused unread "
            "(a routing file is a few kilobytes)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text: {error}") from error


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """Composed once (libyaml when present: it also bounds the nesting), the expanded
    size checked, then constructed from the same nodes."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None and not _within(node, ROUTING_MAX_NODES):
            raise ConfigError(
                f"{path}: more than {ROUTING_MAX_NODES} YAML nodes once its aliases are "
                "expanded (an alias bomb, or a routing file far larger than any needs)"
            )
        return node, (loader.construct_document(node) if node is not None else None)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not YAML: {error}") from error
    except RecursionError as error:  # the pure-Python composer, without libyaml
        raise ConfigError(f"{path}: not YAML this parser can read: nested too deep") from error
    finally:
        loader.dispose()


def _within(root: yaml.Node, limit: int) -> bool:
    """Whether the document, every alias expanded, has at most ``limit`` nodes: counted
    one by one and given up past the limit, so a bomb (or an alias of itself) costs at
    most ``limit`` steps."""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
    return True


def load_routing(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    secrets_dirs: Sequence[Path] = DEFAULT_SECRETS_DIRS,
) -> Routing:
    """The file, checked: every model error names its line. Destinations whose URL (or
    secret) is missing from the environment, or refused, are refused too, at start, not at
    the first alert. ``secrets_dirs``: the folders their files may be in
    (``ACCESSDRIFT_ALERT_SECRETS_DIRS``)."""
    environ = os.environ if environ is None else environ
    node, data = _parse(path, _read_routing_file(path))
    if data is None:
        data = {}
    try:
        routing = Routing.model_validate(data, context={"secrets_dirs": tuple(secrets_dirs)})
    except ValidationError as error:
        first = error.errors()[0]
        location = list(first["loc"])
        line = _line_of(node, location)
        where = ".".join(str(part) for part in location) or "(top)"
        raise ConfigError(f"{path}:{line}: {where}: {first['msg']}") from error
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    try:
        routing.check_names()
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    for name, destination in routing.destinations.items():
        try:
            _check_destination(name, destination, environ)
        except _Refused as refused:
            keys = ["destinations", name, refused.key]
            raise ConfigError(
                f"{path}:{_line_of(node, keys)}: {'.'.join(keys)}: {refused.reason}"
            ) from refused.__cause__
    return routing


class _Refused(ConfigError):
    """A destination's check that failed, with the key of the line to name (never leaves
    ``load_routing``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key, self.reason = key, reason


def _check_destination(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    def reading(what: Literal["url", "secret", "token"]) -> Any:
        try:
            if what == "url":
                return destination.url(environ)
            return destination.token(environ) if what == "token" else destination.secret(environ)
        except ConfigError as error:
            raise _Refused(destination.key_of(what), str(error)) from error

    reading("url")
    if destination.uses_slack_api:
        reading("token")
        if not destination.channel:
            raise _Refused(
                destination.key_of("token"),
                f"destination {name!r}: a Slack bot token needs a channel",
            )
    elif destination.type != "slack" and (destination.token_env or destination.channel):
        raise _Refused(
            "token_env" if destination.token_env else "channel",
            f"destination {name!r}: token and channel are for Slack",
        )
    if destination.type == "webhook" and reading("secret") is None:
        raise _Refused("type", f"destination {name!r}: a webhook needs secret_env or secret_file")
    if destination.type == "pagerduty" and reading("secret") is None:
        raise _Refused(
            "type",
            f"destination {name!r}: PagerDuty needs its integration's routing key "
            "in secret_env or secret_file",
        )


def _line_of(node: yaml.Node | None, location: list[Any]) -> int:
    """The 1-based line of the deepest node of ``location`` that exists in the file."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:
                if key.value == str(part):
                    found = (key, value)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
