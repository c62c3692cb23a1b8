"""Judging what several workers wrote: drift.lag and drift.alerts read from the broker
(the topics every worker of a deployment writes), folded by id, scored."""

from typing import Any

from accessdrift.commands.evaluate import evaluate
from accessdrift.schemas.codec import codec_for
from tests.faults.scenario import Organisation, say
from tests.helpers import Isolated, Worker, read_topic


def _latest(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """What a sink keeps: the latest version (by detected_at) of each id."""
    kept: dict[str, dict[str, Any]] = {}
    for record in records:
        known = kept.get(record[key])
        if known is None or record["detected_at"] >= known["detected_at"]:
            kept[record[key]] = record
    return list(kept.values())


def judge_topics(isolated: Isolated, org: Organisation) -> dict[str, Any]:
    """drift.lag and drift.alerts read from the broker, folded by id, scored."""

    def read(name: str, record: str) -> list[dict[str, Any]]:
        messages = read_topic("127.0.0.1:9092", f"{isolated.prefix}{name}", 10**6, timeout=10)
        return [codec_for(record).decode_dict(message.value()) for message in messages]

    lags, alerts = read("drift.lag", "ProvisioningLag"), read("drift.alerts", "Alert")
    figures = evaluate(
        org.expected(), _latest(alerts, "alert_id"), _latest(lags, "lag_id"), 0
    ).as_dict()
    say(
        f"found in the topics: {len(lags)} lag records, {len(alerts)} alert records; "
        f"perfect={figures['perfect']} lags={figures['lags']['detected']}/"
        f"{figures['lags']['expected']} missing={figures['missing'][:3]} "
        f"unexpected={figures['unexpected'][:3]}"
    )
    return figures


def drained(*workers: Worker) -> bool:
    """Every message sent to an identity handled, and no fact waiting for an answer
    between resolver partitions."""
    sent = done = waiting = 0
    for worker in workers:
        stages = worker.client.stages()
        sent += stages.get("identity:messages_sent", 0)
        done += stages.get("identity:messages_done", 0)
        waiting += stages.get("resolver:waiting", 0)
    return done >= sent and waiting == 0
