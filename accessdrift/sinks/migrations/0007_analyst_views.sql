-- The analyst views of CONTRACT.md "Analyst views", and those identity governance
-- tools report. Every one reads the deduplicated tables (FINAL), so a replay or a
-- superseded version of a row never counts twice. docs/queries.md shows them in use.

-- The latest event time ingested: "now" for data that may be historical (a replay).
CREATE OR REPLACE VIEW event_watermark AS
SELECT greatest(
    (SELECT max(event_time) FROM directory_changes),
    (SELECT max(event_time) FROM cloud_audit),
    (SELECT max(event_time) FROM secret_usage)
) AS watermark;

-- Leavers' accounts and credentials past their SLA and still not deprovisioned, as
-- the detector judged them at its watermark (a later deprovision turns the pair
-- closed, and it leaves this view).
CREATE OR REPLACE VIEW open_overdue_deprovisions AS
SELECT
    identity_id,
    identity_kind,
    system,
    account_id,
    credential_id,
    if(credential_id IS NULL, 'account', 'credential') AS subject_kind,
    source_time AS left_at,
    sla_seconds,
    due_at,
    dateDiff('second', due_at, (SELECT watermark FROM event_watermark)) AS seconds_overdue,
    lag_id
FROM deprovision_pairs FINAL
WHERE change_type = 'leaver' AND status = 'overdue';

-- Every successful use of an account or key from the first use that raised a
-- used_after_deprovision or used_after_revocation alert, until the identity is
-- rehired or reactivated: one row per use.
CREATE OR REPLACE VIEW uses_after_deprovision AS
WITH
    raised AS (
        SELECT
            alert_id,
            kind,
            identity_id,
            identity_kind,
            account_id,
            credential_id,
            ifNull(credential_id, ifNull(account_id, '')) AS subject,
            deprovisioned_at,
            used_at
        FROM alerts FINAL
        WHERE kind IN ('used_after_deprovision', 'used_after_revocation') AND used_at IS NOT NULL
    ),
    ends AS (
        SELECT identity_id, groupArray(event_time) AS restarts
        FROM directory_changes FINAL
        WHERE change_type IN ('joiner', 'reactivate')
        GROUP BY identity_id
    ),
    -- Only the uses of subjects an alert names: the audit tables are the largest by far.
    uses AS (
        SELECT ifNull(credential_id, account_id) AS subject, event_time, system, action, source_ip, event_id
        FROM cloud_audit FINAL
        WHERE outcome = 'success'
          AND ifNull(credential_id, account_id) IN (SELECT subject FROM raised)
        UNION ALL
        SELECT credential_id AS subject, event_time, store AS system,
               concat(operation, ' ', ifNull(secret_ref, '')) AS action,
               CAST(NULL AS Nullable(String)) AS source_ip, event_id
        FROM secret_usage FINAL
        WHERE outcome = 'success' AND credential_id IN (SELECT subject FROM raised)
    )
SELECT
    raised.alert_id AS alert_id,
    raised.kind AS kind,
    raised.identity_id AS identity_id,
    raised.identity_kind AS identity_kind,
    raised.account_id AS account_id,
    raised.credential_id AS credential_id,
    raised.subject AS subject,
    raised.deprovisioned_at AS deprovisioned_at,
    uses.event_time AS used_at,
    uses.system AS system,
    uses.action AS action,
    uses.source_ip AS source_ip,
    uses.event_id AS event_id
FROM uses
INNER JOIN raised ON raised.subject = uses.subject
LEFT JOIN ends ON ends.identity_id = raised.identity_id
WHERE uses.event_time >= raised.used_at
  AND arrayCount(t -> t > raised.deprovisioned_at AND t <= uses.event_time, ifNull(ends.restarts, [])) = 0
SETTINGS join_use_nulls = 1;

-- Per credential (or account used without a key): who, first and last use after
-- deprovisioning or revocation, how many uses, from where.
CREATE OR REPLACE VIEW credentials_used_after_deprovision AS
SELECT
    identity_id,
    any(identity_kind) AS identity_kind,
    subject,
    any(account_id) AS account_id,
    any(credential_id) AS credential_id,
    any(system) AS system,
    kind,
    min(deprovisioned_at) AS deprovisioned_at,
    min(used_at) AS first_use,
    max(used_at) AS last_use,
    count() AS uses,
    arraySort(groupUniqArrayIf(source_ip, source_ip IS NOT NULL)) AS source_ips,
    groupUniqArray(alert_id) AS alert_ids
