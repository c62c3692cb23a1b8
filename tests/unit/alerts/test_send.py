import socket

from pydantic import SecretStr

from accessdrift.alerts.send import backoff, post_json, post_slack


def refused_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/secret-path-T0KEN"


def test_a_service_that_is_down_is_worth_a_retry_and_its_url_is_never_said() -> None:
    url = refused_url()
    for answer in (
        post_json(SecretStr(url), {"x": 1}),
        post_slack(SecretStr(url), {"text": "x", "blocks": []}),
    ):
        assert answer.outcome == "retry" and answer.http_status is None
        assert "secret-path-T0KEN" not in answer.text


def test_backoff_grows_and_stays_within_its_cap() -> None:
    for attempts in range(1, 30):
        assert 0 <= backoff(attempts) <= min(600, 2 ** (attempts - 1))


def test_an_answer_that_echoes_the_webhooks_path_keeps_it_secret() -> None:
    from accessdrift.alerts.send import _without

    url = SecretStr("https://hooks.slack.com/services/T000/B000/XXXXSECRET")
    said = _without("no_service: /services/T000/B000/XXXXSECRET is gone", url)
    assert "XXXXSECRET" not in said and said == "no_service: <secret> is gone"
