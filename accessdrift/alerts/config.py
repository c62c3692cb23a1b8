"""The routing file (``ACCESSDRIFT_ALERT_ROUTES``, CONTRACT.md "Alerts to people").

Parsed into frozen models; an unknown key or a bad value is refused at start with
the file's line and the reason. URLs and secrets are never in the file: each
destination names the environment variable (or file) that holds them.
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

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

    def url(self, environ: Mapping[str, str]) -> SecretStr:
        if self.url_env is None and self.url_file is None:
            if self.uses_slack_api:
                return SecretStr(SLACK_API)
            if self.type == "pagerduty":
                return SecretStr(PAGERDUTY_EVENTS)
        return _from_env_or_file(self.url_env, self.url_file, environ, "url")

    @property
    def uses_slack_api(self) -> bool:
        """A Slack destination with a bot token posts through the Web API
        (``chat.postMessage``; its URL, if given, is the API's base URL)."""
        return self.type == "slack" and (self.token_env is not None or self.token_file is not None)

    def token(self, environ: Mapping[str, str]) -> SecretStr:
        return _from_env_or_file(self.token_env, self.token_file, environ, "token")

    def secret(self, environ: Mapping[str, str]) -> SecretStr | None:
        if self.secret_env is None and self.secret_file is None:
            return None
        return _from_env_or_file(self.secret_env, self.secret_file, environ, "secret")


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


def _from_env_or_file(
    variable: str | None, file: Path | None, environ: Mapping[str, str], what: str
) -> SecretStr:
    if variable is not None:
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(
                f"the {what} of a destination: environment variable {variable} is empty"
            )
        return SecretStr(value)
    if file is not None:
        try:
            return SecretStr(file.read_text(encoding="utf-8").strip())
        except OSError as error:
            raise ConfigError(
                f"the {what} of a destination: cannot read {file}: {error}"
            ) from error
    raise ConfigError(f"a destination needs {what}_env or {what}_file")


def load_routing(path: Path, environ: Mapping[str, str] | None = None) -> Routing:
    """The file, checked: every model error names its line. Destinations whose URL (or
    secret) is missing from the environment are refused too, at start, not at the first
    alert."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the routing file {path}: {error}") from error
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not YAML: {error}") from error
    if data is None:
        data = {}
    try:
        routing = Routing.model_validate(data)
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
        for name, destination in routing.destinations.items():
            destination.url(environ)
            if destination.uses_slack_api:
                destination.token(environ)
                if not destination.channel:
                    raise ConfigError(f"destination {name!r}: a Slack bot token needs a channel")
            elif destination.type != "slack" and (destination.token_env or destination.channel):
                raise ConfigError(f"destination {name!r}: token and channel are for Slack")
            if destination.type == "webhook" and destination.secret(environ) is None:
                raise ConfigError(
                    f"destination {name!r}: a webhook needs secret_env or secret_file"
                )
            if destination.type == "pagerduty" and destination.secret(environ) is None:
                raise ConfigError(
                    f"destination {name!r}: PagerDuty needs its integration's routing key "
                    "in secret_env or secret_file"
                )
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return routing


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