FROM uses_after_deprovision
GROUP BY identity_id, subject, kind;

-- Every directory change, downstream change, use after deprovisioning and alert of
-- an identity, in event time.
CREATE OR REPLACE VIEW identity_timeline AS
WITH owners AS (SELECT subject, identity_id FROM ownership FINAL)
SELECT identity_id, event_time, entry, what, system, subject, detail
FROM
(
    SELECT identity_id, event_time, 'directory_change' AS entry, toString(change_type) AS what,
           toString(source) AS system, '' AS subject,
           concat('event ', event_id, if(owner_id IS NULL, '', concat(', owner ', owner_id))) AS detail
    FROM directory_changes FINAL
    UNION ALL
    SELECT owners.identity_id AS identity_id, c.event_time AS event_time, 'downstream_change' AS entry,
           toString(c.kind) AS what, toString(c.system) AS system, c.subject AS subject,
           concat(toString(c.action), ' (', toString(c.outcome), '), event ', c.event_id) AS detail
    FROM
    (
        SELECT event_time, kind, system, action, outcome, event_id,
               multiIf(kind IN ('credential_created', 'credential_revoked'),
                       ifNull(target_credential_id, ifNull(credential_id, account_id)),
                       ifNull(target_account_id, account_id)) AS subject
        FROM cloud_audit FINAL
        WHERE kind != 'usage'
    ) AS c
    INNER JOIN owners ON owners.subject = c.subject
    UNION ALL
    SELECT identity_id, used_at AS event_time, 'use_after_deprovision' AS entry, toString(action) AS what,
           toString(system) AS system, subject,
           concat('from ', ifNull(source_ip, 'unknown'), ', event ', event_id, ', alert ', alert_id) AS detail
    FROM uses_after_deprovision
    UNION ALL
    SELECT identity_id,
           coalesce(used_at, parseDateTime64BestEffortOrNull(JSONExtractString(evidence, 'deadline'), 6, 'UTC'),
                    deprovisioned_at) AS event_time,
           'alert' AS entry, toString(kind) AS what, ifNull(system, '') AS system,
           ifNull(credential_id, ifNull(account_id, '')) AS subject,
           concat(toString(severity), ', alert ', alert_id) AS detail
    FROM alerts FINAL
)
ORDER BY identity_id, event_time, entry;

-- Per day a leaver's pair fell due, system and identity kind: pairs due by the
-- latest event time, closed within their SLA, and the share.
CREATE OR REPLACE VIEW sla_compliance_daily AS
SELECT
    toDate(due_at) AS day,
    system,
    identity_kind,
    count() AS due,
    countIf(ifNull(deprovision_pairs.within_sla, false)) AS closed_within_sla,
    countIf(status = 'closed' AND NOT ifNull(deprovision_pairs.within_sla, false)) AS closed_late,
    countIf(status IN ('open', 'overdue')) AS still_open,
    round(closed_within_sla / due, 4) AS share
FROM deprovision_pairs FINAL
WHERE change_type = 'leaver' AND due_at <= (SELECT watermark FROM event_watermark)
GROUP BY day, system, identity_kind;

-- Accounts and credentials still active in a system after their identity left:
-- what an access review asks first.
CREATE OR REPLACE VIEW active_access_of_leavers AS
SELECT
    system,
    identity_id,
    identity_kind,
    account_id,
    credential_id,
    if(credential_id IS NULL, 'account', 'credential') AS subject_kind,
    source_time AS left_at,
    due_at,
    status,
    intDiv(dateDiff('second', source_time, (SELECT watermark FROM event_watermark)), 86400) AS days_since_left
FROM deprovision_pairs FINAL
WHERE change_type = 'leaver' AND status IN ('open', 'overdue');

-- Accounts seen in use that no identity claims: no directory record, link or email
-- names them (their keys and sessions counted with them).
CREATE OR REPLACE VIEW uncorrelated_accounts AS
SELECT
    identity_id AS account_id,
    any(system) AS system,
    any(identity_kind) AS looks_like,
    count() AS subjects,
    groupArray(subject) AS subject_ids,
    max(resolved_at) AS last_resolved_at
FROM ownership FINAL
WHERE NOT correlated
GROUP BY identity_id;
