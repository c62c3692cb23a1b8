"""The dashboard and an evidence page in headless Chromium, served by a real worker on a
simulated organisation, as a person would open them: the login form, the token typed
in, then the pages. Nothing the pages load may leave the worker's origin.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright without its own
browser download. The screenshots under docs/img/ are written on every run.
"""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import playwright.sync_api as playwright_sync

from tests.helpers import REPO, Isolated, Worker, wait_until

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "a-long-random-token-for-the-dashboard-test"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECTED_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
SCREENSHOTS = REPO / "docs" / "img"
INTENDED = r"^console error: Failed to load resource: .* status of 404 "


def test_dashboard_and_evidence_in_a_browser(isolated: Isolated, tmp_path: Path) -> None:
    # A mover SLA that ends inside the simulated days: movers' kept access is on the page;
    # seed 2 has every kind the page shows, an orphaned NHI included.
    org, truth_path = isolated.simulate(
        tmp_path, 2, 100, "--events-per-second", "0.02", "--mover-sla", "12h"
    )
    truth = json.loads(truth_path.read_text())
    worker = Worker(isolated, ACCESSDRIFT_WORKER_TOKEN=TOKEN, ACCESSDRIFT_MOVER_SLA="12h")
    try:
        replayed = isolated.cli("replay", "--format", "canonical", str(org))
        assert replayed.returncode == 0, replayed.stderr
        landed(worker, truth)
        assert CHROMIUM.exists(), "Debian's chromium (.ci/run installs it)"
        browse(worker, isolated.web_port, tmp_path)
    finally:
        worker.stop()


def landed(worker: Worker, truth: dict[str, Any]) -> None:
    """Every finding and lag pair of the ground truth is in ClickHouse."""

    def done() -> bool:
        alerts = worker.count("SELECT count() AS n FROM alerts FINAL")
        lags = worker.count("SELECT count() AS n FROM provisioning_lag FINAL")
        return alerts >= len(truth["alerts"]) and lags >= len(truth["lags"])

    wait_until(done, timeout=90, interval=0.5)


def browse(worker: Worker, port: int, tmp_path: Path) -> None:
    """Whether the evidence page was there to check."""
    origin = f"http://127.0.0.1:{port}"
    requests: list[str] = []
    problems: list[str] = []
    with playwright_sync.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # fresh: no cookie, no cache
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

            # Not logged in: the dashboard sends the browser to the login form.
            page.goto(f"{origin}/dashboard/")
            assert urlsplit(page.url).path == "/login/"
            page.fill("input[name=token]", TOKEN)
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert urlsplit(page.url).path == "/dashboard/"

            response = page.goto(f"{origin}/dashboard/")
            assert response is not None and response.status == 200
            headers = response.headers
            for name, value in EXPECTED_HEADERS.items():
                assert headers.get(name) == value, (name, headers.get(name))
            check_dashboard(page)
            page.screenshot(path=str(screenshot("dashboard.png")), full_page=True)

            check_evidence(page, worker, origin)
        finally:
            context.close()
    foreign = [url for url in requests if not url.startswith(origin + "/")]
    assert not foreign, f"requests that left the worker's origin: {foreign}"
    assert requests, "the browser recorded no request at all"
    # Chromium logs the error pages the test opens on purpose (404, 501): nothing else.
    unexpected = [text for text in problems if not re.search(INTENDED, text)]
    assert not unexpected, unexpected


def check_dashboard(page: Any) -> None:
    assert page.locator("#latency-chart .point").count() > 0
    assert page.locator("#uses-chart .point").count() > 0
    assert page.locator("#latency-chart .threshold").count() > 0, "the SLA line"
    assert page.locator("#sla-chart .bar").count() > 0
    assert page.locator("#change-type-chart .bar").count() > 0
    for counter in ("open-overdue", "credentials-used", "orphaned-nhis"):
        value = page.locator(f"#counter-{counter} .value").inner_text()
        assert int(value.replace(",", "")) > 0, counter
    assert page.locator("#findings tr.finding").count() > 0
    kinds = set(page.locator("#findings tr.finding").evaluate_all(
        "rows => rows.map(row => row.dataset.kind)"
    ))  # fmt: skip
    assert {"used_after_deprovision", "deprovision_overdue", "orphaned_nhi"} <= kinds, kinds
    drift = set(page.locator("#drift-findings tr.drift-finding").evaluate_all(
        "rows => rows.map(row => row.dataset.kind)"
    ))  # fmt: skip
    assert drift == {"granted_after_deprovision", "mover_access_retained"}, drift
    assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "30"
    assert page.locator("script").count() == 0


def check_evidence(page: Any, worker: Worker, origin: str) -> None:
    """A click on an identity of the findings opens that identity's evidence."""
    link = page.locator("#findings a.identity").first
    identity_id = link.inner_text()
    with page.expect_navigation() as navigation:
        link.click()
    assert page.url == f"{origin}/evidence/{quote(identity_id, safe='')}"
    response = navigation.value
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    assert response.status == 200
    text = page.locator("body").inner_text()
    assert identity_id in text
    systems = {
        row["system"]
        for row in worker.query(
            "SELECT DISTINCT system FROM provisioning_lag FINAL "
            f"WHERE identity_id = '{identity_id}'"  # a simulated id: letters and digits
        )
    }
    assert systems, "the identity has downstream pairs"
    for system in systems:
        assert system in text, f"{system} missing from the evidence page"
    assert page.locator("script").count() == 0
    page.screenshot(path=str(screenshot("evidence.png")), full_page=True)

    # An unknown identity: a 404 page, escaped, with the same headers.
    response = page.goto(f"{origin}/evidence/{quote('<no such id>', safe='')}/")
    assert response is not None and response.status == 404
    assert (
        response.headers.get("content-security-policy")
        == EXPECTED_HEADERS["content-security-policy"]
    )
    assert "<no such id>" not in page.content()


def screenshot(name: str) -> Path:
    """docs/img/<name>: committed, rewritten by every run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name
