"""The exact payload of each destination type, kept as golden files: a change to what
a person receives shows in review. Every discovered type has its own: ``<type>.json``
(alerts) and ``<type>.notice.json`` (a health notice). Regenerate with
``python -m tests.unit.alerts.test_golden``."""

import json
from pathlib import Path
from typing import Any

from accessdrift.alerts.destinations import DESTINATIONS, destination_of
from tests.unit.alerts.samples import alert

GOLDEN = Path(__file__).parents[2] / "fixtures" / "alerts"
LINK = "https://grafana.example/d/accessdrift?var-alert={alert_id}"
NOTICE = {
    "condition": "input_silent",
    "subject": "cloud.audit",
    "state": "firing",
    "summary": "no <!channel> record on *cloud.audit* for 15m",
    "at": "2026-03-01T13:30:10.000000Z",
}


def rendered() -> dict[str, Any]:
    """File name -> payload: the first message of two sample alerts (one, for a type
    whose message is one alert), and a notice."""
    alerts = [alert(), alert(alert_id="al-0002", credential_id=None, action="<!channel> hi")]
    payloads: dict[str, Any] = {}
    for name, kind in DESTINATIONS.items():
        destination = destination_of({"type": name, "link": LINK})
        payloads[f"{name}.json"] = kind.render_alerts(alerts[: kind.max_alerts], destination, False)
        payloads[f"{name}.notice.json"] = kind.render_notice(NOTICE, destination, "prod.")
    return payloads


def test_each_destination_types_payload_is_the_golden_one() -> None:
    for name, payload in rendered().items():
        assert payload == json.loads((GOLDEN / name).read_text()), name


def test_each_discovered_destination_type_has_its_golden_payloads() -> None:
    names = {path.name for path in GOLDEN.glob("*.json")}
    for name in DESTINATIONS:
        assert {f"{name}.json", f"{name}.notice.json"} <= names, name


if __name__ == "__main__":
    for name, payload in rendered().items():
        (GOLDEN / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
