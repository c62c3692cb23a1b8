"""The webhook signature (CONTRACT.md): ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""

import hashlib
import hmac
import time
from collections.abc import Iterable

TIMESTAMP_HEADER = "X-Accessdrift-Timestamp"
SIGNATURE_HEADER = "X-Accessdrift-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secrets: Iterable[str], timestamp: str, sent: str, body: bytes, now: float | None = None
) -> bool:
    """What a receiver does: any of the secrets (two while one is rotated), and a
    timestamp no older than five minutes (a replayed request is refused)."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - stamp) > TOLERANCE_SECONDS:
        return False
    return any(hmac.compare_digest(signature(secret, stamp, body), sent) for secret in secrets)
