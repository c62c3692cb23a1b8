-- Every silence and every change to it (drift.silences, sunk by the ingest), so that
-- an auditor sees who muted what, when and why; alert_deliveries has, per alert,
-- `silenced` and the silence's id. The latest version per silence_id is the silence.
CREATE TABLE IF NOT EXISTS alert_silences
(
    silence_id String,
    matchers   Map(String, String),
    starts_at  DateTime64(6, 'UTC'),
    ends_at    DateTime64(6, 'UTC'),
    reason     String,
    created_by String,
    created_at DateTime64(6, 'UTC'),
    expired_at Nullable(DateTime64(6, 'UTC')),
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY silence_id;
