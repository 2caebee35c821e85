"""Clearing between regions (跨区域清算, rules §12; issue 12): `GET /v1/clearing/regions`, the
insured region on `GET /v1/clearing`, `onestop clearing --by-region` and the finance view's
table, over one generated month (2031-05, which no other test uses) on both databases.

The month: hospitals of two regions (the world's of Jilin, 220000; two of Liaoning, 210000,
registered here) and persons insured in each, settling in-region and cross-region claims
(with their filing) at instants a clock sets, around the month's local midnights, some
reversed in the month, one settled in April and reversed in May, one settled in May and
reversed in June. Every figure of the inter-region table must tie out to the fen with the
totals route, with the per-hospital clearing added up by region, and with the settlement
documents the test received.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.core.chart import grouped
from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.keys import create_key
from api.services.clearing import REGIONS_HEADER, XLSX_MEDIA_TYPE, regions_document
from tests.api.routes.test_finance import (
    Clock,
    bearer,
    clocked_client,
    fen,
    instant,
    local_day,
    money,
    month_days,
    stamp,
    totals,
)
from tests.api.services.spreadsheet_checks import assert_csv_cells_safe, assert_xlsx_cells_safe
from tests.support.world import World, id_number, make_world

MONTH = "2031-05"
JILIN, LIAONING = "220000", "210000"
FUNDS = ("basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund")
FILINGS = ("resident", "referral", "emergency", "temporary")
PROBLEM_JSON = "application/problem+json"
PERSONS = {  # key: (insured region, group or None)
    "jl-none": (JILIN, None),
    "jl-poor": (JILIN, "registered_poor"),
    "ln-none": (LIAONING, None),
    "ln-dibao": (LIAONING, "dibao"),
}
HOSPITALS = ("jl2", "jl3", "ln2", "ln3")
"""The month's hospitals: the world's Jilin hospitals of levels 2 and 3, and two of Liaoning."""
MAY_START = instant("2031-04-30T16:00:00Z")  # 2031-05-01 00:00 Asia/Shanghai
MAY_END = instant("2031-05-31T16:00:00Z")  # 2031-06-01 00:00 Asia/Shanghai
RANDOM_SETTLEMENTS = 28


# ---------------------------------------------------------------- the month


@dataclass
class Bill:
    """One settlement as the service answered it (amounts in fen) and, once reversed, when."""

    settlement_id: str
    hospital_id: str
    regions: tuple[str, str]
    """(insured region, treatment region), as the test expects them, not as answered."""
    settled_at: str
    paid: dict[str, int]
    fund_codes: dict[str, str]
    hospital_key: str
    reversed_at: str | None = None


def in_month(moment: str | None) -> bool:
    """The instant (an answer's timestamp, or None) falls in MONTH, local time."""
    return moment is not None and local_day(moment).strftime("%Y-%m") == MONTH


@dataclass
class RegionMonth:
    world: World
    hospitals: dict[str, str]  # key → hospital_id
    regions: dict[str, str]  # hospital_id → region
    keys: dict[str, str]  # hospital_id → its key
    bills: list[Bill] = field(default_factory=list)

    @property
    def finance(self) -> str:
        return self.world.keys.finance


def person_id(world: World, name: str) -> str:
    return f"P{world.tag}{name}"


def _register(world: World, settings: Settings) -> RegionMonth:
    """Two Liaoning hospitals and their keys, and the month's four persons, through the admin
    API (the world's own persons and hospitals are all of Jilin)."""
    admin = world.auth(world.keys.admin)
    hospitals = {"jl2": world.hospitals[2], "jl3": world.hospitals[3]}
    for level in (2, 3):
        hospital_id = f"H{world.tag}RG{level}"
        response = world.client.put(
            f"/v1/hospitals/{hospital_id}",
            json={"name": f"辽宁测试医院{level}", "level": level, "region": LIAONING},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        hospitals[f"ln{level}"] = hospital_id
    keys = {
        hospital_id: world.keys.hospital[hospital_id] for hospital_id in world.hospitals.values()
    }
    engine = make_engine(settings)
    with write_session(engine) as session:
        for name in ("ln2", "ln3"):
            keys[hospitals[name]], _ = create_key(session, "hospital", hospitals[name], "test")
        session.commit()
    engine.dispose()
    for index, (name, (region, group)) in enumerate(PERSONS.items()):
        statuses = (
            []
            if group is None
            else [{"group": group, "valid_from": "2017-01-01", "valid_to": None}]
        )
        response = world.client.put(
            f"/v1/persons/{person_id(world, name)}",
            json={
                "name": f"跨区{index}", "id_number": id_number(f"{region[:2]}01021965030{index}123"),
                "birth_date": "1965-03-01", "gender": "male", "insured_region": region,
                "statuses": statuses,
            },
            headers=admin,
        )  # fmt: skip
        assert response.status_code == 201, response.text
    regions = {hospitals[name]: JILIN if name.startswith("jl") else LIAONING for name in HOSPITALS}
    return RegionMonth(world, hospitals, regions, keys)


def _claim(month: RegionMonth, person: str, hospital: str, rng: random.Random) -> dict[str, Any]:
    """A worked-example claim of 2018 or 2019 for the person at the hospital, with a filing
    when the two regions differ."""
    hospital_id = month.hospitals[hospital]
    insured, treatment = PERSONS[person][0], month.regions[hospital_id]
    filing = None if insured == treatment else rng.choice(FILINGS)
    claim = month.world.claim(
        rng.choice(("e1", "e2", "e4")), hospital_id=hospital_id,
        person_id=person_id(month.world, person), filing=filing,
    )  # fmt: skip
    year = rng.choice(("2018", "2019"))
    for name in ("admission_date", "discharge_date"):
        claim[name] = year + claim[name][4:]
    return claim


def _settle(
    month: RegionMonth, clock: Clock, moment: str, person: str, hospital: str,
    claim: dict[str, Any],
) -> Bill:  # fmt: skip
    clock.now = instant(moment)
    hospital_id = month.hospitals[hospital]
    key = month.keys[hospital_id]
    response = month.world.client.post("/v1/settlements", json=claim, headers=bearer(key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["settled_at"] == stamp(clock.now)
    regions = (PERSONS[person][0], month.regions[hospital_id])
    assert (body["insured_region"], body["treatment_region"]) == regions
    bill = Bill(
        body["settlement_id"], hospital_id, regions, body["settled_at"],
        {fund["fund"]: fen(fund["paid"]) for fund in body["funds"]},
        {fund["fund"]: fund["fund_code"] for fund in body["funds"]}, key,
    )  # fmt: skip
    assert list(bill.paid) == list(FUNDS)
    assert sum(bill.paid.values()) == fen(body["totals"]["fund_total"])
    month.bills.append(bill)
    return bill


def _reverse(month: RegionMonth, clock: Clock, moment: str, bill: Bill) -> None:
    assert instant(moment) > instant(bill.settled_at)
    clock.now = instant(moment)
    response = month.world.client.post(
        f"/v1/settlements/{bill.settlement_id}/reversal",
        json={"reason": "医院冲正：跨区测试"},
        headers=bearer(bill.hospital_key),
    )
    assert response.status_code == 200, response.text
    assert response.json()["reversed_at"] == stamp(clock.now)
    bill.reversed_at = response.json()["reversed_at"]


EDGES = [  # (UTC instant, person, hospital): around the month's local midnights
    ("2031-04-30T15:59:59.999999Z", "jl-none", "ln3"),  # April; reversed in May below
    ("2031-04-30T16:00:00.000000Z", "ln-dibao", "jl2"),  # May's first instant
    ("2031-05-31T15:59:59.999999Z", "ln-none", "ln2"),  # May's last instant
    ("2031-05-31T16:00:00.000000Z", "jl-poor", "jl3"),  # June
]


@pytest.fixture(scope="module")
def month(settings: Settings) -> RegionMonth:
    rng = random.Random(20310501)
    clock = Clock(MAY_START)
    with clocked_client(settings, clock) as client:
        setup = _register(make_world(client, settings), settings)
        # The registered-poor person's first 2019 stay at a Jilin level-2 hospital: the health
        # poverty fund pays (in-region only, rules §13).
        first = setup.world.claim(
            "e4", hospital_id=setup.hospitals["jl2"], person_id=person_id(setup.world, "jl-poor")
        )
        first["admission_date"], first["discharge_date"] = "2019-03-01", "2019-03-12"
        health = _settle(setup, clock, "2031-05-20T04:00:00Z", "jl-poor", "jl2", first)
        assert health.paid["health_fund"] > 0
        for moment, person, hospital in EDGES:
            _settle(setup, clock, moment, person, hospital, _claim(setup, person, hospital, rng))
        span = int((MAY_END - MAY_START).total_seconds())
        for index in range(RANDOM_SETTLEMENTS):
            person, hospital = list(PERSONS)[index % 4], HOSPITALS[(index // 4) % 4]
            moment = stamp(MAY_START + timedelta(seconds=rng.randrange(span)))
            _settle(setup, clock, moment, person, hospital, _claim(setup, person, hospital, rng))
        april, *_, june = setup.bills[1:5]
        _reverse(setup, clock, "2031-05-03T02:00:00Z", april)
        in_may = sorted(setup.bills[5:], key=lambda bill: bill.settled_at)
        _reverse(setup, clock, "2031-06-02T01:00:00Z", in_may[3])  # reversed in June
        for bill in rng.sample(in_may[4:], 6):
            _reverse(setup, clock, "2031-05-31T15:59:59.999999Z", bill)
        assert in_month(june.settled_at) is False
    return setup


def _expected_rows(month: RegionMonth) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per (insured region, treatment region, fund): the month's figures from the bills."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for bill in month.bills:
        for fund in FUNDS:
            row = rows.setdefault(
                (*bill.regions, fund),
                {"fund_code": bill.fund_codes[fund], "settlements": 0, "reversals": 0,
                 "settled": 0, "reversed": 0},
            )  # fmt: skip
            if in_month(bill.settled_at):
                row["settlements"] += 1
                row["settled"] += bill.paid[fund]
            if in_month(bill.reversed_at):
                row["reversals"] += 1
                row["reversed"] -= bill.paid[fund]
    return {
        key: {**row, "net": row["settled"] + row["reversed"]}
        for key, row in rows.items()
        if row["settlements"] or row["reversals"]
    }


def regions_answer(client: TestClient, key: str, **params: str) -> Any:
    return client.get(
        "/v1/clearing/regions", params={"month": MONTH, **params}, headers=bearer(key)
    )


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    """A row's counts and amounts, the amounts in fen."""
    return {
        "settlements": row["settlements"], "reversals": row["reversals"],
        **{part: fen(row[part]) for part in ("settled", "reversed", "net")},
    }  # fmt: skip


# ---------------------------------------------------------------- the route


def test_the_month_has_every_pair_of_regions_reversals_and_each_fund(month: RegionMonth) -> None:
    expected = _expected_rows(month)
    assert {key[:2] for key in expected} == {
        (JILIN, JILIN), (JILIN, LIAONING), (LIAONING, LIAONING), (LIAONING, JILIN),
    }  # fmt: skip
    assert sum(row["reversals"] for row in expected.values()) == 5 * 7
    for fund in FUNDS:
        assert any(row["settled"] > 0 for key, row in expected.items() if key[2] == fund), fund
    april = month.bills[1]
    assert not in_month(april.settled_at)
    assert in_month(april.reversed_at)


def test_the_regions_table_is_what_the_settlement_documents_add_up_to(
    client: TestClient, month: RegionMonth
) -> None:
    response = regions_answer(client, month.finance)
    assert response.status_code == 200, response.text
    document = response.json()
    assert (document["month"], document["time_zone"]) == (MONTH, "Asia/Shanghai")
    expected = _expected_rows(month)
    order = [
        (row["insured_region"], row["treatment_region"], row["fund"]) for row in document["rows"]
    ]
    assert order == sorted(expected, key=lambda key: (key[0], key[1], FUNDS.index(key[2])))
    for row in document["rows"]:
        due = expected[(row["insured_region"], row["treatment_region"], row["fund"])]
        assert row["fund_code"] == due["fund_code"]
        assert _figures(row) == {name: due[name] for name in _figures(row)}
        assert fen(row["reversed"]) <= 0
    # The April settlement reversed in May counts as a May reversal (negative) of its pair.
    april = month.bills[1]
    pair = [
        row
        for row in document["rows"]
        if (row["insured_region"], row["treatment_region"]) == april.regions
    ]
    assert all(row["reversals"] >= 1 for row in pair)
    assert any(fen(row["reversed"]) < 0 for row in pair)


def test_each_funds_total_ties_out_with_the_totals_route_for_the_month(
    client: TestClient, month: RegionMonth
) -> None:
    document = regions_answer(client, month.finance).json()
    first, last = month_days(MONTH)
    body = totals(client, month.finance, first, last)
    assert [fund["fund"] for fund in document["fund_totals"]] == list(FUNDS)
    for fund in document["fund_totals"]:
        name = fund["fund"]
        assert fund["settled"] == body["settled"][name]
        assert fen(fund["reversed"]) == -fen(body["reversed"][name])
        assert fund["net"] == body["net"][name]
        assert (fund["settlements"], fund["reversals"]) == (
            body["settled"]["count"], body["reversed"]["count"],
        )  # fmt: skip
        rows = [row for row in document["rows"] if row["fund"] == name]
        assert sum(fen(row["net"]) for row in rows) == fen(fund["net"])
    assert document["total"] == {
        "settled": body["settled"]["fund_total"],
        "reversed": money(-fen(body["reversed"]["fund_total"])),
        "net": body["net"]["fund_total"],
    }


def test_each_row_is_the_per_hospital_clearing_added_up_over_the_treatment_regions_hospitals(
    client: TestClient, month: RegionMonth
) -> None:
    response = client.get("/v1/clearing", params={"month": MONTH}, headers=bearer(month.finance))
    assert response.status_code == 200, response.text
    summed: dict[tuple[str, str, str], Counter[str]] = {}
    for row in response.json()["rows"]:
        assert row["hospital_id"] in month.regions, "another test settled in 2031-05"
        key = (row["insured_region"], month.regions[row["hospital_id"]], row["fund"])
        summed.setdefault(key, Counter()).update(
            {"settlements": row["settlements"], "reversals": row["reversals"],
             "settled": fen(row["settled"]), "reversed": fen(row["reversed"]), "net": fen(row["owed"])}
        )  # fmt: skip
    document = regions_answer(client, month.finance).json()
    assert {
        (row["insured_region"], row["treatment_region"], row["fund"]): _figures(row)
        for row in document["rows"]
    } == {key: dict(figures) for key, figures in summed.items()}


def test_csv_and_xlsx_carry_the_same_rows_and_totals_every_text_cell_neutralised(
    client: TestClient, month: RegionMonth
) -> None:
    document = regions_answer(client, month.finance).json()
    total = document["total"]
    due = [
        *([MONTH, *(str(row[name]) for name in REGIONS_HEADER[1:])] for row in document["rows"]),
        *(
            [MONTH, "TOTAL", "", *(str(fund[name]) for name in REGIONS_HEADER[3:])]
            for fund in document["fund_totals"]
        ),
        [MONTH, "TOTAL", "", "", "", "", "", total["settled"], total["reversed"], total["net"]],
    ]

    response = regions_answer(client, month.finance, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="clearing-regions-{MONTH}.csv"'
    assert list(csv.reader(io.StringIO(response.text))) == [list(REGIONS_HEADER), *due]
    assert_csv_cells_safe(response.text)

    response = regions_answer(client, month.finance, format="xlsx")
    assert response.status_code == 200, response.text
    assert_xlsx_cells_safe(response.content)
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == list(REGIONS_HEADER)
    money_columns = {REGIONS_HEADER.index(name) for name in ("settled", "reversed", "net")}
    read = [
        [
            _xlsx_money(value) if column in money_columns else ("" if value is None else str(value))
            for column, value in enumerate(row)
        ]
        for row in cells[1:]
    ]
    assert read == due


def _xlsx_money(value: Any) -> str:
    """A spreadsheet number that must be an amount in fen exactly, as a money string."""
    assert isinstance(value, int | float), value
    scaled = Decimal(str(value)) * 100
    assert scaled == scaled.to_integral_value(), value
    return money(int(scaled))


def test_only_finance_and_admin_keys_may_read_it(client: TestClient, month: RegionMonth) -> None:
    for key in (month.finance, month.world.keys.admin):
        assert regions_answer(client, key).status_code == 200
    for hospital_id in (month.hospitals["ln3"], month.hospitals["jl2"]):
        for fmt in ("json", "csv", "xlsx"):
            response = regions_answer(client, month.keys[hospital_id], format=fmt)
            assert response.status_code == 403, response.text
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
    response = client.get("/v1/clearing/regions", params={"month": MONTH})
    assert response.status_code == 401
    for bad in ("2031-13", "0000-01", "9999-12"):
        response = regions_answer(client, month.finance, month=bad)
        assert response.status_code == 422, (bad, response.text)


def test_a_month_without_postings_has_no_rows_and_zero_totals(
    client: TestClient, month: RegionMonth
) -> None:
    document = regions_answer(client, month.finance, month="1901-01").json()
    assert document["rows"] == []
    assert document["fund_totals"] == []
    assert document["total"] == {"settled": "0.00", "reversed": "0.00", "net": "0.00"}


def test_the_openapi_example_is_a_document_the_service_would_answer(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/clearing/regions"]["get"]
    content = operation["responses"]["200"]["content"]
    example = content["application/json"]["example"]
    assert set(content) == {"application/json", "text/csv", XLSX_MEDIA_TYPE}
    assert "403" in operation["responses"]
    assert {row["fund"] for row in example["rows"]} == set(FUNDS)
    for fund in example["fund_totals"]:
        rows = [row for row in example["rows"] if row["fund"] == fund["fund"]]
        assert sum(fen(row["net"]) for row in rows) == fen(fund["net"])
        for row in rows:
            assert fen(row["net"]) == fen(row["settled"]) + fen(row["reversed"])
    assert fen(example["total"]["net"]) == sum(fen(fund["net"]) for fund in example["fund_totals"])
    assert content["text/csv"]["example"].startswith(",".join(REGIONS_HEADER))
    assert set(example) == set(regions_document(MONTH, "Asia/Shanghai", []))


# ---------------------------------------------------------------- the command line

runner = CliRunner()


def _run(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        cli_app, list(args), env={"ONESTOP_DATABASE_URL": database_url, "COLUMNS": "250"}
    )
    return result.exit_code, result.output


def test_onestop_clearing_by_region_matches_the_route_in_every_format(
    client: TestClient, month: RegionMonth, database_url: str, tmp_path: Path
) -> None:
    route = regions_answer(client, month.finance).json()
    code, output = _run(
        database_url, "clearing", "--month", MONTH, "--by-region", "--format", "json"
    )
    assert code == 0, output
    assert json.loads(output) == route
    code, output = _run(
        database_url, "clearing", "--month", MONTH, "--by-region", "--format", "csv"
    )
    assert code == 0, output
    route_csv = regions_answer(client, month.finance, format="csv").text
    assert list(csv.reader(io.StringIO(output))) == list(csv.reader(io.StringIO(route_csv)))
    assert_csv_cells_safe(output)
    target = tmp_path / "regions.xlsx"
    code, output = _run(
        database_url, "clearing", "--month", MONTH, "--by-region", "--format", "xlsx",
        "--output", str(target),
    )  # fmt: skip
    assert code == 0, output
    sheet = load_workbook(target).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == REGIONS_HEADER
    assert f"{rows[-1][-1]:.2f}" == route["total"]["net"]
    assert len(rows) == 1 + len(route["rows"]) + len(route["fund_totals"]) + 1
    code, output = _run(database_url, "clearing", "--month", MONTH, "--by-region")
    assert code == 0, output
    assert "between regions" in output
    assert route["total"]["net"] in output
    for row in route["rows"]:
        assert row["net"] in output
    code, output = _run(
        database_url,
        "clearing",
        "--month",
        MONTH,
        "--by-region",
        "--hospital",
        month.hospitals["ln3"],
    )
    assert code == 2, output
    code, output = _run(
        database_url, "clearing", "--month", MONTH, "--by-region", "--format", "xlsx"
    )
    assert code == 2, output


def test_onestop_clearing_names_the_insured_region_of_each_row(
    client: TestClient, month: RegionMonth, database_url: str
) -> None:
    hospital_id = month.hospitals["ln3"]
    code, output = _run(
        database_url, "clearing", "--month", MONTH, "--hospital", hospital_id, "--format", "json"
    )
    assert code == 0, output
    document = json.loads(output)
    assert {row["insured_region"] for row in document["rows"]} == {JILIN, LIAONING}
    code, output = _run(database_url, "clearing", "--month", MONTH, "--hospital", hospital_id)
    assert code == 0, output
    assert "insured region" in output
    assert document["total_owed"] in output


# ---------------------------------------------------------------- the finance view


@contextmanager
def logged_in(client: TestClient, key: str) -> Iterator[TestClient]:
    """A browser with a cookie jar of its own on the running app, logged in with the key."""
    browser = TestClient(client.app)
    try:
        response = browser.post("/finance/login", data={"key": key}, follow_redirects=False)
        assert response.status_code == 303, response.text
        yield browser
    finally:
        browser.close()


def _sheet_values(content: bytes) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return list(sheet.iter_rows(values_only=True))


def test_the_finance_view_shows_the_regions_table_under_the_clearing_with_its_downloads(
    client: TestClient, month: RegionMonth
) -> None:
    document = regions_answer(client, month.finance).json()
    with logged_in(client, month.finance) as browser:
        page = browser.get("/finance", params={"month": MONTH}).text
        assert page.index('id="clearing"') < page.index('id="clearing-regions"')
        for row in document["rows"]:
            key = f"{row['insured_region']}.{row['treatment_region']}.{row['fund']}"
            assert f'data-region-net="{key}">{grouped(row["net"])}<' in page
        for fund in document["fund_totals"]:
            assert f'data-region-fund-net="{fund["fund"]}">{grouped(fund["net"])}<' in page
        assert f'id="regions-total-net">{grouped(document["total"]["net"])}<' in page
        downloads = {}
        for extension in ("csv", "xlsx"):
            link = f"/finance/clearing/regions.{extension}?month={MONTH}"
            assert f'href="{link}"' in page
            downloads[extension] = browser.get(link)
            assert downloads[extension].status_code == 200, downloads[extension].text
            assert downloads[extension].headers["content-disposition"] == (
                f'attachment; filename="clearing-regions-{MONTH}.{extension}"'
            )
        assert downloads["csv"].text == regions_answer(client, month.finance, format="csv").text
        assert _sheet_values(downloads["xlsx"].content) == _sheet_values(
            regions_answer(client, month.finance, format="xlsx").content
        )
        assert_xlsx_cells_safe(downloads["xlsx"].content)
        # Filtered to one hospital, the page points to the unfiltered one for the table.
        one = {"month": MONTH, "hospital_id": month.hospitals["ln3"]}
        filtered = browser.get("/finance", params=one).text
        assert "data-region-net" not in filtered
        # The hospital's rows, owed by both insured regions: its name and each region once.
        clearing = filtered[filtered.index('id="clearing"') :]
        assert clearing.count('<td class="hospital">辽宁测试医院3 ') == 1
        for region in (JILIN, LIAONING):
            assert clearing.count(f"<td>{region}</td>") == 1
            assert clearing.count(f'data-owed="{one["hospital_id"]}.{region}.') == len(FUNDS)
        assert f'href="/finance?month={MONTH}"' in filtered


def test_a_hospital_user_sees_no_regions_table_and_may_not_download_it(
    client: TestClient, month: RegionMonth
) -> None:
    with logged_in(client, month.keys[month.hospitals["ln3"]]) as browser:
        page = browser.get("/finance", params={"month": MONTH})
        assert page.status_code == 200
        assert 'id="clearing-regions"' not in page.text
        assert month.hospitals["ln2"] not in page.text
        for extension in ("csv", "xlsx"):
            link = f"/finance/clearing/regions.{extension}"
            download = browser.get(link, params={"month": MONTH})
            assert download.status_code == 403
            assert download.headers["content-type"].startswith("text/html")
