-- Credential hygiene (issue 26, docs/hygiene.md): stale credentials and accounts,
-- overdue rotation, shared credentials, uncorrelated accounts in use and roles that
-- outlived their owners (trust_path_of_leaver), and the resolution of a finding that
-- stops being true.

-- When a stale_credential or stale_account finding stopped being true: set in a newer
-- version of the same alert (same alert_id, later detected_at), which FINAL keeps.
-- Nullable: every other kind never resolves, and the rows written before have none.
-- ADD COLUMN IF NOT EXISTS: an upgrade interrupted half-way runs again.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolved_at Nullable(DateTime64(6, 'UTC')) AFTER entitlement;

-- One row per stale_credential or stale_account alert, in its latest version: what is
-- unused since when (`since`: its last successful use, or its creation), how many days
-- (up to its resolution, or to the latest event time while it is open), and whether it
-- is still open. `stale_at` is the deadline that raised it (the detector's evidence).
CREATE OR REPLACE VIEW stale_credentials AS
SELECT
    alert_id,
    kind,
    severity,
    identity_id,
    identity_kind,
    ifNull(system, '') AS system,
    account_id,
    credential_id,
    ifNull(credential_id, ifNull(account_id, '')) AS subject,
    if(kind = 'stale_credential', 'credential', 'account') AS subject_kind,
    deprovisioned_at AS since,
    parseDateTime64BestEffortOrNull(JSONExtractString(evidence, 'stale_at'), 6, 'UTC') AS stale_at,
    -- The scalar subquery is Nullable to ClickHouse: ifNull keeps the column a number.
    ifNull(intDiv(
        greatest(dateDiff('second', deprovisioned_at,
                          coalesce(resolved_at, (SELECT watermark FROM event_watermark))), 0),
        86400
    ), 0) AS days_stale,
    resolved_at,
    toBool(resolved_at IS NULL) AS open,
    detected_at
FROM alerts FINAL
WHERE kind IN ('stale_credential', 'stale_account');

-- Every hygiene alert counted by kind, system, identity kind and age, open and
-- resolved apart. The age of a finding runs from its kind's reference time
-- (deprovisioned_at: unused since, created, first of the two parties, first seen, the
-- leaver's T0) to its resolution, or to the latest event time while it is open: how
-- long a credential has gone unused, how old an overdue key is, how long ago a
-- credential was first shared, how long an unclaimed account has been around, how long
-- ago a role's creator or its workload's owner left. Only the stale kinds resolve.
CREATE OR REPLACE VIEW credential_hygiene AS
WITH aged AS (
    SELECT
        kind,
        ifNull(system, '') AS system,
        identity_kind,
        resolved_at IS NULL AS is_open,
        ifNull(intDiv(
            greatest(dateDiff('second', deprovisioned_at,
                              coalesce(resolved_at, (SELECT watermark FROM event_watermark))), 0),
            86400
        ), 0) AS age_days
    FROM alerts FINAL
    WHERE kind IN ('stale_credential', 'stale_account', 'rotation_overdue',
                   'shared_credential', 'uncorrelated_account_active', 'trust_path_of_leaver')
)
SELECT
    kind,
    system,
    identity_kind,
    multiIf(age_days < 30, '< 30d', age_days < 90, '30-90d', age_days < 180, '90-180d',
            age_days < 365, '180-365d', '365d+') AS age_bucket,
    multiIf(age_days < 30, 0, age_days < 90, 30, age_days < 180, 90,
            age_days < 365, 180, 365) AS age_from_days,
    countIf(is_open) AS open,
    countIf(NOT is_open) AS resolved,
    count() AS alerts
FROM aged
GROUP BY kind, system, identity_kind, age_bucket, age_from_days;

-- One row per shared_credential alert: the credential (or account) two parties used,
-- or two identities claimed, within ACCESSDRIFT_SHARING_WINDOW; how (`uses` or
-- `links`), who each party was and when. A use's party is the account it acted as (the
-- owner's own account when it was the owner's); a claim's, the identity that claimed.
-- The first party came at first_at, the second at second_at.
CREATE OR REPLACE VIEW shared_credentials AS
SELECT
    alert_id,
    severity,
    identity_id,
    identity_kind,
    ifNull(system, '') AS system,
    account_id,
    credential_id,
    ifNull(credential_id, ifNull(account_id, '')) AS subject,
    JSONExtractString(evidence, 'how') AS how,
    if(how = 'links', JSONExtractString(evidence, 'other_identity_id'),
       JSONExtractString(evidence, 'first_use', 'account_id')) AS first_party,
    if(how = 'links', identity_id,
       JSONExtractString(evidence, 'second_use', 'account_id')) AS second_party,
    deprovisioned_at AS first_at,
    used_at AS second_at,
    seconds_after AS seconds_apart,
    action,
    source_ip,
    detected_at
FROM alerts FINAL
WHERE kind = 'shared_credential';

-- One row per uncorrelated_account_active alert: an account no identity claimed (its
-- identity_id is the account's own id), first seen when, used when and how long after,
-- the privileged entitlement it held at that use if any, and whether an identity claims
-- it now (ownership: a link or a directory record arrived since). The claim's columns
-- are Nullable themselves: an account nobody claims joins to NULL, not to '', even on
-- the analysts' read-only session, where the view's join_use_nulls may not apply.
CREATE OR REPLACE VIEW uncorrelated_accounts_in_use AS
WITH claims AS (
    SELECT subject, CAST(identity_id AS Nullable(String)) AS claimed_by, claimed_at
    FROM ownership FINAL
    WHERE correlated
)
SELECT
    alerts.alert_id AS alert_id,
    alerts.severity AS severity,
    alerts.identity_id AS account_id,
    alerts.identity_kind AS identity_kind,
    ifNull(alerts.system, '') AS system,
    alerts.deprovisioned_at AS first_seen,
    alerts.used_at AS used_at,
    alerts.seconds_after AS seconds_after_first_seen,
    nullIf(JSONExtractString(alerts.evidence, 'privileged_entitlement'), '') AS privileged_entitlement,
    toBool(privileged_entitlement IS NOT NULL) AS privileged,
    alerts.action AS action,
    alerts.source_ip AS source_ip,
    claims.claimed_by AS claimed_by,
    claims.claimed_at AS claimed_at,
    toBool(claims.claimed_by IS NULL) AS still_unclaimed
FROM (SELECT * FROM alerts FINAL WHERE kind = 'uncorrelated_account_active') AS alerts
LEFT JOIN claims ON claims.subject = alerts.identity_id
SETTINGS join_use_nulls = 1;
