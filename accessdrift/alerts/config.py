"""The routing file (``ACCESSDRIFT_ALERT_ROUTES``, CONTRACT.md "Alerts to people").

Parsed into frozen models; an unknown key or a bad value is refused at start with
the file's line and the reason. URLs and secrets are never in the file: each
destination names the environment variable (or file) that holds them.

A destination's keys and checks are its type's (``accessdrift.alerts.destinations``);
what its variables, files and URL may be (``accessdrift.alerts.reach``) is checked at
start with the line, and again at every send (a variable or a file may change after the
start).
"""

import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from accessdrift import catalog
from accessdrift.alerts.destinations import DESTINATION_MODEL, DESTINATIONS
from accessdrift.alerts.destinations.base import Destination, Refused, refusing
from accessdrift.alerts.reach import DEFAULT_SECRETS_DIRS as DEFAULT_SECRETS_DIRS
from accessdrift.alerts.severities import Severity
from accessdrift.durations import parse_duration
from accessdrift.errors import ConfigError

KINDS = tuple(catalog.ALERT_KINDS)
"""The kinds a route may match: the catalogue's, as the detectors declare them."""
GROUPABLE = ("identity_id", "kind", "severity", "identity_kind", "system", "account_id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> timedelta:
    if isinstance(value, bool):
        raise ValueError("not a duration")
    try:
        return parse_duration(value)
    except ConfigError as error:  # as a ValueError, pydantic names the key and its line
        raise ValueError(str(error)) from error


def _of_its_type(keys: Any, info: ValidationInfo) -> Destination:
    """A destination read with every type's keys: its errors name the key's line."""
    return DESTINATION_MODEL.model_validate(keys, context=info.context)


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
    destinations: dict[str, Annotated[Destination, BeforeValidator(_of_its_type)]] = {}
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
        except Refused as refused:
            keys = ["destinations", name, refused.key]
            raise ConfigError(
                f"{path}:{_line_of(node, keys)}: {'.'.join(keys)}: {refused.reason}"
            ) from refused.__cause__
    return routing


def _check_destination(name: str, destination: Destination, environ: Mapping[str, str]) -> None:
    """Its URL read, then no key of another type, then its type's own checks."""
    kind = DESTINATIONS[destination.type]
    refusing(destination.key_of("url"), lambda: destination.url(environ))
    for other in DESTINATIONS.values():
        if other is not kind:
            other.refuse_elsewhere(name, destination)
    kind.check(name, destination, environ)


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
