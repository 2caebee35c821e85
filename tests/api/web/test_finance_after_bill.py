"""The finance view's sections for rules §15–16: the aged receivables (table, bars, downloads)
and the alerts with their decision form (each refusal shown, nothing written)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from tests.api.routes.test_receivables import opened, pay
from tests.api.web.test_finance_web import log_in
from tests.support.db import row_counts
from tests.support.world import World


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    client = TestClient(world.client.app)
    yield client
    client.close()


def test_the_page_shows_the_aged_receivables_and_the_alert_with_its_form(
    world: World, browser: TestClient
) -> None:
    _, receivable = opened(world)
    assert pay(world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    log_in(browser, world.keys.finance)
    hospital = world.hospitals[2]
    page = browser.get(f"/finance?hospital_id={hospital}").text
    assert f'data-receivable-outstanding="{receivable["receivable_id"]}">5,700.00<' in page
    assert f'data-aging="{hospital}.over_180">5,700.00<' in page
    assert '<svg class="aging"' in page
    person = world.persons["registered_poor"]
    assert f'id="alert-{person}-2018" data-alert-status="raised"' in page
    assert f'action="/finance/alerts/{person}/2018/decision"' in page
    download = browser.get(f"/finance/receivables.csv?as_of=2018-04-20&hospital_id={hospital}")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[1][0] == receivable["receivable_id"]
    assert download.headers["content-disposition"].startswith("attachment")


def test_a_hospital_user_sees_its_receivables_but_no_alerts_and_cannot_decide(
    world: World, browser: TestClient
) -> None:
    opened(world)
    log_in(browser, world.keys.hospital[world.hospitals[2]])
    page = browser.get("/finance").text
    assert 'id="receivables"' in page
    assert 'id="alerts"' not in page
    person = world.persons["registered_poor"]
    refused = browser.post(
        f"/finance/alerts/{person}/2018/decision",
        data={"decision_id": "TH", "decision": "decline", "reason": "x", "month": "2026-12"},
    )
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("fields", "status", "said"),
    [
        ({"decision": "grant", "amount": "9999999.00", "reason": "太多"}, 422, "above the year"),
        ({"decision": "grant", "amount": "1.005", "reason": "小数"}, 422, "amount"),
        ({"decision": "maybe", "amount": "", "reason": "未知"}, 422, "decision"),
        ({"decision": "grant", "amount": "1.00", "reason": ""}, 422, "reason"),
    ],
)
def test_a_bad_decision_from_the_form_is_shown_and_writes_nothing(
    world: World,
    browser: TestClient,
    settings: Settings,
    fields: dict[str, str],
    status: int,
    said: str,
) -> None:
    opened(world)
    log_in(browser, world.keys.finance)
    before = row_counts(settings)
    person = world.persons["registered_poor"]
    answer = browser.post(
        f"/finance/alerts/{person}/2018/decision",
        data={"decision_id": "TF", "month": "2026-12", **fields},
    )
    assert answer.status_code == status, answer.text
    assert said in answer.text
    assert row_counts(settings) == before


def test_a_decision_posted_from_another_origin_is_refused(
    world: World, browser: TestClient
) -> None:
    opened(world)
    log_in(browser, world.keys.finance)
    person = world.persons["registered_poor"]
    refused = browser.post(
        f"/finance/alerts/{person}/2018/decision",
        data={"decision_id": "TO", "decision": "decline", "reason": "x", "month": "2026-12"},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert refused.status_code == 403


def test_a_decision_from_the_form_is_recorded_and_the_page_returns_to_the_alert(
    world: World, browser: TestClient
) -> None:
    _, receivable = opened(world)
    log_in(browser, world.keys.finance)
    person = world.persons["registered_poor"]
    answer = browser.post(
        f"/finance/alerts/{person}/2018/decision",
        data={"decision_id": "TG", "decision": "grant", "amount": "1000.00",
              "reason": "一事一议", "month": "2026-12"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/finance?month=2026-12#alert-{person}-2018"
    page = browser.get(f"/finance?hospital_id={world.hospitals[2]}").text
    assert f'id="alert-{person}-2018" data-alert-status="granted"' in page
    assert f'data-receivable-outstanding="{receivable["receivable_id"]}">5,500.00<' in page
