-- Who owns each account and credential (drift.ownership), and every account or
-- credential a leaver or suspend had to reach from the moment the detector knows of
-- it (drift.pairs): what SQL needs to answer "every account it had to reach" and
-- "which accounts does no identity claim". The latest version of a row is its state.
CREATE TABLE IF NOT EXISTS ownership
(
    subject       String,
    subject_kind  LowCardinality(String),
    system        LowCardinality(String),
    identity_id   String,
    identity_kind LowCardinality(String),
    correlated    Bool,
    claim         LowCardinality(String),
    claim_source  LowCardinality(String),
    parent_id     Nullable(String),
    claimed_at    Nullable(DateTime64(6, 'UTC')),
    resolved_at   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(resolved_at)
ORDER BY subject
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS deprovision_pairs
(
    lag_id          String,
    identity_id     String,
    identity_kind   LowCardinality(String),
    change_type     LowCardinality(String),
    system          LowCardinality(String),
    account_id      String,
    credential_id   Nullable(String),
    source_time     DateTime64(6, 'UTC'),
    sla_seconds     Float64,
    due_at          DateTime64(6, 'UTC'),
    status          LowCardinality(String),
    downstream_time Nullable(DateTime64(6, 'UTC')),
    lag_seconds     Nullable(Float64),
    within_sla      Nullable(Bool),
    detected_at     DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(detected_at)
ORDER BY lag_id
SETTINGS non_replicated_deduplication_window = 10000;
