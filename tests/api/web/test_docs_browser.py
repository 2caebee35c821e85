"""The documentation pages in a real browser cut off from the internet: headless Chromium
(Playwright) against `onestop serve`, every request to another origin refused. Swagger UI and
ReDoc must render the service's document from the service's own files, and the pages'
Content-Security-Policy must block none of their scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Route

from tests.api.web.test_finance_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.support.server import Server, serving

RENDER_MS_MAX = 20_000


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    require_chromium()
    with serving(database_url, workers=1) as running:
        yield running


def test_swagger_ui_and_redoc_render_without_the_internet(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    problems: list[str] = []

    def only_this_origin(route: Route) -> None:
        url = route.request.url
        if url.startswith((server.base_url + "/", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_this_origin)
            page.on("console", console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(f"{server.base_url}/docs")
            title = page.locator(".swagger-ui .info .title").first
            title.wait_for(timeout=RENDER_MS_MAX)
            assert title.inner_text().startswith("onestop")
            assert page.locator(".opblock-summary-path", has_text="/v1/settlements").count() > 0
            page.goto(f"{server.base_url}/redoc")
            heading = page.locator("h1", has_text="onestop").first
            heading.wait_for(timeout=RENDER_MS_MAX)
            assert page.get_by_text("Liveness and database check").count() > 0
        finally:
            browser.close()

    assert outside == []
    # ReDoc's "API docs by Redocly" footer names a logo on Redocly's site: the policy blocks
    # that one image (so no request leaves); any other error is a fault.
    unexpected = [text for text in problems if "cdn.redoc.ly" not in text]
    assert unexpected == [], unexpected
    assert not any("script-src" in text for text in problems)
