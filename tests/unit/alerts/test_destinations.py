"""Destination types are found, not listed (issue 24, item 3): the routing file accepts
exactly the modules of ``accessdrift.alerts.destinations``, and what each type posts is
its golden payload."""

import json
import math
import typing
from dataclasses import replace
from pathlib import Path

import pytest

from accessdrift.alerts import destinations
from accessdrift.alerts.config import load_routing
from accessdrift.alerts.deliver import post_alerts, post_notice
from accessdrift.alerts.destinations import (
    DESTINATION_MODEL,
    DESTINATIONS,
    HELPERS,
    destination_model,
)
from accessdrift.alerts.destinations.base import Destination, Refused
from accessdrift.errors import ConfigError
from tests.receivers import Receiver, receiving
from tests.unit.alerts.samples import alert
from tests.unit.alerts.test_golden import GOLDEN, LINK, NOTICE

PACKAGE = Path(destinations.__file__).parent


def test_the_routing_file_accepts_exactly_the_discovered_modules(tmp_path: Path) -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"} - HELPERS
    assert set(DESTINATIONS) == modules
    accepted = typing.get_args(DESTINATION_MODEL.model_fields["type"].annotation)
    assert accepted == tuple(DESTINATIONS)
    routes = tmp_path / "routes.yaml"
    routes.write_text("destinations:\n  a: {type: fax, url_env: OUT}\n")
    with pytest.raises(ConfigError) as refused:
        load_routing(routes, {"OUT": "https://hooks.example/x"})
    *first, last = (repr(name) for name in DESTINATIONS)
    said = f"Input should be {', '.join(first)} or {last}"
    assert str(refused.value) == f"{routes}:2: destinations.a.type: {said}"
    assert list(DESTINATIONS)[:4] == ["slack", "teams", "webhook", "pagerduty"], (
        "listed as before they were modules"
    )


def test_slacks_keys_on_another_type_are_refused_as_before(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    for key in ("token_env: BOT", "channel: C1"):
        routes.write_text(f"destinations:\n  t:\n    type: teams\n    url_env: OUT\n    {key}\n")
        with pytest.raises(ConfigError) as refused:
            load_routing(routes, {"OUT": "https://teams.example/x", "BOT": "xoxb-1"})
        where = "token_env" if key.startswith("token") else "channel"
        assert str(refused.value) == (
            f"{routes}:5: destinations.t.{where}: destination 't': token and channel are for Slack"
        )


@pytest.mark.parametrize("name", list(DESTINATIONS))
def test_what_each_type_posts_is_its_golden_payload(tmp_path: Path, name: str) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"destinations:\n  out: {{type: {name}, url_env: OUT, secret_env: KEY, link: '{LINK}'}}\n"
    )
    receiver = Receiver()
    with receiving(receiver):
        environ = {"OUT": receiver.url, "KEY": "k" * 32}
        destination = load_routing(routes, environ).destinations["out"]
        sample = [alert(), alert(alert_id="al-0002", credential_id=None, action="<!channel> hi")]
        assert post_alerts(destination, environ, sample).outcome == "sent"
        assert post_notice(destination, environ, NOTICE, "prod.").outcome == "sent"
    golden = [
        json.loads((GOLDEN / f"{name}.json").read_text()),
        json.loads((GOLDEN / f"{name}.notice.json").read_text()),
    ]
    sent = [request.json() for request in receiver.received]
    if name == "pagerduty":  # one event per alert; the routing key, a secret, goes first
        assert [next(iter(event)) for event in sent] == ["routing_key"] * 3
        assert {event.pop("routing_key") for event in sent} == {"k" * 32}
        assert sent[1]["dedup_key"] == "al-0002"
    # A type that holds fewer alerts than the sample per message sends several; the golden
    # payload is the first (test_golden renders the first max_alerts alerts).
    alert_messages, notice = sent[:-1], sent[-1]
    assert len(alert_messages) == math.ceil(len(sample) / DESTINATIONS[name].max_alerts)
    assert [alert_messages[0], notice] == golden


class ChatSettings(Destination):
    username: str | None = None


def test_a_new_types_keys_are_its_own() -> None:
    teams = DESTINATIONS["teams"]
    chat = replace(teams, name="chat", order=9, settings=ChatSettings)
    model = destination_model([teams, chat])
    destination = model.model_validate({"type": "teams", "url_env": "OUT", "username": "bot"})
    with pytest.raises(Refused) as refused:
        chat.refuse_elsewhere("t", destination)
    assert (refused.value.key, refused.value.reason) == (
        "username",
        "destination 't': username is for chat destinations",
    )
    chat.refuse_elsewhere("c", model.model_validate({"type": "chat", "username": None}))
    with pytest.raises(TypeError, match="declared by chat and other"):
        destination_model([chat, replace(chat, name="other")])
