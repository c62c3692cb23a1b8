-- Normalized input events, one row per event_id (ReplacingMergeTree: query with FINAL).
CREATE TABLE IF NOT EXISTS directory_changes
(
    event_id      String,
    event_time    DateTime64(6, 'UTC'),
    source        LowCardinality(String),
    identity_id   String,
    identity_kind LowCardinality(String),
    change_type   LowCardinality(String),
    accounts      Array(String),
    owner_id      Nullable(String),
    attributes    Map(String, String),
    email         Nullable(String),
    ingested_at   DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS cloud_audit
(
    event_id             String,
    event_time           DateTime64(6, 'UTC'),
    system               LowCardinality(String),
    account_id           String,
    credential_id        Nullable(String),
    action               LowCardinality(String),
    kind                 LowCardinality(String),
    target_account_id    Nullable(String),
    target_credential_id Nullable(String),
    outcome              LowCardinality(String),
    source_ip            Nullable(String),
    user_agent           Nullable(String),
    ingested_at          DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS secret_usage
(
    event_id      String,
    event_time    DateTime64(6, 'UTC'),
    store         LowCardinality(String),
    credential_id String,
    account_id    Nullable(String),
    secret_ref    Nullable(String),
    operation     LowCardinality(String),
    outcome       LowCardinality(String),
    ingested_at   DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS identity_links
(
    event_time    DateTime64(6, 'UTC'),
    source        LowCardinality(String),
    identity_id   String,
    identity_kind LowCardinality(String),
    account_id    Nullable(String),
    credential_id Nullable(String),
    removed       Bool,
    ingested_at   DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (identity_id, ifNull(account_id, ''), ifNull(credential_id, ''), event_time, removed, source)
SETTINGS non_replicated_deduplication_window = 10000;
