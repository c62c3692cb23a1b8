"""The README stays a front page (what it is, how to start, where to read on) and every
relative link of the README and docs/ leads to a file that exists and, with a
`#fragment`, to a heading or an `<a id>` of it."""

import re
from pathlib import Path

from accessdrift.demo import WEB_PORT as DEMO_WEB_PORT

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
README_MAX_BYTES = 12 * 1024

# [text](target) and ![alt](target); a target with a scheme or only a fragment is not a
# file of the repository.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
EXPLICIT_ID = re.compile(r"<a id=\"([^\"]+)\"></a>")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped,
    spaces made hyphens (an `<a id>` in the heading is not part of its text)."""
    text = EXPLICIT_ID.sub("", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    prose = FENCE.sub("", text)
    found: set[str] = set(EXPLICIT_ID.findall(prose))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(prose):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def broken_links(page: Path, text: str) -> list[str]:
    broken: list[str] = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked.read_text()):
            broken.append(f"{page.name}: {target} (no such anchor)")
    return broken


def test_the_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/"


def demo_dashboard_ports(readme: str) -> list[int]:
    """The ports of the dashboard URLs the README's Quick start (what `make demo` ends
    with) gives."""
    start = readme.index("## Quick start")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else len(readme)]
    return [
        int(port) for port in re.findall(r"//(?:127\.0\.0\.1|localhost):(\d+)/dashboard/", section)
    ]


def test_the_demos_dashboard_is_where_the_demo_serves_it() -> None:
    # The demo runs its worker on a port of its own (accessdrift/demo.py), not the default.
    assert demo_dashboard_ports(README.read_text()) == [DEMO_WEB_PORT]
    planted = "## Quick start\nat <http://127.0.0.1:6066/dashboard/>\n## Commands\n:6067/dashboard/"
    assert demo_dashboard_ports(planted) == [6066]


def test_every_relative_link_leads_somewhere() -> None:
    broken = [link for page in PAGES for link in broken_links(page, page.read_text())]
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = set(LINK.findall(README.read_text()))
    missing = [page.name for page in PAGES[1:] if f"docs/{page.name}" not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_a_broken_link_or_anchor_is_found() -> None:
    page = REPO / "docs" / "cli.md"
    text = "[a](settings.md#variables) [b](nowhere.md) [c](settings.md#nowhere) [d](#exit-status)"
    assert broken_links(page, text) == [
        "cli.md: nowhere.md (no such file)",
        "cli.md: settings.md#nowhere (no such anchor)",
    ]


def test_anchors_are_githubs() -> None:
    text = '## What it detects, and how it decides\n## `kafka up` / down\n## A\n## A\n### Q <a id="q-1"></a>\n```\n# not a heading\n```\n'
    assert anchors(text) == {
        "what-it-detects-and-how-it-decides",
        "kafka-up--down",
        "a",
        "a-1",
        "q-1",
        "q",
    }
