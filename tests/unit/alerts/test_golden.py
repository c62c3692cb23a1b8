"""The exact payload of each destination type, kept as golden files: a change to what
a person receives shows in review. Regenerate with ``python -m tests.unit.alerts.test_golden``."""

import json
from pathlib import Path
from typing import Any

from accessdrift.alerts.render import slack_message, teams_message, webhook_body
from tests.unit.alerts.samples import alert

GOLDEN = Path(__file__).parents[2] / "fixtures" / "alerts"
LINK = "https://grafana.example/d/accessdrift?var-alert={alert_id}"


def rendered() -> dict[str, Any]:
    alerts = [alert(), alert(alert_id="al-0002", credential_id=None, action="<!channel> hi")]
    return {
        "slack.json": slack_message(alerts, LINK),
        "teams.json": teams_message(alerts, LINK),
        "webhook.json": json.loads(webhook_body(alerts)),
    }


def test_each_destination_types_payload_is_the_golden_one() -> None:
    for name, payload in rendered().items():
        assert payload == json.loads((GOLDEN / name).read_text()), name


if __name__ == "__main__":
    for name, payload in rendered().items():
        (GOLDEN / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
