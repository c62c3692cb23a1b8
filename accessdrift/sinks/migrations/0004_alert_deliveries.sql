-- What the notifier sent, retried or gave up, per alert and destination
-- (CONTRACT.md "Alerts to people"): the latest version by updated_at is the state.
-- Written before a send (pending) and after it (sent, retrying, failed), so that a
-- restarted notifier resumes instead of sending again.
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    alert_id         String,
    destination      LowCardinality(String),
    status           LowCardinality(String),
    attempts         UInt32,
    last_http_status Nullable(UInt16),
    sent_at          Nullable(DateTime64(6, 'UTC')),
    updated_at       DateTime64(6, 'UTC'),
    first_attempt_at Nullable(DateTime64(6, 'UTC')),
    alert_version    String,
    updates          UInt8,
    answer           String
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (alert_id, destination);
