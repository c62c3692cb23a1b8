-- What the detection core found. A finding is re-emitted only when it improves (an
-- overdue lag later closed, an earlier first use): the latest version is the one kept.
CREATE TABLE IF NOT EXISTS provisioning_lag
(
    lag_id          String,
    identity_id     String,
    identity_kind   LowCardinality(String),
    change_type     LowCardinality(String),
    system          LowCardinality(String),
    account_id      String,
    credential_id   Nullable(String),
    source_time     DateTime64(6, 'UTC'),
    downstream_time Nullable(DateTime64(6, 'UTC')),
    lag_seconds     Nullable(Float64),
    status          LowCardinality(String),
    detected_at     DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(detected_at)
ORDER BY lag_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS alerts
(
    alert_id         String,
    kind             LowCardinality(String),
    severity         LowCardinality(String),
    identity_id      String,
    identity_kind    LowCardinality(String),
    account_id       Nullable(String),
    credential_id    Nullable(String),
    deprovisioned_at DateTime64(6, 'UTC'),
    used_at          Nullable(DateTime64(6, 'UTC')),
    seconds_after    Nullable(Float64),
    system           Nullable(String),
    action           Nullable(String),
    source_ip        Nullable(String),
    detected_at      DateTime64(6, 'UTC'),
    evidence         String
)
ENGINE = ReplacingMergeTree(detected_at)
ORDER BY alert_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Latency percentiles of closed pairs, computed over the deduplicated table (FINAL), so
-- that a replay or a superseded overdue row never counts twice. A materialized
-- AggregatingMergeTree would count every inserted version of a row.
CREATE VIEW IF NOT EXISTS lag_quantiles_hourly AS
SELECT
    system,
    change_type,
    identity_kind,
    toStartOfHour(source_time) AS hour,
    count() AS count,
    quantileExact(0.5)(lag_seconds) AS p50,
    quantileExact(0.9)(lag_seconds) AS p90,
    quantileExact(0.95)(lag_seconds) AS p95,
    quantileExact(0.99)(lag_seconds) AS p99
FROM provisioning_lag FINAL
WHERE status = 'closed'
GROUP BY system, change_type, identity_kind, hour;
