"""What a destination of the routing file can reach (docs/alerts.md, "What the routing
file can reach"): the environment variables and the files its URL, secret or token may
be read from, and the URLs it may post to. Checked when the routing file is loaded, with
the file's line (``accessdrift.alerts.config``), and again at every send (a variable or a
file may change after the start).

Whoever writes the routing file chooses where alerts go, not what the process holds:
a destination may not read the project's own variables (``ACCESSDRIFT_*``, the worker
token, the ClickHouse and Kafka passwords), nor the platform's credentials (``AWS_*``,
``GITHUB_TOKEN``: ``PLATFORM_PREFIXES``, ``PLATFORM_NAMES``), nor files outside the secret folders
(``ACCESSDRIFT_ALERT_SECRETS_DIRS``), and its URL is https (plain http to loopback only),
never a link-local address or a cloud metadata service.
"""

import ipaddress
import os
import re
import socket
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from accessdrift.errors import ConfigError

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


def from_env_or_file(
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
