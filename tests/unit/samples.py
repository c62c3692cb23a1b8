"""Reading the real published samples in tests/fixtures/samples (see SOURCES.md there),
and the project's own raw fixtures in tests/fixtures/raw."""

import json
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accessdrift.normalizers.base import CSV_HEADER, csv_rows

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
RAW = Path(__file__).resolve().parents[1] / "fixtures" / "raw"

Message = bytes | tuple[bytes, Mapping[str, bytes]]
"""A raw message, alone or with the Kafka headers it is read with."""


def panther(name: str) -> list[bytes]:
    """The vendor events of Panther's rule tests (their ``log`` field), one message each."""
    path = SAMPLES / "panther-analysis-events" / name
    return [json.dumps(json.loads(line)["log"]).encode() for line in path.read_text().splitlines()]


def lines(relative: str) -> list[bytes]:
    return [line.strip() for line in (SAMPLES / relative).read_bytes().splitlines() if line.strip()]


def raw_csv_lines(name: str) -> list[Message]:
    """A CSV file of tests/fixtures/raw as it is replayed: each line with its header line."""
    header, rows = csv_rows((RAW / name).read_bytes())
    return [(line, {CSV_HEADER: header}) for _, line in rows]


def whole(relative: str) -> bytes:
    return (SAMPLES / relative).read_bytes()


def markdown_json(relative: str) -> list[Any]:
    """The JSON code blocks of a documentation page that parse as JSON."""
    text = (SAMPLES / relative).read_text()
    found = []
    for block in re.findall(r"```(?:json|JSON)?\s*\n(.*?)```", text, re.S):
        try:
            found.append(json.loads(block))
        except ValueError:
            continue
    return found


def http_requests(relative: str, nested: bool = False) -> list[dict[str, Any]]:
    """The HTTP request examples of a page, as the SCIM collector records them; with
    ``nested``, those of the code blocks indented in a list instead (Okta's group
    membership PATCH and PUT examples are)."""
    text = (SAMPLES / relative).read_text()
    requests = []
    blocks = re.findall(r"```http\s*\n(.*?)```", text, re.S)
    if nested:
        indented = r"^( +)```http\s*\n(.*?)^\1```"
        blocks = [textwrap.dedent(block) for _, block in re.findall(indented, text, re.S | re.M)]
    for block in blocks:
        first, _, rest = block.partition("\n")
        match = re.match(r"(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP", first)
        if not match:
            continue
        _, _, body_text = rest.partition("\n\n")
        body = json.loads(body_text) if body_text.strip() else {}
        requests.append(
            {
                "method": match.group(1),
                "path": match.group(2),
                "body": body,
                "time": "2019-09-10T03:50:23Z",
            }
        )
    return requests


def cloudtrail_record(event_id: str, user_agent: str) -> dict[str, Any]:
    """A CloudTrail record of the shape AWS publishes (an IAM user's GetCallerIdentity)."""
    return {
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": user_agent,
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": "alice",
        },
    }
