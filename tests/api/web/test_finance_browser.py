"""The finance view in a real browser: headless Chromium (Playwright) against `onestop serve`.

Data is made with `make_world` and the HTTP API: one settlement through the real server, a
few more through an in-process app whose clock spreads them over the current month (so the
chart has several bars), and one reversal. The test logs in through the form, checks the
month's net fund total on the page and saves a full-page screenshot under var/test-artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.core.chart import grouped
from api.core.config import Settings
from api.db.engine import make_engine
from api.main import create_app
from api.services.finance import month_period, totals_json
from tests.support.server import Server, serving
from tests.support.world import World, make_world

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts"
SCREENSHOT_BYTES_MIN = 10 * 1024


def require_chromium() -> None:
    """Skip without a browser on a developer's machine; in CI a missing browser is a failure."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI is not set")


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    require_chromium()
    with serving(database_url, workers=1) as running:
        yield running


@dataclass
class SetClock:
    """A clock the test sets before each request, to stamp settlements on chosen days."""

    moment: datetime

    def __call__(self) -> datetime:
        return self.moment


def days_this_month(settings: Settings) -> list[datetime]:
    """10:00 local on several days of the current month up to today (never in the future)."""
    now = datetime.now(ZoneInfo(settings.business_timezone))
    days = sorted({max(1, now.day - step) for step in (0, 3, 7, 12, 18)})
    moments = [min(now, now.replace(day=day, hour=10, minute=0, second=0)) for day in days]
    return [moment.astimezone(UTC) for moment in moments]


def settle_month(world: World, server: Server, settings: Settings) -> None:
    """One claim through the real server, more spread over the month in-process, one reversed."""
    response = httpx.post(
        f"{server.base_url}/v1/settlements",
        json=world.claim("e2"),
        headers=world.hospital_headers(3),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    moments = days_this_month(settings)
    clock = SetClock(moments[0])
    with TestClient(create_app(settings, clock=clock)) as spread:
        settled = []
        for index, moment in enumerate(moments):
            clock.moment = moment
            level = (3, 2, 1)[index % 3]
            person = ("dibao", "destitute", "registered_poor", "none")[index % 4]
            response = spread.post(
                "/v1/settlements",
                json=world.claim("e2", level=level, person=person),
                headers=world.hospital_headers(level),
            )
            assert response.status_code == 201, response.text
            settled.append((response.json()["settlement_id"], level))
        settlement_id, level = settled[-1]
        response = spread.post(
            f"/v1/settlements/{settlement_id}/reversal",
            json={"reason": "医院冲正：重复上传"},
            headers=world.hospital_headers(level),
        )
        assert response.status_code == 200, response.text


def test_a_finance_user_logs_in_through_the_form_and_sees_the_months_net_fund_total(
    server: Server, client: TestClient, settings: Settings, database_url: str
) -> None:
    from playwright.sync_api import sync_playwright

    world = make_world(client, settings)
    settle_month(world, server, settings)
    zone = ZoneInfo(settings.business_timezone)
    month = datetime.now(zone).strftime("%Y-%m")
    engine = make_engine(settings)
    expected = totals_json(engine, month_period(month, settings.business_timezone), None)
    engine.dispose()
    backend = make_url(database_url).get_backend_name()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"finance-{backend}.png"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server.base_url}/finance?month={month}")
            assert page.url.endswith("/finance/login")
            page.fill("input[name=key]", world.keys.finance)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.base_url}/finance")
            assert page.locator("h1").first.inner_text().startswith(month)
            net_fund_total = grouped(expected["net"]["fund_total"])
            assert page.locator("#net-fund-total").inner_text() == net_fund_total
            assert page.get_by_text(net_fund_total).first.is_visible()
            assert page.locator('[data-figure="net.fund_total"]').inner_text() == net_fund_total
            assert page.locator("svg.chart rect title").count() > 0
            assert world.keys.finance not in page.content()
            cookies = page.context.cookies()
            assert [cookie["name"] for cookie in cookies] == ["onestop_session"]
            assert cookies[0]["httpOnly"]
            assert cookies[0]["sameSite"] == "Strict"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > SCREENSHOT_BYTES_MIN


def test_finance_decides_a_grant_in_the_view_and_sees_the_receivable_paid(
    server: Server, client: TestClient, settings: Settings, database_url: str
) -> None:
    """Rules §15–16 in the finance view: a patient paying later owes 6500.00 on a plan; the
    settlement raised an alert; finance logs in, sees the aged receivable and the alert, grants
    6500.00 through the form, and sees the alert granted with its application and the
    receivable paid."""
    from playwright.sync_api import sync_playwright

    world = make_world(client, settings)
    headers = world.hospital_headers(2)
    settled = httpx.post(f"{server.base_url}/v1/settlements", headers=headers,
                         json=world.claim("e4", level=2, person="registered_poor"))  # fmt: skip
    assert settled.status_code == 201, settled.text
    plan = {"paid_at_discharge": "424.41", "installments": [
        {"due_date": "2018-04-12", "amount": "3250.00"},
        {"due_date": "2018-05-12", "amount": "3250.00"}]}  # fmt: skip
    planned = httpx.post(
        f"{server.base_url}/v1/settlements/{settled.json()['settlement_id']}/receivable",
        json=plan,
        headers=headers,
    )
    assert planned.status_code == 201, planned.text
    rid = planned.json()["receivable_id"]
    person = world.persons["registered_poor"]
    hospital = world.hospitals[2]
    backend = make_url(database_url).get_backend_name()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server.base_url}/finance?hospital_id={hospital}")
            page.fill("input[name=key]", world.keys.finance)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.base_url}/finance")
            page.goto(f"{server.base_url}/finance?hospital_id={hospital}")
            assert page.locator(f'[data-receivable-outstanding="{rid}"]').inner_text() == "6,500.00"
            assert page.locator(f'[data-aging="{hospital}.over_180"]').inner_text() == "6,500.00"
            assert page.locator("svg.aging rect").count() >= 1
            alert = page.locator(f"#alert-{person}-2018")
            assert alert.get_attribute("data-alert-status") == "raised"
            alert.locator("select[name=decision]").select_option("grant")
            alert.locator("input[name=amount]").fill("6500.00")
            alert.locator("input[name=reason]").fill("因病致贫，一事一议")
            alert.locator("button[type=submit]").click()
            page.wait_for_load_state()
            decided = page.locator(f"#alert-{person}-2018")
            assert decided.get_attribute("data-alert-status") == "granted"
            assert decided.locator('[data-application="1"]').inner_text().endswith("6,500.00")
            page.goto(f"{server.base_url}/finance?hospital_id={hospital}")
            assert page.locator(f'[data-receivable-status="{rid}"]').inner_text() == "paid"
            assert page.locator(f'[data-receivable-outstanding="{rid}"]').inner_text() == "0.00"
            page.screenshot(
                path=str(ARTIFACTS / f"finance-after-the-bill-{backend}.png"), full_page=True
            )
        finally:
            browser.close()
    read = httpx.get(f"{server.base_url}/v1/receivables/{rid}", headers=headers).json()
    assert (read["status"], read["payments"][-1]["method"]) == ("paid", "temporary_assistance")
