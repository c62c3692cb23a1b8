"""``/metrics/``: the worker's counters in Prometheus' text format (prometheus-client).

The counters are the ones ``/stats/`` serves, named for Prometheus: rows sunk per
table, records per stage, dead letters per stage, alert deliveries by status,
health notices, and the age of event time (now minus the resolver's watermark).
"""

import time
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

GAUGES = {"deliveries:waiting", "resolver:watermark_us"}


class CountsCollector(Collector):
    def __init__(self, counts: Mapping[str, int], deployment: str) -> None:
        self.counts = counts
        self.deployment = deployment

    def collect(self) -> Iterator[Metric]:
        labels = ["deployment"]
        sunk = CounterMetricFamily(
            "accessdrift_sink_rows", "Rows written to ClickHouse", labels=[*labels, "table"]
        )
        dead = CounterMetricFamily(
            "accessdrift_dead_letters",
            "Records sent to drift.deadletter",
            labels=[*labels, "stage"],
        )
        deliveries = CounterMetricFamily(
            "accessdrift_alert_deliveries",
            "Alert deliveries recorded, by status (a delivery passes several)",
            labels=[*labels, "status"],
        )
        notices = CounterMetricFamily(
            "accessdrift_health_notices", "Health notices sent", labels=[*labels, "state"]
        )
        events = CounterMetricFamily(
            "accessdrift_events", "Records and messages per stage", labels=[*labels, "counter"]
        )
        waiting = GaugeMetricFamily(
            "accessdrift_alert_deliveries_waiting", "Deliveries queued or retrying", labels=labels
        )
        age = GaugeMetricFamily(
            "accessdrift_watermark_age_seconds",
            "Wall clock minus the resolver's event-time watermark",
            labels=labels,
        )
        deployment = [self.deployment]
        for key, value in sorted(dict(self.counts).items()):
            group, _, name = key.partition(":")
            if key == "deliveries:waiting":
                waiting.add_metric(deployment, value)
            elif key == "resolver:watermark_us":
                age.add_metric(deployment, max(0.0, time.time() - value / 1e6))
            elif group == "sink":
                sunk.add_metric([*deployment, name], value)
            elif name == "dead-lettered":
                dead.add_metric([*deployment, group], value)
            elif group == "deliveries":
                deliveries.add_metric([*deployment, name], value)
            elif group == "health":
                notices.add_metric([*deployment, name], value)
            else:
                events.add_metric([*deployment, key], value)
        yield from (sunk, dead, deliveries, notices, events, waiting, age)


def metrics_text(counts: Mapping[str, int], deployment: str) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CountsCollector(counts, deployment))
    return generate_latest(registry)
