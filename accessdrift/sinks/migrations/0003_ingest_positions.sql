-- How far the batch ingest has written each topic partition into this database.
-- The broker remembers how far the deployment has read (its consumer group); this
-- table remembers what this database holds. A database new to a deployment the
-- broker already knows (a fresh data folder, a new server) has no row for a
-- partition: the ingest reads it again from its start, into the tables only
-- (accessdrift/streams/ingest.py), and nothing the topics still hold is missing here.
CREATE TABLE IF NOT EXISTS ingest_positions
(
    topic       String,
    partition   UInt32,
    next_offset Int64,
    written_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (topic, partition);
