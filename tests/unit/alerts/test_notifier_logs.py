"""What a service answers reaches the notifier's log as one line (issue 23, item 7): a Slack
``error`` with a newline would otherwise write a log line of the service's choosing."""

import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from accessdrift.alerts.config import load_routing
from accessdrift.alerts.send import post_json, post_slack, post_slack_api
from accessdrift.errors import ClickHouseError
from accessdrift.settings import Settings
from accessdrift.streams.notifier import Notifier
from tests.receivers import Received, Receiver, receiving
from tests.unit.alerts.samples import alert

FORGED = "invalid_auth\nWARNING accessdrift.notifier: delivery to soc: sent\r\x1b[2K\u2028ok"


def one_line(text: str) -> bool:
    return text.isprintable()  # no \n, \r, escape, U+2028 or any other control


def slack_api_refusing(_: Received) -> tuple[int, str, dict[str, str]]:
    return 200, json.dumps({"ok": False, "error": FORGED}), {}


def slack_api_broken(_: Received) -> tuple[int, str, dict[str, str]]:
    return 502, f"<html>{FORGED}</html>", {}  # not JSON: slack_sdk logs it as it came


def notifier_to(tmp_path: Path, api: Receiver) -> Notifier:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "destinations:\n"
        "  soc: {type: slack, token_env: T_TOKEN, channel: C1, url_env: T_API}\n"
        "routes:\n  - to: [soc]\n    group_wait: 0s\n"
    )
    environ = {"T_TOKEN": "xoxb-test-token-0000", "T_API": f"http://127.0.0.1:{api.port}/api/"}
    return Notifier(
        Settings(),
        load_routing(routes, environ),
        insert=lambda *_: None,
        known=lambda _: {},
        counts=Counter(),
        environ=environ,
    )


@pytest.mark.parametrize("answer", [slack_api_refusing, slack_api_broken])
def test_a_slack_error_with_newlines_is_logged_on_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, answer: Any
) -> None:
    api = Receiver(answer=answer)
    with receiving(api):
        notifier = notifier_to(tmp_path, api)
        notifier.dispatcher.offer(alert(detected_at=datetime.now(UTC)), {}, time.time())
        with caplog.at_level(logging.WARNING):
            notifier._send_due()
    assert len(api.received) == 1
    messages = [record.getMessage() for record in caplog.records]  # every logger's
    assert any("delivery to soc" in message for message in messages), messages
    assert all(one_line(message) for message in messages), messages
    if answer is slack_api_refusing:
        assert any("invalid_auth" in message for message in messages), messages


def test_every_answer_is_one_line_for_the_table_and_the_terminal() -> None:
    def answer(_: Received) -> tuple[int, str, dict[str, str]]:
        return 400, "bad\r\nX-Fake: 1\x1b]0;owned\x07", {}

    for service in (Receiver(answer=slack_api_refusing), Receiver(answer=answer)):
        with receiving(service):
            url = SecretStr(f"http://127.0.0.1:{service.port}/api/")
            message: dict[str, Any] = {"text": "x", "blocks": []}
            answers = [
                post_slack_api(url, SecretStr("xoxb-0"), "C1", message),
                post_slack(url, message),
                post_json(url, message),
            ]
        for said in answers:
            assert one_line(said.text), said


def test_an_error_the_notifier_retries_is_logged_on_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = Receiver()
    with receiving(api):
        notifier = notifier_to(tmp_path, api)
    tries = iter([ClickHouseError("Code: 241\nWARNING forged line"), None])

    def flaky() -> None:
        error = next(tries)
        if error is not None:
            raise error

    notifier.stopping.wait = lambda _=None: True  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.ERROR, logger="accessdrift.notifier"):
        notifier._retrying(flaky)
    messages = [record.getMessage() for record in caplog.records]
    assert any("Code: 241" in message for message in messages), messages
    assert all(one_line(message) for message in messages), messages
