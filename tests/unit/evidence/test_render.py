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


def held_evidence(entitlement: str = "aws:policy/AdministratorAccess") -> dict[str, Any]:
    found = evidence()
    held = {
        "system": "aws",
        "accounts": [
            {
                "account_id": "aws:1:user/alice",
                "valid_from": "2026-01-01T00:00:00+00:00",
                "valid_to": None,
                "opened_by": None,
                "closed_by": None,
            }
        ],
        "credentials": [],
        "entitlements": [
            {
                "entitlement": entitlement,
                "account_id": "aws:1:user/alice",
                "privileged": True,
                "valid_from": "2026-02-01T00:00:00+00:00",
                "valid_to": None,
                "opened_by": "g1",
                "closed_by": None,
            }
        ],
    }
    found["ledger_intervals"] = 3
    found["changes"][0].update(
        held_at_change=[{**held, "at": "2026-03-02T09:00:00+00:00"}],
        held_at_sla=[
            {**held, "at": "2026-03-03T09:00:00+00:00", "sla_seconds": 86400.0, "reached": True},
            {
                "system": "okta",
                "at": "2026-03-03T09:00:00+00:00",
                "sla_seconds": 86400.0,
                "reached": True,
                "accounts": [],
                "credentials": [],
                "entitlements": [],
            },
        ],
        not_matched_at_sla=[
            {
                "system": "aws",
                "due_at": "2026-03-03T09:00:00+00:00",
                "subject_type": "entitlement",
                "subject": entitlement,
                "account_id": "aws:1:user/alice",
                "privileged": True,
                "valid_from": "2026-02-01T00:00:00+00:00",
                "valid_to": None,
            }
        ],
    )
    found["changes"][1].update(held_at_change=[], held_at_sla=[], not_matched_at_sla=None)
    return found  # fmt: skip


def test_markdown_shows_what_was_held_at_the_change_and_at_its_sla() -> None:
    text = to_markdown(held_evidence())
    assert "Still held at a change's SLA though it should have gone: 1" in text
    at_sla = [line for line in text.splitlines() if line.startswith("| aws | 2026-03-03")]
    assert len(at_sla) == 2
    (admin,) = [line for line in at_sla if "AdministratorAccess" in line]
    assert admin.endswith("| NOT removed by its SLA |") and "| yes |" in admin
    (account,) = [line for line in at_sla if "| account |" in line]
    assert account.endswith("| - |"), "the account is held, but the mismatch is the grant"
    assert "| okta | 2026-03-03T09:00:00+00:00 | - | - | - | - | - | nothing held |" in text


def test_without_ledger_rows_the_evidence_says_so_rather_than_nothing_held() -> None:
    text = to_markdown(evidence())
    assert text.count("The access ledger has no interval of this identity.") == 2
    assert "The access ledger has no interval" in to_html(evidence())


def test_html_shows_held_entitlements_from_logs_as_text() -> None:
    page = to_html(held_evidence(entitlement=HOSTILE))
    assert "<script" not in page and "<img" not in page
    assert page.count('class="held-at-change"') == 2 and page.count('class="held-at-sla"') == 3
    assert "NOT removed by its SLA" in page and "nothing held" in page
    assert "1 accounts, keys or entitlements still held at a change" in page
