"""The contract's topic names, before the configured prefix."""

DIRECTORY_CHANGES = "directory.changes"
CLOUD_AUDIT = "cloud.audit"
SECRET_USAGE = "secret.usage"
IDENTITY_LINKS = "identity.links"
DRIFT_LAG = "drift.lag"
DRIFT_ALERTS = "drift.alerts"
DEADLETTER = "drift.deadletter"
SILENCES = "drift.silences"
OWNERSHIP = "drift.ownership"
PAIRS = "drift.pairs"

RAW_FORMATS = ("cloudtrail", "okta", "vault", "gcp-audit", "entra-audit", "scim", "hr-csv")

CANONICAL_TOPIC_OF_RECORD = {
    "DirectoryChange": DIRECTORY_CHANGES,
    "CloudAuditEvent": CLOUD_AUDIT,
    "SecretUsageEvent": SECRET_USAGE,
    "IdentityLink": IDENTITY_LINKS,
}

COMPACTED = frozenset({IDENTITY_LINKS, SILENCES, OWNERSHIP, PAIRS})


def raw_topic(format_name: str) -> str:
    return f"raw.{format_name}"


def all_topics() -> list[str]:
    return [
        DIRECTORY_CHANGES,
        CLOUD_AUDIT,
        SECRET_USAGE,
        IDENTITY_LINKS,
        DRIFT_LAG,
        DRIFT_ALERTS,
        DEADLETTER,
        SILENCES,
        OWNERSHIP,
        PAIRS,
        *(raw_topic(name) for name in RAW_FORMATS),
    ]
