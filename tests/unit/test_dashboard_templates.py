"""The dashboard rendered through Jinja2 (accessdrift/dashboard/templates/): autoescape on
for every template, so a hostile name from the data is text on the page, never markup
nor a template expression."""

from html.parser import HTMLParser

import pytest
from markupsafe import Markup, escape

from accessdrift.dashboard import render_dashboard
from accessdrift.dashboard.page import ENVIRONMENT, evidence_path, render_error
from accessdrift.dashboard.svg import LineSeries, bar_chart, line_chart
from tests.unit.test_dashboard_svg import T0, full_data

HOSTILE = ["<script>alert(1)</script>", '"onmouseover=alert(1) x="', "{{7*7}}"]


class Page(HTMLParser):
    """Every start tag with its attributes, and every text, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def read(markup: str) -> Page:
    page = Page()
    page.feed(markup)
    return page


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_system_name_and_identity_id_come_out_escaped(hostile: str) -> None:
    markup = render_dashboard(full_data(identity=hostile, name=hostile), evidence_path)
    page = read(markup)
    assert "<script" not in markup.lower()
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert str(escape(hostile)) in markup  # escaped by autoescape, as markupsafe does
    # Text as it was written: the system's cells, the identity's link, the SVG's labels;
    # a template expression in the data is not evaluated.
    assert page.texts.count(hostile) >= 4, page.texts
    assert "49" not in page.texts
    identities = [attrs for tag, attrs in page.tags if tag == "a"]
    # The open findings' two, the entitlement drift finding's and the hygiene finding's.
    assert [attrs["href"] for attrs in identities] == [evidence_path(hostile)] * 4
    # The drift section's account and entitlement cells: the log's text, as written.
    assert f"{hostile}:{hostile}" in page.texts and f"{hostile}:policy/{hostile}" in page.texts
    # The hygiene section's credential cell and its per-system row.
    assert f"{hostile}:key/{hostile}" in page.texts
    hygiene = read(markup.split('<section id="credential-hygiene">')[1])
    assert hygiene.texts.count(hostile) >= 4, hygiene.texts  # bar labels, table, finding
    rows = [attrs for tag, attrs in page.tags if tag == "rect"]
    assert {attrs["data-category"] for attrs in rows} >= {hostile}


def test_every_template_escapes_and_so_does_a_string_template() -> None:
    names = ENVIRONMENT.list_templates()
    assert {"dashboard.html.jinja", "error.html.jinja"} <= set(names)
    autoescape = ENVIRONMENT.autoescape
    assert all(autoescape(name) if callable(autoescape) else autoescape for name in names)
    assert ENVIRONMENT.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    assert "&lt;script&gt;" in render_error(404, "No such identity", "<script>")


def test_charts_are_markup_with_their_names_escaped() -> None:
    """The page takes a chart as it is: safe because it is built by Markup.format."""
    hostile = HOSTILE[0]
    line = line_chart(hostile, "c", [LineSeries(hostile, [(T0, 1.0)])])
    bars = bar_chart(hostile, "b", [hostile], [(hostile, [1.0])])
    for chart in (line, bars):
        assert isinstance(chart, Markup)
        assert "<script" not in chart and str(escape(hostile)) in chart
