"""What a destination type is: the routing file's keys of a destination, and the plain
functions that check them, turn alerts and health notices into the service's payloads,
and post a payload.

A destination type is a module of this package that declares
``DESTINATION = DestinationType(...)``; the package finds it
(``accessdrift.alerts.destinations``), nothing else lists it.

The keys every type reads are ``Destination``'s: its URL and secret come from the
environment variable or the file it names, read through ``accessdrift.alerts.reach``'s
checks when the routing file is loaded and again for each message. A type with keys of
its own declares them in a subclass (its ``settings``), read through the same checks.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accessdrift.alerts.reach import (
    DEFAULT_SECRETS_DIRS,
    file_refusal,
    from_env_or_file,
    url_refusal,
    variable_refusal,
)
from accessdrift.alerts.send import Answer
from accessdrift.alerts.severities import Severity
from accessdrift.errors import ConfigError

Alert = Mapping[str, Any]
"""An alert as the notifier decodes it from ``drift.alerts``."""
Notice = Mapping[str, Any]
"""A health notice (``accessdrift.alerts.health``)."""
Payload = dict[str, Any]
"""What one message to the service is, before it is sent as JSON."""


def checked_variable(variable: str | None) -> str | None:
    """A field validator for a key naming an environment variable (``*_env``)."""
    reason = None if variable is None else variable_refusal(variable)
    if reason is not None:
        raise ValueError(reason)
    return variable


def checked_file(file: Path | None, info: ValidationInfo) -> Path | None:
    """A field validator for a key naming a file (``*_file``): in a secrets folder."""
    reason = None if file is None else file_refusal(file, secrets_dirs_of(info))
    if reason is not None:
        raise ValueError(reason)
    return file


def secrets_dirs_of(info: ValidationInfo) -> tuple[Path, ...]:
    context = info.context if isinstance(info.context, Mapping) else {}
    return tuple(context.get("secrets_dirs", DEFAULT_SECRETS_DIRS))


class Destination(BaseModel):
    """The keys of the routing file every destination type reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    url_env: str | None = None
    url_file: Path | None = None
    secret_env: str | None = None
    secret_file: Path | None = None
    min_severity: Severity = "info"
    rate_limit: int | None = Field(default=None, ge=1, description="messages per minute")
    link: str | None = Field(
        default=None,
        description="a link template for each alert, e.g. https://grafana.example/d/x?alert={alert_id}",
    )

    # The folders its files may be in, as the routing file was loaded with: every read,
    # at start and at each send, is checked against them.
    _secrets_dirs: tuple[Path, ...] = PrivateAttr(default=())
    # Where it posts when the file names no URL (its type's ``default_url``).
    _default_url: str | None = PrivateAttr(default=None)

    _variables = field_validator("url_env", "secret_env")(checked_variable)
    _files = field_validator("url_file", "secret_file")(checked_file)

    @model_validator(mode="after")
    def _remember_the_dirs(self, info: ValidationInfo) -> Self:
        self._secrets_dirs = secrets_dirs_of(info)
        return self

    def url(self, environ: Mapping[str, str]) -> SecretStr:
        if self.url_env is None and self.url_file is None and self._default_url is not None:
            return SecretStr(self._default_url)
        url = self.read(self.url_env, self.url_file, environ, "url")
        reason = url_refusal(url.get_secret_value())
        if reason is not None:  # the reason never quotes the URL: it may be a secret
            raise ConfigError(f"the url of a destination: {reason}")
        return url

    def secret(self, environ: Mapping[str, str]) -> SecretStr | None:
        if self.secret_env is None and self.secret_file is None:
            return None
        return self.read(self.secret_env, self.secret_file, environ, "secret")

    def key_of(self, what: str) -> str:
        """The routing file's key a value of the destination comes from (for the line):
        ``what`` is ``url``, ``secret`` or a type's own (``token``)."""
        if getattr(self, f"{what}_env") is not None:
            return f"{what}_env"
        return f"{what}_file" if getattr(self, f"{what}_file") is not None else "type"

    def read(
        self, variable: str | None, file: Path | None, environ: Mapping[str, str], what: str
    ) -> SecretStr:
        """A value from the variable or the file the destination names, checked."""
        return from_env_or_file(variable, file, environ, what, self._secrets_dirs)


SettingsT = TypeVar("SettingsT", bound=Destination)


def settings_of(destination: Destination, settings: type[SettingsT]) -> SettingsT:
    """The destination as its type's settings, with the keys of its own. Every destination
    of a loaded routing file is one: it was read with every type's keys
    (``accessdrift.alerts.destinations.DESTINATION_MODEL``)."""
    if not isinstance(destination, settings):
        raise TypeError(f"a destination read without the keys of {settings.__name__}")
    return destination


class Refused(ConfigError):
    """A destination's check at start that failed, with the key whose line to name."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key, self.reason = key, reason


T = TypeVar("T")


def refusing(key: str, read: Callable[[], T]) -> T:
    """``read()``; a value it cannot read is refused at the line of ``key``."""
    try:
        return read()
    except ConfigError as error:
        raise Refused(key, str(error)) from error


# (alerts, destination, update): one message of at most ``max_alerts`` alerts. Pure: the
# strings of an alert come from logs, and are escaped and cut here for the service.
RenderAlerts = Callable[[Sequence[Alert], Destination, bool], Payload]
# (notice, destination, deployment): one message about the deployment's health.
RenderNotice = Callable[[Notice, Destination, str], Payload]
# (destination, environ, payload): reads the URL (and secret) again, posts, never
# follows a redirect (``accessdrift.alerts.send``). A refused read raises ConfigError.
Post = Callable[[Destination, Mapping[str, str], Payload], Answer]
# (name, destination, environ): the type's own checks at start, after its URL was read;
# raises ``Refused``.
Check = Callable[[str, Destination, Mapping[str, str]], None]
# (name, destination): a destination of another type that sets this type's keys; raises
# ``Refused``.
CheckElsewhere = Callable[[str, Destination], None]


def _no_default_url(destination: Destination) -> str | None:
    return None


def _no_check(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    return None


@dataclass(frozen=True)
class DestinationType:
    name: str  # the routing file's ``type``; the module is named for it
    order: int  # its place where the types are listed (the refusal of an unknown type)
    max_alerts: int  # alerts per message: the dispatcher splits bigger groups
    render_alerts: RenderAlerts
    render_notice: RenderNotice
    post: Post
    settings: type[Destination] = Destination  # a subclass, with keys of its own
    default_url: Callable[[Destination], str | None] = _no_default_url
    check: Check = _no_check
    # Without one, any of its own keys set on a destination of another type is refused.
    check_elsewhere: CheckElsewhere | None = None

    def refuse_elsewhere(self, name: str, destination: Destination) -> None:
        """A destination of another type may not set this type's keys."""
        if self.check_elsewhere is not None:
            self.check_elsewhere(name, destination)
            return
        for key in self.settings.model_fields.keys() - Destination.model_fields.keys():
            if getattr(destination, key, None) is not None:
                raise Refused(key, f"destination {name!r}: {key} is for {self.name} destinations")
