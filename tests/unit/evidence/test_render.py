"""The evidence for an auditor, rendered from plain data: every value a log gave is
hostile, and must reach the page as text."""

import re
from typing import Any

import pytest

from accessdrift.evidence.collect import CONTROLS, literal
from accessdrift.evidence.render import duration, md, to_html, to_markdown

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>|`x`*y*[z](http://e.vil)'


def evidence(identity: str = "E1", account: str = "aws:1:user/alice") -> dict[str, Any]:
    downstream = {
        "system": "aws",
        "account_id": account,
        "credential_id": None,
        "status": "closed",
        "downstream_time": "2026-03-02T11:14:00+00:00",
        "lag_seconds": 8040.0,
        "sla_seconds": 86400.0,
        "due_at": "2026-03-03T09:00:00+00:00",
        "within_sla": True,
        "overdue_alert_id": None,
    }
    return {
        "identity_id": identity,
        "identity_kind": "human",
        "as_of": "2026-03-05T00:00:00+00:00",
        "generated_at": "2026-12-02T00:00:00+00:00",
        "changes": [
            {
                "event_id": "dc-1",
                "change_type": "leaver",
                "source": "hr",
                "source_time": "2026-03-02T09:00:00+00:00",
                "owner_id": None,
                "downstream": [downstream, {**downstream, "status": "overdue", "within_sla": None,
                                            "downstream_time": None, "lag_seconds": None}],
            },
            {"event_id": "dc-0", "change_type": "joiner", "source": "hr",
             "source_time": "2026-01-01T09:00:00+00:00", "owner_id": None, "downstream": None},
        ],
        "accounts": [],
        "uses_after_deprovision": [
            {"used_at": "2026-03-02T10:00:00+00:00", "subject": account, "system": "aws",
             "action": HOSTILE, "source_ip": "198.51.100.7", "kind": "used_after_deprovision",
             "alert_id": "a1"}
        ],
        "alerts": [],
        "controls": CONTROLS,
    }  # fmt: skip


def test_html_shows_hostile_values_as_text_and_loads_nothing_from_elsewhere() -> None:
    page = to_html(evidence(account=HOSTILE), lambda identity: f"/evidence/{identity}")
    assert (
        "<script" not in page
        and "<img" not in page
        and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    )
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "nothing from another origin"
    assert "default-src &#39;none&#39;" in page or "default-src 'none'" in page


def test_a_plain_page_says_what_was_reached_and_when() -> None:
    page = to_html(evidence())
    assert "2 h 14 min" in page and "within SLA" in page and "NOT deprovisioned" in page
    assert "NIST CSF 2.0 PR.AA-01" in page and "NHI1:2025" in page


def test_markdown_keeps_each_value_on_its_row_and_inert() -> None:
    text = to_markdown(evidence(account="a|b\nc`d`"))
    rows = [line for line in text.splitlines() if line.startswith("| aws |")]
    assert len(rows) == 2, "a newline in a value does not break the table"
    assert "a\\|b\\\\nc\\`d\\`" in rows[0]
    assert md(HOSTILE).count("\\<") == 3 and "\\[z\\]" in md(HOSTILE)
    assert md("aws:1:user/alice") == "aws:1:user/alice", "ordinary ids stay readable"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(None, "-"), (12.4, "12 s"), (8040.5, "2 h 14 min"), (93_600, "1 d 2 h"), (-300, "-5 min")],
)
def test_durations_read_as_a_person_says_them(seconds: float | None, said: str) -> None:
    assert duration(seconds) == said


@pytest.mark.parametrize(
    "identity", ["E1", "o'brien", "back\\slash", "new\nline", "'; DROP TABLE alerts; --"]
)
def test_an_identity_enters_sql_only_as_a_quoted_literal(identity: str) -> None:
    quoted = literal(identity)
    assert quoted.startswith("'") and quoted.endswith("'")
    inner = quoted[1:-1]
    # Every quote inside is escaped: the literal cannot end early.
    assert not re.search(r"(?<!\\)'", inner.replace("\\\\", ""))
