"""Which destinations an alert reaches, and under which route's grouping: pure."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accessdrift.alerts.config import Route, Routing
from accessdrift.alerts.severities import severity_rank


def matches(route: Route, alert: Mapping[str, Any]) -> bool:
    match = route.match
    if severity_rank(str(alert.get("severity"))) < severity_rank(match.min_severity):
        return False
    if match.kind is not None and alert.get("kind") not in match.kind:
        return False
    if match.system is not None and alert.get("system") not in match.system:
        return False
    return match.identity_kind is None or alert.get("identity_kind") in match.identity_kind


@dataclass(frozen=True)
class Target:
    destination: str
    route: Route  # the first matching route that sends there: its grouping applies


def targets(routing: Routing, alert: Mapping[str, Any]) -> list[Target]:
    """Every destination of every matching route, once each, in the file's order; a
    destination's own ``min_severity`` applies on top of the route's."""
    found: dict[str, Target] = {}
    for route in routing.routes:
        if not matches(route, alert):
            continue
        for name in route.to:
            destination = routing.destinations[name]
            if severity_rank(str(alert.get("severity"))) < severity_rank(destination.min_severity):
                continue
            found.setdefault(name, Target(name, route))
    return list(found.values())


GroupKey = tuple[str, tuple[str, ...]]


def group_key(target: Target, alert: Mapping[str, Any]) -> GroupKey:
    """Alerts that go out together: one destination, one grouping (a critical route with
    no group_wait never waits in another route's group), the same group_by values."""
    route = target.route
    timing = (
        f"{route.group_wait.total_seconds()}/{route.group_interval.total_seconds()}/"
        + ",".join(route.group_by)
    )
    values = tuple(str(alert.get(field)) for field in route.group_by)
    return target.destination, (timing, *values)
