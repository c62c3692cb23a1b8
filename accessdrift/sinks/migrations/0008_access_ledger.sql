-- The access ledger (CONTRACT.md "Access ledger and entitlement drift"): what each
-- account held in event time, as intervals, and the views over it.

-- What a permission_granted or permission_revoked event grants or takes away, and
-- whether that counts as privileged; the entitlement an alert or a mover's lag row is
-- about. Nullable: the rows written before this migration have none. ADD COLUMN IF NOT
-- EXISTS: an upgrade interrupted half-way runs again.
ALTER TABLE cloud_audit ADD COLUMN IF NOT EXISTS entitlement Nullable(String) AFTER user_agent;
ALTER TABLE cloud_audit ADD COLUMN IF NOT EXISTS privileged Nullable(Bool) AFTER entitlement;
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS entitlement Nullable(String) AFTER evidence;
ALTER TABLE provisioning_lag ADD COLUMN IF NOT EXISTS entitlement Nullable(String) AFTER detected_at;

-- One row per interval (accessdrift/schemas/AccessInterval.avsc, drift.ledger); the latest version
-- by updated_at is the interval. `removed` is also the engine's is_deleted column: FINAL
-- leaves out an interval whose latest version is a tombstone, so that an analyst's own
-- `SELECT ... FROM access_ledger FINAL` never counts one (without FINAL the tombstones
-- still show). The views filter NOT removed all the same: said where it is read.
CREATE TABLE IF NOT EXISTS access_ledger
(
    interval_id   String,
    system        LowCardinality(String),
    account_id    String,
    subject_type  LowCardinality(String),
    subject       String,
    identity_id   String,
    identity_kind LowCardinality(String),
    valid_from    DateTime64(6, 'UTC'),
    valid_to      Nullable(DateTime64(6, 'UTC')),
    opened_by     Nullable(String),
    closed_by     Nullable(String),
    privileged    Bool,
    removed       Bool,
    updated_at    DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at, removed)
ORDER BY interval_id
SETTINGS non_replicated_deduplication_window = 10000;

-- What every identity held at a moment, in every system: its accounts, credentials and
-- entitlements whose interval holds at {at} (begun at or before it, not ended by it).
-- SELECT * FROM access_at(at = '2026-03-03 09:00:00') WHERE identity_id = 'E00042'
CREATE OR REPLACE VIEW access_at AS
SELECT
    identity_id,
    identity_kind,
    system,
    account_id,
    subject_type,
    subject,
    privileged,
    valid_from,
    valid_to,
    opened_by,
    closed_by
FROM access_ledger FINAL
WHERE NOT removed
  AND valid_from <= {at:DateTime64(6, 'UTC')}
  AND (valid_to IS NULL OR valid_to > {at:DateTime64(6, 'UTC')});

-- Per leaver and entitlement interval of the identity's accounts (the identity that
-- owns them now): those held when it left and those granted after it, until it came
-- back (a later joiner or reactivate); when each was removed, or that it still holds.
CREATE OR REPLACE VIEW entitlements_of_leavers AS
WITH
    leavers AS (
        SELECT identity_id, event_time AS left_at
        FROM directory_changes FINAL
        WHERE change_type = 'leaver'
    ),
    returns AS (
        SELECT identity_id, groupArray(event_time) AS restarts
        FROM directory_changes FINAL
        WHERE change_type IN ('joiner', 'reactivate')
        GROUP BY identity_id
    ),
    held AS (
        SELECT identity_id, identity_kind, system, account_id, subject AS entitlement,
               privileged, valid_from, valid_to
        FROM access_ledger FINAL
        WHERE subject_type = 'entitlement' AND NOT removed
    )
SELECT
    held.identity_id AS identity_id,
    held.identity_kind AS identity_kind,
    leavers.left_at AS left_at,
    held.system AS system,
    held.account_id AS account_id,
    held.entitlement AS entitlement,
    held.privileged AS privileged,
    held.valid_from AS valid_from,
    held.valid_to AS valid_to,
    toBool(held.valid_from <= leavers.left_at) AS held_at_leave,
    toBool(held.valid_from > leavers.left_at) AS granted_after_leave,
    toBool(held.valid_to IS NULL) AS still_held,
    dateDiff('second', leavers.left_at, held.valid_to) AS removed_after_seconds
FROM held
INNER JOIN leavers ON leavers.identity_id = held.identity_id
LEFT JOIN returns ON returns.identity_id = held.identity_id
-- Not ended by the leave, and not begun after a return (a rehired person's new grants
-- are the new employment's).
WHERE (held.valid_to IS NULL OR held.valid_to > leavers.left_at)
  AND arrayCount(t -> t > leavers.left_at AND t <= held.valid_from, ifNull(returns.restarts, [])) = 0
SETTINGS join_use_nulls = 1;

-- Per mover_access_retained alert: the entitlement the old role held and the new one
-- does not list, still held at the mover SLA's deadline (due_at); when it was granted,
-- and revoked since or not. The interval is the one held at the move (ASOF: the latest
-- begun before it); until the ledger has it, the alert's own evidence says.
CREATE OR REPLACE VIEW access_retained_after_move AS
WITH
    retained AS (
        SELECT
            alert_id,
            severity,
            identity_id,
            identity_kind,
            deprovisioned_at AS moved_at,
            parseDateTime64BestEffortOrNull(JSONExtractString(evidence, 'deadline'), 6, 'UTC') AS due_at,
            ifNull(system, '') AS system,
            ifNull(account_id, '') AS account_id,
            ifNull(entitlement, '') AS entitlement,
            JSONExtract(evidence, 'privileged', 'Nullable(Bool)') AS said_privileged,
            parseDateTime64BestEffortOrNull(JSONExtractString(evidence, 'granted_at'), 6, 'UTC') AS said_granted_at
        FROM alerts FINAL
        WHERE kind = 'mover_access_retained'
    ),
    held AS (
        SELECT account_id, subject AS entitlement, valid_from, valid_to, privileged
        FROM access_ledger FINAL
        WHERE subject_type = 'entitlement' AND NOT removed
          AND (account_id, subject) IN (SELECT account_id, entitlement FROM retained)
    )
SELECT
    retained.alert_id AS alert_id,
    retained.severity AS severity,
    retained.identity_id AS identity_id,
    retained.identity_kind AS identity_kind,
    retained.moved_at AS moved_at,
    retained.due_at AS due_at,
    retained.system AS system,
    retained.account_id AS account_id,
    retained.entitlement AS entitlement,
    coalesce(held.privileged, retained.said_privileged, false) AS privileged,
    coalesce(held.valid_from, retained.said_granted_at) AS granted_at,
    held.valid_to AS revoked_at,
    -- Unknown (null) only while the ledger has not the interval yet.
    if(held.valid_from IS NULL, CAST(NULL AS Nullable(Bool)), toBool(held.valid_to IS NULL)) AS still_held
FROM retained
ASOF LEFT JOIN held
    ON held.account_id = retained.account_id
   AND held.entitlement = retained.entitlement
   AND held.valid_from < retained.moved_at
SETTINGS join_use_nulls = 1;
