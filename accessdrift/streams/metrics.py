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
    def __init__(
        self, counts: Mapping[str, int], deployment: str, failing_seconds: float = 0.0
    ) -> None:
        self.counts = counts
        self.deployment = deployment
        self.failing_seconds = failing_seconds

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
        lag = GaugeMetricFamily(
            "accessdrift_consumer_lag",
            "Records in the batch ingest's topics not read yet",
            labels=[*labels, "topic"],
        )
        retries = CounterMetricFamily(
            "accessdrift_sink_insert_retries",
            "Inserts into ClickHouse that failed and were tried again",
            labels=labels,
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
            elif key == "identity:watermark_us":
                continue  # a time, not a count: the age above says how far behind it is
            elif group == "sink":
                sunk.add_metric([*deployment, name], value)
            elif group == "lag":
                lag.add_metric([*deployment, name], value)
            elif key == "ingest:insert_retries":
                retries.add_metric(deployment, value)
            elif name == "dead-lettered":
                dead.add_metric([*deployment, group], value)
            elif group == "deliveries":
                deliveries.add_metric([*deployment, name], value)
            elif group == "health":
                notices.add_metric([*deployment, name], value)
            else:
                events.add_metric([*deployment, key], value)
        failing = GaugeMetricFamily(
            "accessdrift_sink_failing_seconds",
            "How long the inserts into ClickHouse have been failing (0: they succeed)",
            labels=labels,
        )
        failing.add_metric(deployment, self.failing_seconds)
        yield from (sunk, dead, deliveries, notices, events, waiting, lag, retries, failing, age)


def metrics_text(counts: Mapping[str, int], deployment: str, failing_seconds: float = 0.0) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CountsCollector(counts, deployment, failing_seconds))
    return generate_latest(registry)
