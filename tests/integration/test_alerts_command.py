"""`accessdrift alerts test` and `alerts routes` as a person runs them, against local
receivers."""

import hashlib
import hmac
from pathlib import Path
from typing import Any

from tests.helpers import Isolated
from tests.receivers import Receiver, receiving

ROUTES = """\
destinations:
  soc-slack: {type: slack, url_env: T_SLACK}
  soc-teams: {type: teams, url_env: T_TEAMS}
  siem:      {type: webhook, url_env: T_SIEM, secret_env: T_SECRET}
routes:
  - match: {kind: [used_after_deprovision, used_after_revocation], min_severity: high}
    to: [soc-slack, siem]
  - match: {identity_kind: [nhi]}
    to: [soc-teams]
"""


def test_alerts_test_sends_a_sample_to_each_kind_of_destination(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    slack = Receiver(answer=lambda _: (200, "ok", {}))
    teams = Receiver(answer=lambda _: (202, "", {}))
    siem = Receiver(answer=lambda _: (400, "bad signature? no: bad request", {}))
    isolated = Isolated(data_dir=tmp_path / "data")
    with receiving(slack), receiving(teams), receiving(siem):
        env = {
            "ACCESSDRIFT_ALERT_ROUTES": str(routes),
            "T_SLACK": slack.url,
            "T_TEAMS": teams.url,
            "T_SIEM": siem.url,
            "T_SECRET": "s" * 32,
        }
        ran = isolated.cli("alerts", "test", "soc-slack", **env)
        assert ran.returncode == 0 and "delivered (HTTP 200)" in ran.stdout, ran.stdout + ran.stderr
        assert slack.received[0].json()["blocks"][0]["type"] == "header"
        ran = isolated.cli("alerts", "test", "soc-teams", **env)
        assert ran.returncode == 0 and "HTTP 202" in ran.stdout
        card = teams.received[0].json()["attachments"][0]["content"]
        assert card["type"] == "AdaptiveCard"
        ran = isolated.cli("alerts", "test", "siem", **env)
        assert ran.returncode == 1 and "refused (HTTP 400) bad signature? no" in ran.stdout
        request = siem.received[0]
        stamp = request.headers["X-Accessdrift-Timestamp"]
        mac = hmac.new(b"s" * 32, f"{stamp}.".encode() + request.body, hashlib.sha256)
        assert request.headers["X-Accessdrift-Signature"] == f"sha256={mac.hexdigest()}"
        assert siem.url not in ran.stdout + ran.stderr

        routed = isolated.cli(
            "alerts", "routes", "--kind", "used_after_revocation", "--severity", "critical", **env
        )
        assert routed.stdout.split() == ["soc-slack", "siem"]
        nhi = isolated.cli(
            "alerts", "routes", "--kind", "orphaned_nhi", "--identity-kind", "nhi", **env
        )
        assert nhi.stdout.split() == ["soc-teams"]

        broken = tmp_path / "broken.yaml"
        broken.write_text(ROUTES.replace("min_severity: high", "min_severity: urgent"))
        refused = isolated.cli("alerts", "routes", ACCESSDRIFT_ALERT_ROUTES=str(broken))
        assert refused.returncode == 78  # configuration (docs/cli.md)
        assert "broken.yaml:6:" in refused.stderr and "min_severity" in refused.stderr


def test_a_slack_bot_token_posts_through_the_web_api(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "destinations:\n"
        "  soc-bot: {type: slack, token_env: T_TOKEN, channel: C0123SOC, url_env: T_API}\n"
        "  lost: {type: slack, token_env: T_TOKEN, channel: C404, url_env: T_API}\n"
    )

    def answer(request: Any) -> tuple[int, str, dict[str, str]]:
        if b"C404" in request.body:
            return 200, '{"ok": false, "error": "channel_not_found"}', {}
        return 200, '{"ok": true, "channel": "C0123SOC", "ts": "1.2"}', {}

    api = Receiver(answer=answer)
    isolated = Isolated(data_dir=tmp_path / "data")
    with receiving(api):
        env = {
            "ACCESSDRIFT_ALERT_ROUTES": str(routes),
            "T_TOKEN": "xoxb-test-token-0000",
            "T_API": f"http://127.0.0.1:{api.port}/api/",
        }
        ran = isolated.cli("alerts", "test", "soc-bot", **env)
        assert ran.returncode == 0 and "delivered" in ran.stdout, ran.stdout + ran.stderr
        request = api.received[0]
        assert request.path == "/api/chat.postMessage"
        assert request.headers["Authorization"] == "Bearer xoxb-test-token-0000"
        assert b"C0123SOC" in request.body and b"header" in request.body
        lost = isolated.cli("alerts", "test", "lost", **env)
        assert (
            lost.returncode == 1 and "refused" in lost.stdout and "channel_not_found" in lost.stdout
        )
        assert "xoxb" not in lost.stdout + lost.stderr


def test_pagerduty_gets_one_event_per_alert_with_its_routing_key(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "destinations:\n  pager: {type: pagerduty, url_env: T_PD, secret_env: T_PD_KEY}\n"
    )
    events = Receiver(answer=lambda _: (202, '{"status": "success", "dedup_key": "x"}', {}))
    isolated = Isolated(data_dir=tmp_path / "data")
    with receiving(events):
        env = {
            "ACCESSDRIFT_ALERT_ROUTES": str(routes),
            "T_PD": events.url,
            "T_PD_KEY": "0123456789abcdef0123456789abcdef",
        }
        ran = isolated.cli("alerts", "test", "pager", **env)
        assert ran.returncode == 0 and "HTTP 202" in ran.stdout, ran.stdout + ran.stderr
        event = events.received[0].json()
        assert event["routing_key"] == env["T_PD_KEY"] and event["event_action"] == "trigger"
        assert event["dedup_key"].startswith("test-")
        missing = isolated.cli("alerts", "test", "pager", **{**env, "T_PD_KEY": ""})
        assert missing.returncode == 78 and "T_PD_KEY is empty" in missing.stderr
