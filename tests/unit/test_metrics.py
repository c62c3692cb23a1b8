import time

from prometheus_client.parser import text_string_to_metric_families

from accessdrift.streams.metrics import metrics_text


def test_the_counters_read_as_prometheus_metrics() -> None:
    counts = {
        "sink:cloud_audit": 12,
        "ingest:dead-lettered": 3,
        "okta:dead-lettered": 1,
        "deliveries:sent": 5,
        "deliveries:failed": 1,
        "deliveries:waiting": 2,
        "health:firing": 1,
        "resolver:records": 40,
        "resolver:watermark_us": int((time.time() - 90) * 1e6),
    }
    families = {
        family.name: family
        for family in text_string_to_metric_families(metrics_text(counts, "team-a.").decode())
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    who = ("deployment", "team-a.")
    assert samples[("accessdrift_sink_rows_total", (who, ("table", "cloud_audit")))] == 12
    assert samples[("accessdrift_dead_letters_total", (who, ("stage", "okta")))] == 1
    assert samples[("accessdrift_alert_deliveries_total", (who, ("status", "failed")))] == 1
    assert samples[("accessdrift_alert_deliveries_waiting", (who,))] == 2
    assert samples[("accessdrift_events_total", (("counter", "resolver:records"), who))] == 40
    age = samples[("accessdrift_watermark_age_seconds", (who,))]
    assert 89 <= age <= 120


def test_consumer_lag_sink_retries_and_an_outage_have_metrics_of_their_own() -> None:
    counts = {"lag:p.cloud.audit": 120, "lag:p.drift.lag": 0, "ingest:insert_retries": 7}
    text = metrics_text(counts, "p.", failing_seconds=42.5).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    who = ("deployment", "p.")
    assert samples[("accessdrift_consumer_lag", (who, ("topic", "p.cloud.audit")))] == 120
    assert samples[("accessdrift_consumer_lag", (who, ("topic", "p.drift.lag")))] == 0
    assert samples[("accessdrift_sink_insert_retries_total", (who,))] == 7
    assert samples[("accessdrift_sink_failing_seconds", (who,))] == 42.5
    assert not any(name == "accessdrift_events_total" for name, _ in samples), "not events"
