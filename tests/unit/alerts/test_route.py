from pathlib import Path

from accessdrift.alerts.config import load_routing
from accessdrift.alerts.route import targets
from tests.unit.alerts.samples import alert
from tests.unit.alerts.test_config import CONTRACT_EXAMPLE, ENV, write


def test_every_matching_route_delivers_once_per_destination(tmp_path: Path) -> None:
    routing = load_routing(write(tmp_path, CONTRACT_EXAMPLE), ENV)
    # Matches both routes; soc-slack is named by both and is sent to once.
    nhi = alert(identity_kind="nhi")
    assert [t.destination for t in targets(routing, nhi)] == ["soc-slack", "siem"]
    assert targets(routing, nhi)[0].route is routing.routes[0], "the first route's grouping"


def test_kind_severity_and_identity_kind_must_all_match(tmp_path: Path) -> None:
    routing = load_routing(write(tmp_path, CONTRACT_EXAMPLE), ENV)
    assert targets(routing, alert(severity="medium")) == []  # below min_severity high
    assert targets(routing, alert(kind="deprovision_overdue")) == []
    overdue_nhi = alert(kind="deprovision_overdue", identity_kind="nhi", severity="medium")
    assert [t.destination for t in targets(routing, overdue_nhi)] == ["soc-slack"]


def test_a_destinations_own_min_severity_applies_on_top(tmp_path: Path) -> None:
    text = CONTRACT_EXAMPLE.replace(
        "{type: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY}",
        "{type: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY, min_severity: critical}",
    )
    routing = load_routing(write(tmp_path, text), ENV)
    assert [t.destination for t in targets(routing, alert(severity="high"))] == ["soc-slack"]
    assert [t.destination for t in targets(routing, alert())] == ["soc-slack", "siem"]
