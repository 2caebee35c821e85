"""The finance view (api/web/): login and sessions, the month's totals, the chart, clearing
with its downloads, search and the statement, and hospital scoping, on both databases."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from api.core.chart import grouped, nice_step_fen, stacked_bars
from api.core.config import Settings
from api.core.contract import mask_id_number
from api.db.engine import make_engine
from api.db.tables import ApiKey, Person, WebSession
from api.services.clearing import clearing_csv, clearing_json
from api.services.finance import AMOUNTS, month_period, totals_json
from api.web.pages import CHART_FUNDS
from api.web.sessions import SESSION_COOKIE, SESSION_SECONDS, token_hash
from tests.api.services.spreadsheet_checks import (
    assert_csv_neutralised,
    assert_xlsx_neutralised,
    clearing_document,
    settle_at_hostile_hospitals,
)
from tests.support.world import World

FIGURE = re.compile(r'data-figure="([a-z_]+\.[a-z_]+)">([^<]*)<')


# ---------------------------------------------------------------- helpers


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    """A client with a cookie jar of its own, on the same running app as `world.client`."""
    client = TestClient(world.client.app)
    yield client
    client.close()


def log_in(client: TestClient, key: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/finance/login", data={"key": key}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/finance"
    return response


def settle(world: World, level: int = 3, person: str = "dibao") -> dict[str, Any]:
    response = world.client.post(
        "/v1/settlements",
        json=world.claim("e2", level=level, person=person),
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def reverse(world: World, document: dict[str, Any], level: int = 3) -> None:
    response = world.client.post(
        f"/v1/settlements/{document['settlement_id']}/reversal",
        json={"reason": "医院冲正：重复上传"},
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 200, response.text


def month_of(document: dict[str, Any], settings: Settings) -> str:
    """The business month a settlement counts in (settlements are stamped with the current time)."""
    settled_at = datetime.fromisoformat(document["settled_at"].replace("Z", "+00:00"))
    return settled_at.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y-%m")


def figures_on(page: str) -> dict[str, str]:
    return dict(FIGURE.findall(page))


def expected_figures(totals: dict[str, Any]) -> dict[str, str]:
    """The totals as the page writes them: counts as they are, amounts with separators."""
    figures = {}
    for part in ("settled", "reversed", "net"):
        figures[f"{part}.count"] = str(totals[part]["count"])
        for name in AMOUNTS:
            figures[f"{part}.{name}"] = grouped(totals[part][name])
    return figures


def assert_redirected_to_login(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/finance/login"


# ---------------------------------------------------------------- login and the cookie


def test_logging_in_with_a_finance_key_sets_an_httponly_strict_cookie_that_does_not_hold_the_key(
    world: World, browser: TestClient, settings: Settings
) -> None:
    response = log_in(browser, world.keys.finance)
    cookie = response.headers["set-cookie"]
    attributes = [part.strip() for part in cookie.split(";")]
    name, token = attributes[0].split("=", 1)
    assert name == SESSION_COOKIE
    assert "HttpOnly" in attributes
    assert "SameSite=Strict" in attributes
    assert "Path=/finance" in attributes
    assert f"Max-Age={SESSION_SECONDS}" in attributes
    assert SESSION_SECONDS == 8 * 60 * 60
    assert "Secure" not in attributes  # plain http here; see the https test below
    secret = world.keys.finance.split("_", 2)[2]
    assert world.keys.finance not in cookie
    assert secret not in cookie
    assert token not in world.keys.finance
    # The database keeps only the token's hash and the key's prefix, never the key.
    engine = make_engine(settings)
    with Session(engine) as session:
        row = session.get(WebSession, token_hash(token))
        assert row is not None
        assert row.role == "finance"
        assert row.key_prefix == world.keys.finance.split("_")[1]
        assert row.expires_at - row.created_at == timedelta(hours=8)
        assert token not in row.token_hash
    engine.dispose()
    page = browser.get("/finance")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert world.keys.finance not in page.text
    assert secret not in page.text
    # The login form, asked for again while logged in, sends the browser to the page.
    again = browser.get("/finance/login", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/finance"
    assert "set-cookie" not in again.headers
    assert browser.get("/finance").status_code == 200


def test_the_session_cookie_is_secure_when_the_request_is_https(world: World) -> None:
    client = TestClient(world.client.app, base_url="https://testserver")
    response = log_in(client, world.keys.finance)
    assert "Secure" in [part.strip() for part in response.headers["set-cookie"].split(";")]
    assert client.get("/finance").status_code == 200
    client.close()


def test_the_finance_pages_without_a_session_redirect_to_the_login_form(
    world: World, browser: TestClient
) -> None:
    for path in (
        "/finance",
        "/finance/clearing.csv",
        "/finance/clearing.xlsx",
        "/finance/statement/ST1",
    ):
        assert_redirected_to_login(browser.get(path, follow_redirects=False))
    forged = browser.get(
        "/finance", headers={"Cookie": f"{SESSION_COOKIE}={'A' * 43}"}, follow_redirects=False
    )
    assert_redirected_to_login(forged)
    assert "max-age=0" in forged.headers["set-cookie"].lower()  # the stale cookie is cleared
    login = browser.get("/finance/login")
    assert login.status_code == 200
    assert 'name="key"' in login.text
    assert 'type="password"' in login.text


def test_a_bad_key_gets_401_and_the_form_with_a_clear_message(
    world: World, browser: TestClient
) -> None:
    wrong_secret = world.keys.finance[:-4] + "AAAA"
    for key in ("osk_nothing_here", "not-a-key", "", wrong_secret, "x" * 500):
        response = browser.post("/finance/login", data={"key": key}, follow_redirects=False)
        assert response.status_code == 401, (key, response.text)
        assert "API 密钥无效或已吊销" in response.text
        assert "The API key is unknown or revoked." in response.text
        assert 'name="key"' in response.text
        assert "set-cookie" not in response.headers
        if key:
            assert key not in response.text
    json_body = browser.post("/finance/login", json={"key": world.keys.finance})
    assert json_body.status_code == 415
    too_big = browser.post("/finance/login", data={"key": "k" * 5000})
    assert too_big.status_code == 413
    assert_redirected_to_login(browser.get("/finance", follow_redirects=False))


def test_a_login_form_posted_from_another_origin_is_refused(
    world: World, browser: TestClient
) -> None:
    response = browser.post(
        "/finance/login",
        data={"key": world.keys.finance},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    same = browser.post(
        "/finance/login",
        data={"key": world.keys.finance},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    refused_logout = browser.post(
        "/finance/logout", headers={"Origin": "null"}, follow_redirects=False
    )
    assert refused_logout.status_code == 403
    assert browser.get("/finance").status_code == 200  # still logged in


# ---------------------------------------------------------------- the month's figures


def test_the_page_shows_the_months_totals_exactly_as_the_totals_report_computes_them(
    world: World, browser: TestClient, settings: Settings
) -> None:
    first = settle(world, person="dibao")
    settle(world, person="destitute")
    reverse(world, settle(world, person="registered_poor"))
    month = month_of(first, settings)
    log_in(browser, world.keys.finance)
    engine = make_engine(settings)
    period = month_period(month, settings.business_timezone)

    hospital = world.hospitals[3]
    page = browser.get("/finance", params={"month": month, "hospital_id": hospital})
    assert page.status_code == 200, page.text
    mine = totals_json(engine, period, hospital)
    assert mine["settled"]["count"] == 3
    assert mine["reversed"]["count"] == 1
    assert mine["net"]["count"] == 2
    assert figures_on(page.text) == expected_figures(mine)
    assert f'id="net-fund-total">{grouped(mine["net"]["fund_total"])}<' in page.text

    everything = browser.get("/finance", params={"month": month})
    assert figures_on(everything.text) == expected_figures(totals_json(engine, period, None))
    engine.dispose()

    # Without a month the page shows the current month of the business time zone.
    current = browser.get("/finance").text
    assert f"<h1>{month} " in current
    assert "基本医保统筹基金" in current
    assert "basic insurance" in current


def test_the_chart_has_a_bar_segment_for_each_fund_paid_on_the_day_of_settlement(
    world: World, browser: TestClient, settings: Settings
) -> None:
    document = settle(world)
    month = month_of(document, settings)
    log_in(browser, world.keys.hospital[world.hospitals[3]])
    page = browser.get("/finance", params={"month": month}).text
    svg = page[page.index('<svg class="chart"') : page.index("</svg>")]
    day = datetime.fromisoformat(document["settled_at"].replace("Z", "+00:00"))
    local_day = day.astimezone(ZoneInfo(settings.business_timezone)).date().isoformat()
    paid = [fund for fund in document["funds"] if fund["paid"] != "0.00"]
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert len([title for title in titles if title.startswith(local_day)]) == len(paid)
    for fund in document["funds"]:
        assert CHART_FUNDS[fund["fund"]] in svg  # the legend names every fund
    assert "amount (yuan)" in svg
    assert f"day of {month}" in svg


def test_stacked_bars_put_reversals_below_zero_and_round_the_axis_to_whole_yuan() -> None:
    series = [
        {"day": "2018-03-01", "basic_insurance": 150_000, "critical_illness": 20_000,
         "medical_assistance": 0, "charity": 0, "health_fund": 0},
        {"day": "2018-03-02", "basic_insurance": -90_000, "critical_illness": 0,
         "medical_assistance": 5_000, "charity": 0, "health_fund": 0},
    ]  # fmt: skip
    chart = stacked_bars(series, CHART_FUNDS)
    assert [bar.fund for bar in chart.bars] == [
        "basic_insurance", "critical_illness", "basic_insurance", "medical_assistance",
    ]  # fmt: skip
    below = chart.bars[2]
    assert below.y == chart.zero_y  # a negative segment hangs from the zero line
    assert chart.bars[0].y + chart.bars[0].height == pytest.approx(chart.zero_y, abs=0.15)
    assert [tick.label for tick in chart.ticks] == ["-1,000", "0", "1,000", "2,000"]
    assert nice_step_fen(1) == 100
    assert nice_step_fen(260_000) == 100_000
    assert grouped("-1234567.05") == "-1,234,567.05"
    empty = stacked_bars([{"day": "2018-03-01", **dict.fromkeys(CHART_FUNDS, 0)}], CHART_FUNDS)
    assert empty.empty
    assert empty.bars == []


# ---------------------------------------------------------------- clearing and downloads


def test_the_clearing_table_and_its_csv_and_xlsx_downloads_agree_with_the_clearing_report(
    world: World, browser: TestClient, settings: Settings
) -> None:
    settle(world, level=3)
    reverse(world, settle(world, level=3, person="destitute"))
    document = settle(world, level=2)
    month = month_of(document, settings)
    log_in(browser, world.keys.finance)
    engine = make_engine(settings)
    for hospital in (world.hospitals[3], world.hospitals[2]):
        expected = clearing_json(engine, month, settings.business_timezone, hospital)
        query = {"month": month, "hospital_id": hospital}
        page = browser.get("/finance", params=query).text
        assert f'id="total-owed">{grouped(expected["total_owed"])}<' in page
        for row in expected["rows"]:
            key = f"{row['hospital_id']}.{row['insured_region']}.{row['fund']}"
            owed = f'data-owed="{key}">{grouped(row["owed"])}<'
            assert owed in page
        assert f'href="/finance/clearing.csv?month={month}&amp;hospital_id={hospital}"' in page

        download = browser.get("/finance/clearing.csv", params=query)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        disposition = download.headers["content-disposition"]
        assert disposition == f'attachment; filename="clearing-{month}-{hospital}.csv"'
        assert download.text == clearing_csv(expected)
        rows = list(csv.reader(io.StringIO(download.text)))
        assert rows[-1][1] == "TOTAL"
        assert sum(Decimal(row[-1]) for row in rows[1:-1]) == Decimal(expected["total_owed"])

        workbook_response = browser.get("/finance/clearing.xlsx", params=query)
        assert workbook_response.status_code == 200
        assert workbook_response.headers["content-disposition"].startswith("attachment;")
        sheet = load_workbook(io.BytesIO(workbook_response.content)).active
        assert sheet is not None
        values = list(sheet.iter_rows(values_only=True))
        assert values[-1][1] == "TOTAL"
        assert Decimal(str(values[-1][-1])).quantize(Decimal("0.01")) == Decimal(
            expected["total_owed"]
        )
        owed_sum = sum((Decimal(str(row[-1])) for row in values[1:-1]), Decimal(0))
        assert owed_sum.quantize(Decimal("0.01")) == Decimal(expected["total_owed"])
        assert len(values) == len(expected["rows"]) + 2
    engine.dispose()
    bad = browser.get("/finance/clearing.csv", params={"month": "2018-13"})
    assert bad.status_code == 422


# ---------------------------------------------------------------- search and the statement


def test_searching_by_claim_id_finds_the_settlement_and_its_statement_shows_the_masked_id(
    world: World, browser: TestClient, settings: Settings
) -> None:
    document = settle(world)
    log_in(browser, world.keys.finance)
    page = browser.get("/finance", params={"q": document["claim_id"]}).text
    link = f'href="/finance/statement/{document["settlement_id"]}"'
    assert link in page
    by_id = browser.get("/finance", params={"q": document["settlement_id"]}).text
    assert link in by_id
    assert "未找到结算单" in browser.get("/finance", params={"q": "ZY-NOTHING"}).text
    refused = browser.get("/finance", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in refused
    assert "&lt;script&gt;" in refused

    statement = browser.get(f"/finance/statement/{document['settlement_id']}")
    assert statement.status_code == 200
    assert statement.headers["content-type"].startswith("text/html")
    engine = make_engine(settings)
    with Session(engine) as session:
        person = session.get(Person, document["person_id"])
        assert person is not None
        id_number = person.id_number
    engine.dispose()
    assert mask_id_number(id_number) in statement.text
    assert id_number not in statement.text
    assert "住院费用一站式结算单" in statement.text
    assert document["claim_id"] in statement.text
    missing = browser.get("/finance/statement/ST20180312DEADBEEFDEADBEEF")
    assert missing.status_code == 404


# ---------------------------------------------------------------- hospital users


def test_a_hospital_user_sees_only_its_own_hospitals_rows_everywhere(
    world: World, browser: TestClient, settings: Settings
) -> None:
    own, other = world.hospitals[3], world.hospitals[2]
    mine = settle(world, level=3)
    theirs = settle(world, level=2)
    month = month_of(mine, settings)
    log_in(browser, world.keys.hospital[own])
    page = browser.get("/finance", params={"month": month})
    assert page.status_code == 200
    assert own in page.text
    assert other not in page.text
    assert 'name="hospital_id"' not in page.text  # no hospital filter is offered
    engine = make_engine(settings)
    period = month_period(month, settings.business_timezone)
    assert figures_on(page.text) == expected_figures(totals_json(engine, period, own))
    engine.dispose()

    assert browser.get("/finance", params={"month": month, "hospital_id": own}).status_code == 200
    assert browser.get("/finance", params={"month": month, "hospital_id": other}).status_code == 403
    assert browser.get("/finance/clearing.csv", params={"hospital_id": other}).status_code == 403
    download = browser.get("/finance/clearing.csv", params={"month": month}).text
    assert own in download
    assert other not in download
    assert (
        'filename="clearing-'
        in browser.get("/finance/clearing.xlsx", params={"month": month}).headers[
            "content-disposition"
        ]
    )

    assert "未找到结算单" in browser.get("/finance", params={"q": theirs["claim_id"]}).text
    found = browser.get("/finance", params={"q": mine["claim_id"]}).text
    assert f'/finance/statement/{mine["settlement_id"]}"' in found
    assert browser.get(f"/finance/statement/{mine['settlement_id']}").status_code == 200
    assert browser.get(f"/finance/statement/{theirs['settlement_id']}").status_code == 403


# ---------------------------------------------------------------- the session ends


def test_a_revoked_keys_session_stops_working(
    world: World, browser: TestClient, settings: Settings
) -> None:
    log_in(browser, world.keys.finance)
    assert browser.get("/finance").status_code == 200
    engine = make_engine(settings)
    with Session(engine) as session:
        prefix = world.keys.finance.split("_")[1]
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        session.commit()
    assert_redirected_to_login(browser.get("/finance", follow_redirects=False))
    assert_redirected_to_login(browser.get("/finance/clearing.csv", follow_redirects=False))
    with Session(engine) as session:
        left = session.exec(select(WebSession).where(WebSession.key_prefix == prefix)).all()
        assert left == []  # the session row went with the key
    engine.dispose()
    again = browser.post("/finance/login", data={"key": world.keys.finance})
    assert again.status_code == 401


def test_logging_out_ends_the_session_and_its_token_no_longer_opens_a_page(
    world: World, browser: TestClient
) -> None:
    response = log_in(browser, world.keys.finance)
    token = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert browser.get("/finance").status_code == 200
    logout = browser.post("/finance/logout", follow_redirects=False)
    assert logout.status_code == 303
    assert logout.headers["location"] == "/finance/login"
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert_redirected_to_login(browser.get("/finance", follow_redirects=False))
    replay = TestClient(world.client.app)
    replayed = replay.get(
        "/finance", headers={"Cookie": f"{SESSION_COOKIE}={token}"}, follow_redirects=False
    )
    assert_redirected_to_login(replayed)
    replay.close()


def test_an_expired_session_redirects_to_the_login_form(
    world: World, browser: TestClient, settings: Settings
) -> None:
    response = log_in(browser, world.keys.admin)
    token = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert browser.get("/finance").status_code == 200
    engine = make_engine(settings)
    with Session(engine) as session:
        row = session.get(WebSession, token_hash(token))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
        session.commit()
    engine.dispose()
    assert_redirected_to_login(browser.get("/finance", follow_redirects=False))


def test_the_clearing_downloads_neutralise_hospital_names_that_a_spreadsheet_would_run(
    world: World, browser: TestClient, settings: Settings
) -> None:
    month = settle_at_hostile_hospitals(world, settings)
    document = clearing_document(world, month)
    log_in(browser, world.keys.finance)

    download = browser.get("/finance/clearing.csv", params={"month": month})
    assert download.status_code == 200, download.text
    assert_csv_neutralised(download.text, document, world)

    workbook = browser.get("/finance/clearing.xlsx", params={"month": month})
    assert workbook.status_code == 200, workbook.text
    assert_xlsx_neutralised(workbook.content, document, world)
