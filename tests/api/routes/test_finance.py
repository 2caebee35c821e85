"""Finance over HTTP: totals (3201), detail reconciliation (3202) and clearing (3203).

Every figure is compared with one the test computes itself from the settlement and reversal
answers it received, over the calendar days of the business time zone (Asia/Shanghai, UTC+8):
a settlement counts on the local day of its settlement time, a reversal on the local day of
its reversal time. Settlements are stamped by a clock the tests set, in months no other test
uses (2030-03/04, 2031-06, 2032-07), so that the sums of the shared database are theirs alone.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.core.config import Settings
from api.main import create_app
from tests.support.world import World, make_world

PROBLEM_JSON = "application/problem+json"
ZONE = ZoneInfo("Asia/Shanghai")
FUNDS = ("basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund")
AMOUNTS = ("total", *FUNDS, "fund_total", "patient_pay")
GROUPS = ("none", "destitute", "dibao", "registered_poor")
CLEARING_HEADER = [
    "month", "hospital_id", "hospital_name", "insured_region", "fund", "fund_code",
    "settlements", "reversals", "settled", "reversed", "owed",
]  # fmt: skip
DETAIL_HEADER = [
    "outcome", "settlement_id", "claim_id", "hospital_status", "hospital_total",
    "hospital_fund_total", "hospital_patient_pay", "engine_status", "engine_total",
    "engine_fund_total", "engine_patient_pay", "differences",
]  # fmt: skip
RECORD_COLUMNS = ["settlement_id", "claim_id", "status", "total", "fund_total", "patient_pay"]


# ---------------------------------------------------------------- helpers


class Clock:
    """A clock the test sets: the service stamps settlements and reversals with `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def instant(text: str) -> datetime:
    """An RFC 3339 UTC timestamp ("…Z") as an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), text
    return moment


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def local_day(text: str) -> date:
    return instant(text).astimezone(ZONE).date()


def fen(text: str) -> int:
    """A contract money string ("-12.05") in integer fen, refusing anything but two decimals."""
    whole, _, cents = text.lstrip("-").partition(".")
    assert whole.isdigit(), text
    assert len(cents) == 2, text
    assert cents.isdigit(), text
    value = int(whole) * 100 + int(cents)
    return -value if text.startswith("-") else value


def money(value: int) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


def days(first: date, last: date) -> Iterator[date]:
    current = first
    while current <= last:
        yield current
        current += timedelta(days=1)


def month_days(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    following = date(year + (number == 12), number % 12 + 1, 1)
    return date(year, number, 1), following - timedelta(days=1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def clocked_client(settings: Settings, clock: Clock, **changes: Any) -> TestClient:
    return TestClient(
        create_app(
            Settings(database_url=settings.database_url, key_cache_seconds=0, **changes),
            clock=clock,
        )
    )


@dataclass
class Booked:
    """One settlement as the service answered it, and its reversal's time once reversed."""

    settlement_id: str
    claim_id: str
    hospital_id: str
    settled_at: str
    amounts: dict[str, int]
    fund_codes: dict[str, str]
    reversed_at: str | None = None

    @property
    def settled_day(self) -> date:
        return local_day(self.settled_at)

    @property
    def reversed_day(self) -> date | None:
        return None if self.reversed_at is None else local_day(self.reversed_at)

    @property
    def status(self) -> str:
        return "settled" if self.reversed_at is None else "reversed"

    def figures(self) -> dict[str, str]:
        return {
            "status": self.status,
            **{name: money(self.amounts[name]) for name in ("total", "fund_total", "patient_pay")},
        }

    def record(self) -> dict[str, str]:
        """The hospital's own record of this settlement, agreeing with the engine."""
        return {"settlement_id": self.settlement_id, "claim_id": self.claim_id, **self.figures()}


def varied_claim(world: World, rng: random.Random, level: int) -> dict[str, Any]:
    """A worked-example claim (e1, e2 or e4) for a person of any group, quantities varied,
    discharged in 2018 or 2019 (the health poverty fund is in the 2019 tariff only)."""
    claim = world.claim(rng.choice(("e1", "e2", "e4")), level=level, person=rng.choice(GROUPS))
    if rng.random() < 0.5:
        for name in ("admission_date", "discharge_date"):
            claim[name] = "2019" + claim[name][4:]
    for item in claim["items"]:
        if rng.random() < 0.5:
            quantity = Decimal(item["quantity"]) + rng.randint(1, 4)
            item["quantity"] = str(quantity)
            item["amount"] = str((quantity * Decimal(item["unit_price"])).quantize(Decimal("0.01")))
    return claim


def health_fund_claim(world: World, level: int) -> dict[str, Any]:
    """E4 for the registered-poor person at a level-2 hospital in 2019: the health poverty
    fund pays (the 2019 tariff's fund covers that group at levels 1 and 2)."""
    assert level == 2
    claim = world.claim("e4", level=level, person="registered_poor")
    for name in ("admission_date", "discharge_date"):
        claim[name] = "2019" + claim[name][4:]
    return claim


def settle_at(world: World, clock: Clock, moment: str, claim: dict[str, Any], level: int) -> Booked:
    clock.now = instant(moment)
    response = world.client.post(
        "/v1/settlements", json=claim, headers=world.hospital_headers(level)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "settled"
    assert body["settled_at"] == stamp(clock.now)
    amounts = {name: fen(body["totals"][name]) for name in AMOUNTS}
    assert amounts["fund_total"] == sum(amounts[name] for name in FUNDS)
    assert amounts["total"] == amounts["fund_total"] + amounts["patient_pay"]
    paid = {step["fund"]: fen(step["paid"]) for step in body["funds"]}
    assert paid == {name: amounts[name] for name in FUNDS}
    return Booked(
        body["settlement_id"],
        body["claim_id"],
        body["hospital_id"],
        body["settled_at"],
        amounts,
        {step["fund"]: step["fund_code"] for step in body["funds"]},
    )


def reverse_at(world: World, clock: Clock, moment: str, booked: Booked, level: int) -> None:
    assert booked.reversed_at is None
    assert instant(moment) > instant(booked.settled_at)
    clock.now = instant(moment)
    response = world.client.post(
        f"/v1/settlements/{booked.settlement_id}/reversal",
        json={"reason": "医院冲正：测试"},
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reversed"
    assert body["reversed_at"] == stamp(clock.now)
    booked.reversed_at = body["reversed_at"]


def expected_totals(
    booked: list[Booked], first: date, last: date, hospital_id: str | None
) -> dict[str, dict[str, Any]]:
    """Settled (by local settlement day), reversed (by local reversal day) and net, as answered."""
    mine = [b for b in booked if hospital_id is None or b.hospital_id == hospital_id]
    settled = [b for b in mine if first <= b.settled_day <= last]
    reversed_ = [b for b in mine if b.reversed_day is not None and first <= b.reversed_day <= last]

    def sums(rows: list[Booked]) -> dict[str, int]:
        return {"count": len(rows), **{n: sum(b.amounts[n] for b in rows) for n in AMOUNTS}}

    parts = {"settled": sums(settled), "reversed": sums(reversed_)}
    parts["net"] = {n: parts["settled"][n] - parts["reversed"][n] for n in parts["settled"]}
    return {
        part: {n: v if n == "count" else money(v) for n, v in figures.items()}
        for part, figures in parts.items()
    }


def figures_of(body: dict[str, Any]) -> dict[str, Any]:
    return {part: body[part] for part in ("settled", "reversed", "net")}


def totals(
    client: TestClient, key: str, first: date, last: date, hospital_id: str | None = None
) -> dict[str, Any]:
    params = {"date_from": first.isoformat(), "date_to": last.isoformat()}
    if hospital_id is not None:
        params["hospital_id"] = hospital_id
    response = client.get("/v1/reconciliation/totals", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["time_zone"] == "Asia/Shanghai"
    assert body["date_from"] == first.isoformat()
    assert body["date_to"] == last.isoformat()
    return body


def clearing(client: TestClient, key: str, month: str, **params: str) -> httpx.Response:
    response: httpx.Response = client.get(
        "/v1/clearing", params={"month": month, **params}, headers=bearer(key)
    )
    return response


def expected_clearing_rows(
    booked: list[Booked], month: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    """Per hospital (by id) and fund (cascade order): postings of the month and what is owed."""
    first, last = month_days(month)
    rows = []
    for hospital_id in sorted({b.hospital_id for b in booked}):
        mine = [b for b in booked if b.hospital_id == hospital_id]
        settled = [b for b in mine if first <= b.settled_day <= last]
        reversed_ = [b for b in mine if b.reversed_day and first <= b.reversed_day <= last]
        if not settled and not reversed_:
            continue
        for fund in FUNDS:
            settled_fen = sum(b.amounts[fund] for b in settled)
            reversed_fen = -sum(b.amounts[fund] for b in reversed_)
            rows.append(
                {
                    "hospital_id": hospital_id,
                    "hospital_name": names[hospital_id],
                    "insured_region": "220000",  # every person of a World is insured there
                    "fund": fund,
                    "fund_code": (settled + reversed_)[0].fund_codes[fund],
                    "settlements": len(settled),
                    "reversals": len(reversed_),
                    "settled": money(settled_fen),
                    "reversed": money(reversed_fen),
                    "owed": money(settled_fen + reversed_fen),
                }
            )
    return rows


# ---------------------------------------------------------------- a generated month (2030-03)

MONTH = "2030-03"
NEXT_MONTH = "2030-04"
EDGE_SETTLEMENTS = [  # (UTC instant, hospital index): instants around local midnight
    ("2030-02-28T15:59:59.999999Z", 1),  # 2030-02-28 23:59:59.999999 local: February
    ("2030-02-28T16:00:00.000000Z", 2),  # 2030-03-01 00:00 local: the month's first instant
    ("2030-03-10T15:45:00.000000Z", 3),  # 2030-03-10 23:45 local
    ("2030-03-15T16:30:00.000000Z", 4),  # 2030-03-16 00:30 local
    ("2030-03-31T15:59:59.999999Z", 5),  # 2030-03-31 23:59:59.999999 local: the last instant
    ("2030-03-31T16:00:00.000000Z", 1),  # 2030-04-01 00:00 local: April
]
RANDOM_SETTLEMENTS = 34
HEALTH_FUND_SETTLEMENT = 3
"""The edge settlement (at a level-2 hospital) made with `health_fund_claim`: few of the
varied claims reach the health poverty fund."""
MARCH_START = instant("2030-02-28T16:00:00Z")
MARCH_END = instant("2030-03-31T16:00:00Z")


@dataclass
class Month:
    """Forty settlements over two worlds' six hospitals, eight of them reversed."""

    booked: list[Booked]
    names: dict[str, str]
    finance: str
    hospital_keys: dict[str, str]
    reversed_in_april: Booked  # hospital index 0's only April posting


def _plan_month(rng: random.Random) -> list[tuple[str, int]]:
    span = int((MARCH_END - MARCH_START).total_seconds())
    moments = [
        (stamp(MARCH_START + timedelta(seconds=rng.randrange(span))), index % 6)
        for index in range(RANDOM_SETTLEMENTS)
    ]
    return EDGE_SETTLEMENTS + moments


def _reverse_month(
    booked: list[Booked], levels: list[tuple[World, int]], clock: Clock, rng: random.Random
) -> Booked:
    """Eight reversals; hospital 0's one reversal is on 2030-04-01 local, its only April posting."""
    hospitals = [world.hospitals[level] for world, level in levels]

    def reverse(moment: str, choice: Booked) -> None:
        world, level = levels[hospitals.index(choice.hospital_id)]
        reverse_at(world, clock, moment, choice, level)

    def pick(before: str, *, at: int | None = None, exclude: int | None = None) -> Booked:
        candidates = [
            b
            for b in booked[len(EDGE_SETTLEMENTS) :]
            if b.reversed_at is None
            and instant(b.settled_at) < instant(before)
            and (at is None or b.hospital_id == hospitals[at])
            and (exclude is None or b.hospital_id != hospitals[exclude])
        ]
        return rng.choice(candidates)

    reverse("2030-03-02T01:00:00.000000Z", booked[0])  # a February settlement, reversed in March
    reverse("2030-04-02T02:00:00.000000Z", booked[5])  # an April settlement, reversed in April
    in_april = pick("2030-03-25T00:00:00Z", at=0)
    reverse("2030-03-31T16:30:00.000000Z", in_april)  # 2030-04-01 00:30 local
    reverse("2030-04-05T03:00:00.000000Z", pick("2030-03-31T00:00:00Z", at=2))
    reverse("2030-03-31T15:30:00.000000Z", pick("2030-03-31T00:00:00Z", exclude=0))
    reverse("2030-03-20T16:10:00.000000Z", pick("2030-03-20T00:00:00Z", exclude=0))
    reverse("2030-03-25T08:00:00.000000Z", pick("2030-03-25T00:00:00Z", exclude=0))
    reverse("2030-03-12T16:00:00.000000Z", pick("2030-03-12T00:00:00Z", exclude=0))
    return in_april


@pytest.fixture(scope="module")
def month(settings: Settings) -> Month:
    rng = random.Random(20300301)
    clock = Clock(MARCH_START)
    with clocked_client(settings, clock) as client:
        worlds = [make_world(client, settings), make_world(client, settings)]
        levels = [(world, level) for world in worlds for level in (1, 2, 3)]
        booked = []
        for number, (moment, index) in enumerate(_plan_month(rng)):
            world, level = levels[index]
            claim = varied_claim(world, rng, level)
            if number == HEALTH_FUND_SETTLEMENT:
                claim = health_fund_claim(world, level)
            booked.append(settle_at(world, clock, moment, claim, level))
        assert booked[HEALTH_FUND_SETTLEMENT].amounts["health_fund"] > 0
        reversed_in_april = _reverse_month(booked, levels, clock, rng)
    assert len(booked) == 40
    assert sum(b.reversed_at is not None for b in booked) == 8
    return Month(
        booked,
        {world.hospitals[level]: f"测试医院{level}" for world, level in levels},
        worlds[0].keys.finance,
        {
            world.hospitals[level]: world.keys.hospital[world.hospitals[level]]
            for world, level in levels
        },
        reversed_in_april,
    )


def test_the_generated_month_covers_every_hospital_fund_group_and_both_sides_of_midnight(
    month: Month,
) -> None:
    """The month is varied enough for its sums to mean something."""
    assert {b.hospital_id for b in month.booked} == set(month.names)
    for fund in FUNDS:
        assert any(b.amounts[fund] > 0 for b in month.booked), fund
    assert len({b.amounts["total"] for b in month.booked}) > 10
    assert {b.settled_day for b in month.booked} >= {
        date(2030, 2, 28), date(2030, 3, 1), date(2030, 3, 16), date(2030, 3, 31), date(2030, 4, 1),
    }  # fmt: skip
    assert month.reversed_in_april.reversed_day == date(2030, 4, 1)


def test_month_totals_per_hospital_and_for_all_equal_the_sums_of_the_answers_by_local_day(
    client: TestClient, month: Month
) -> None:
    first, last = month_days(MONTH)
    for hospital_id in sorted(month.names):
        body = totals(client, month.finance, first, last, hospital_id)
        assert body["hospital_id"] == hospital_id
        assert figures_of(body) == expected_totals(month.booked, first, last, hospital_id)
        own = totals(client, month.hospital_keys[hospital_id], first, last)
        assert own["hospital_id"] == hospital_id
        assert figures_of(own) == figures_of(body)
    body = totals(client, month.finance, first, last)
    assert body["hospital_id"] is None
    expected = expected_totals(month.booked, first, last, None)
    assert figures_of(body) == expected
    # The February settlement reversed in March is a March reversal, not a March settlement.
    assert expected["settled"]["count"] == 38
    assert expected["reversed"]["count"] == 5


def test_clearing_owes_each_hospital_per_fund_the_net_of_its_totals_in_json_csv_and_xlsx(
    client: TestClient, month: Month
) -> None:
    first, last = month_days(MONTH)
    response = clearing(client, month.finance, MONTH)
    assert response.status_code == 200, response.text
    document = response.json()
    expected_rows = expected_clearing_rows(month.booked, MONTH, month.names)
    assert document["rows"] == expected_rows
    for hospital_id in month.names:
        net = totals(client, month.finance, first, last, hospital_id)["net"]
        rows = {row["fund"]: row for row in document["rows"] if row["hospital_id"] == hospital_id}
        assert {fund: rows[fund]["owed"] for fund in FUNDS} == {fund: net[fund] for fund in FUNDS}
    net_all = totals(client, month.finance, first, last)["net"]
    assert document["total_owed"] == net_all["fund_total"]
    assert document["fund_totals"] == [
        {
            "fund": fund,
            "fund_code": month.booked[0].fund_codes[fund],
            "owed": net_all[fund],
        }
        for fund in FUNDS
    ]
    table = [
        [MONTH, *(str(row[name]) for name in CLEARING_HEADER[1:])] for row in expected_rows
    ] + [[MONTH, "TOTAL", "", "", "", "", "", "", "", "", net_all["fund_total"]]]

    response = clearing(client, month.finance, MONTH, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.text))) == [CLEARING_HEADER, *table]

    response = clearing(client, month.finance, MONTH, format="xlsx")
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == CLEARING_HEADER
    money_columns = {CLEARING_HEADER.index(name) for name in ("settled", "reversed", "owed")}
    read = [
        [
            _xlsx_money(value) if column in money_columns and value not in (None, "") else value
            for column, value in enumerate(row)
        ]
        for row in cells[1:]
    ]
    count_columns = {CLEARING_HEADER.index(name) for name in ("settlements", "reversals")}
    assert read == [
        [
            int(value) if column in count_columns and value else (value or None)
            for column, value in enumerate(row)
        ]
        for row in table
    ]


def _xlsx_money(value: Any) -> str:
    """A spreadsheet number, which must be an amount in fen exactly, as a money string."""
    assert isinstance(value, int | float), value
    scaled = Decimal(str(value)) * 100
    assert scaled == scaled.to_integral_value(), value
    return money(int(scaled))


def test_the_totals_of_single_days_add_up_to_the_totals_of_the_month(
    client: TestClient, month: Month
) -> None:
    first, last = month_days(MONTH)
    summed: dict[str, Counter[str]] = {part: Counter() for part in ("settled", "reversed", "net")}
    for day in days(first, last):
        body = figures_of(totals(client, month.finance, day, day))
        assert body == expected_totals(month.booked, day, day, None), day
        for part, figures in body.items():
            for name, value in figures.items():
                summed[part][name] += value if name == "count" else fen(value)
    month_body = figures_of(totals(client, month.finance, first, last))
    assert {
        part: {name: value if name == "count" else money(value) for name, value in sums.items()}
        for part, sums in summed.items()
    } == month_body


def test_a_reversal_in_the_next_month_reduces_the_next_months_clearing_not_this_ones(
    client: TestClient, month: Month
) -> None:
    late = month.reversed_in_april
    assert late.settled_day.month == 3
    march = clearing(client, month.finance, MONTH, hospital_id=late.hospital_id).json()
    april = clearing(client, month.finance, NEXT_MONTH, hospital_id=late.hospital_id).json()
    march_settled = [
        b for b in month.booked if b.hospital_id == late.hospital_id and b.settled_day.month == 3
    ]
    assert late in march_settled
    for row in march["rows"]:
        assert row["reversals"] == 0
        assert row["reversed"] == "0.00"
        assert row["owed"] == money(sum(b.amounts[row["fund"]] for b in march_settled))
    assert [(row["fund"], row["settlements"], row["reversals"]) for row in april["rows"]] == [
        (fund, 0, 1) for fund in FUNDS
    ]
    for row in april["rows"]:
        assert row["settled"] == "0.00"
        assert row["reversed"] == money(-late.amounts[row["fund"]])
        assert row["owed"] == money(-late.amounts[row["fund"]])
    assert april["total_owed"] == money(-late.amounts["fund_total"])
    whole_april = clearing(client, month.finance, NEXT_MONTH).json()
    assert whole_april["rows"] == expected_clearing_rows(month.booked, NEXT_MONTH, month.names)
    first, last = month_days(NEXT_MONTH)
    assert (
        whole_april["total_owed"] == totals(client, month.finance, first, last)["net"]["fund_total"]
    )


# ---------------------------------------------------------------- detail reconciliation (3202)

DETAIL_FROM, DETAIL_TO = date(2031, 6, 10), date(2031, 6, 12)
DETAIL_PARAMS = {"date_from": DETAIL_FROM.isoformat(), "date_to": DETAIL_TO.isoformat()}
DETAIL_MOMENTS = [
    "2031-06-09T15:59:59.999999Z",  # 2031-06-09 local: before the period
    "2031-06-09T16:00:00.000000Z",  # the period's first instant
    "2031-06-10T03:00:00.000000Z",
    "2031-06-10T09:30:00.000000Z",
    "2031-06-11T02:00:00.000000Z",
    "2031-06-11T07:45:00.000000Z",
    "2031-06-11T16:20:00.000000Z",  # 2031-06-12 00:20 local
    "2031-06-12T15:59:59.999999Z",  # the period's last instant
    "2031-06-12T16:00:00.000000Z",  # 2031-06-13 local: after the period
]


@dataclass
class Books:
    """One hospital's settlements around a three-day period, and one of another hospital."""

    world: World
    hospital_id: str
    in_period: list[Booked]
    other_hospital: Booked

    def params(self, **more: str) -> dict[str, str]:
        return {**DETAIL_PARAMS, **more}


@pytest.fixture(scope="module")
def books(settings: Settings) -> Books:
    rng = random.Random(20310610)
    clock = Clock(instant(DETAIL_MOMENTS[0]))
    with clocked_client(settings, clock) as client:
        world = make_world(client, settings)
        booked = [
            settle_at(world, clock, moment, varied_claim(world, rng, 3), 3)
            for moment in DETAIL_MOMENTS
        ]
        reverse_at(world, clock, "2031-06-11T05:00:00.000000Z", booked[3], 3)
        reverse_at(world, clock, "2031-06-11T05:00:00.000000Z", booked[0], 3)
        other = settle_at(
            world, clock, "2031-06-11T04:00:00.000000Z", varied_claim(world, rng, 2), 2
        )
    in_period = [b for b in booked if DETAIL_FROM <= b.settled_day <= DETAIL_TO]
    assert len(in_period) == 7
    return Books(world, world.hospitals[3], in_period, other)


@dataclass
class Planted:
    records: list[dict[str, str]]
    summary: dict[str, Any]
    items: list[dict[str, Any]]


def plant_differences(books: Books) -> Planted:
    """The hospital's records with one difference of each kind planted, and the answer due."""
    changed, wrong_status, left_out, *agreeing = books.in_period
    assert wrong_status.status == "settled"
    engine = {b.settlement_id: b for b in books.in_period}
    engine[books.other_hospital.settlement_id] = books.other_hospital
    records = [b.record() for b in agreeing]
    records.append({**changed.record(), "total": money(changed.amounts["total"] + 1)})
    records.append({**wrong_status.record(), "status": "reversed"})
    records.append({**agreeing[0].record(), "settlement_id": "ST20310611NOSUCHSETTLEMENT0"})
    records.append(books.other_hospital.record())  # not this hospital's: missing in its engine
    random.Random(3202).shuffle(records)
    items: list[dict[str, Any]] = []
    for record in records:
        booked = engine.get(record["settlement_id"])
        if booked is None or booked is books.other_hospital:
            outcome, engine_side, differences = "missing_in_engine", None, []
        else:
            engine_side = booked.figures()
            differences = [
                name for name in engine_side if engine_side[name] != record.get(name, "")
            ]
            outcome = {(): "matched", ("status",): "status_mismatch"}.get(
                tuple(differences), "amount_mismatch"
            )
        items.append(
            {
                "outcome": outcome,
                "settlement_id": record["settlement_id"],
                "claim_id": record["claim_id"],
                "hospital": {name: record[name] for name in RECORD_COLUMNS[2:]},
                "engine": engine_side,
                "differences": differences,
            }
        )
    items.append(
        {
            "outcome": "missing_at_hospital",
            "settlement_id": left_out.settlement_id,
            "claim_id": left_out.claim_id,
            "hospital": None,
            "engine": left_out.figures(),
            "differences": [],
        }
    )
    counts = Counter(str(item["outcome"]) for item in items)
    summary: dict[str, Any] = {
        "records": len(records),
        "matched": len(agreeing),
        "amount_mismatch": 1,
        "status_mismatch": 1,
        "missing_in_engine": 2,
        "missing_at_hospital": 1,
        "differences": 5,
        "hospital_records_total": money(sum(fen(record["total"]) for record in records)),
        "engine_only_total": money(left_out.amounts["total"]),
    }
    assert {name: counts[name] for name in counts} == {name: summary[name] for name in counts}, (
        "the planted file is what the test means it to be"
    )
    return Planted(records, summary, items)


def records_csv(records: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RECORD_COLUMNS)
    for record in records:
        writer.writerow([record[name] for name in RECORD_COLUMNS if name in record])
    return buffer.getvalue()


def detail(
    client: TestClient, key: str, params: dict[str, str], records: list[dict[str, str]], body: str
) -> httpx.Response:
    response: httpx.Response
    if body == "json":
        response = client.post(
            "/v1/reconciliation/detail",
            params=params,
            json={"records": records},
            headers=bearer(key),
        )
    else:
        response = client.post(
            "/v1/reconciliation/detail",
            params=params,
            content=records_csv(records).encode(),
            headers={**bearer(key), "Content-Type": "text/csv"},
        )
    return response


@pytest.mark.parametrize("body", ["json", "csv"])
def test_detail_reconciliation_finds_each_kind_of_difference_planted_in_a_hospital_file(
    client: TestClient, books: Books, body: str
) -> None:
    planted = plant_differences(books)
    hospital_key = books.world.keys.hospital[books.hospital_id]
    finance = detail(
        client, books.world.keys.finance, books.params(hospital_id=books.hospital_id),
        planted.records, body,
    )  # fmt: skip
    own = detail(client, hospital_key, books.params(), planted.records, body)
    for response in (finance, own):
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["hospital_id"] == books.hospital_id
        assert answer["date_from"] == DETAIL_PARAMS["date_from"]
        assert answer["date_to"] == DETAIL_PARAMS["date_to"]
        assert answer["summary"] == planted.summary
        assert answer["items"] == planted.items


@pytest.mark.parametrize("body", ["json", "csv"])
def test_detail_reconciliation_answers_in_csv_with_the_summary_in_a_header(
    client: TestClient, books: Books, body: str
) -> None:
    planted = plant_differences(books)
    response = detail(
        client, books.world.keys.finance,
        books.params(hospital_id=books.hospital_id, format="csv"), planted.records, body,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert json.loads(response.headers["x-reconciliation-summary"]) == planted.summary
    due = [
        [
            item["outcome"], item["settlement_id"], item["claim_id"],
            *((item["hospital"] or {}).get(name, "") for name in RECORD_COLUMNS[2:]),
            *((item["engine"] or {}).get(name, "") for name in RECORD_COLUMNS[2:]),
            " ".join(item["differences"]),
        ]
        for item in planted.items
    ]  # fmt: skip
    assert list(csv.reader(io.StringIO(response.text))) == [DETAIL_HEADER, *due]


@pytest.mark.parametrize("body", ["json", "csv"])
def test_a_file_with_bad_records_is_refused_listing_every_problem_with_its_record_index(
    client: TestClient, books: Books, body: str
) -> None:
    good = [b.record() for b in books.in_period[:3]]
    bad_amount = {**books.in_period[3].record(), "total": "12.345"}
    no_claim = {k: v for k, v in books.in_period[4].record().items() if k != "claim_id"}
    duplicate = {**books.in_period[5].record(), "settlement_id": good[0]["settlement_id"]}
    unknown_status = {**books.in_period[6].record(), "status": "cancelled"}
    records = [*good, bad_amount, no_claim, duplicate, unknown_status]
    response = detail(
        client, books.world.keys.finance, books.params(hospital_id=books.hospital_id),
        records, body,
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    errors = response.json()["errors"]
    found = {(error["loc"][1], error["code"]) for error in errors}
    # A CSV row without its claim_id is a row one field short.
    no_claim_code = "missing" if body == "json" else "invalid_row"
    assert (3, "invalid_amount") in found, errors
    assert (4, no_claim_code) in found, errors
    assert (6, "invalid_status") in found, errors
    assert found & {(0, "duplicate"), (5, "duplicate")}, f"the duplicate is not listed: {errors}"
    assert all(error["loc"][0] == "records" for error in errors)
    assert len(errors) == 4, errors


@pytest.mark.parametrize("body", ["json", "csv"])
def test_a_file_whose_only_fault_is_a_duplicate_settlement_id_is_refused(
    client: TestClient, books: Books, body: str
) -> None:
    records = [b.record() for b in books.in_period]
    records.append({**records[1], "claim_id": "ZYDUPLICATE"})
    response = detail(
        client, books.world.keys.finance, books.params(hospital_id=books.hospital_id),
        records, body,
    )  # fmt: skip
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["code"] == "duplicate"
    assert errors[0]["loc"][0] == "records"
    assert errors[0]["loc"][1] in {1, len(records) - 1}, errors
    assert errors[0]["loc"][2:] == ["settlement_id"], errors


def test_a_hospital_key_reconciles_only_its_own_hospital_and_finance_must_name_one(
    client: TestClient, books: Books
) -> None:
    records = [b.record() for b in books.in_period]
    hospital_key = books.world.keys.hospital[books.hospital_id]
    other = books.other_hospital.hospital_id
    response = detail(client, hospital_key, books.params(hospital_id=other), records, "json")
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    response = detail(client, books.world.keys.finance, books.params(), records, "json")
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [["query", "hospital_id"]]
    response = detail(
        client, hospital_key, books.params(hospital_id=books.hospital_id), records, "json"
    )
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["matched"] == len(records)


# ---------------------------------------------------------------- 100,000 records, streamed

LARGE_RECORDS = 100_000
LARGE_PEAK_BYTES_MAX = 32 * 1024 * 1024


class ChunkedBodies(httpx.BaseTransport):
    """Hands the app a streamed request body chunk by chunk, as a server does.

    Starlette's TestClient reads a request body whole (`request.read()` joins a generator
    body) unless the request's content already is a generator, which it then passes on one
    ASGI message per chunk; so the body's chunks are set as that generator here.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.ByteStream):
            stream = request.stream
            assert isinstance(stream, httpx.SyncByteStream)
            request._content = (bytes(chunk) for chunk in stream)  # type: ignore[assignment]
        return self.inner.handle_request(request)


def large_csv(real: list[dict[str, str]], count: int) -> Iterator[bytes]:
    """`count` records in CSV, made as they are read: `real` ones, then unknown settlements."""
    lines = [",".join(RECORD_COLUMNS)] + [",".join(r[n] for n in RECORD_COLUMNS) for r in real]
    for index in range(count - len(real)):
        cents = 10_000 + index % 90_000
        lines.append(
            f"SX{index:024d},ZYX{index:09d},settled,{money(cents * 3)},{money(cents * 2)},{money(cents)}"
        )
        if len(lines) >= 1_000:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()


def test_a_file_of_100_000_records_is_reconciled_as_a_stream_in_bounded_memory(
    settings: Settings, books: Books
) -> None:
    """The body (~7.5 MB) is generated as it is sent and the answer (~9 MB of CSV) counted line
    by line as it arrives, so what tracemalloc sees at its peak is what the service holds (plus
    a chunk each way). The bound, 32 MiB: the same body handed to the service as one 7.5 MB
    chunk (as TestClient does unless told otherwise) already peaks at ~28 MiB here, and parsing
    it whole into records would take 5–10 times the body (~40–80 MB of dicts and strings),
    while a streamed read holds one batch of 5,000 records (~10 MiB measured). The CSV answer
    is used because the JSON answer is sent one item per chunk, which under tracemalloc takes
    minutes for 100,000 items; both answers are built by the same streamed query.
    """
    real = [b.record() for b in books.in_period]
    backend = settings.database_url.split(":", 1)[0]
    with TestClient(create_app(settings)) as client:
        client._transport = ChunkedBodies(client._transport)
        outcomes: Counter[str] = Counter()
        tracemalloc.start()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        with client.stream(
            "POST",
            "/v1/reconciliation/detail",
            params=books.params(hospital_id=books.hospital_id, format="csv"),
            content=large_csv(real, LARGE_RECORDS),
            headers={**bearer(books.world.keys.finance), "Content-Type": "text/csv"},
        ) as response:
            assert response.status_code == 200, response.read()
            summary = json.loads(response.headers["x-reconciliation-summary"])
            lines = response.iter_lines()
            assert next(lines).split(",") == DETAIL_HEADER
            for line in lines:
                outcomes[line.partition(",")[0]] += 1
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(
        f"\n[{backend}] {LARGE_RECORDS} records reconciled in {elapsed:.1f} s "
        f"(under tracemalloc), traced peak {peak / 2**20:.1f} MiB"
    )
    assert outcomes == {"matched": len(real), "missing_in_engine": LARGE_RECORDS - len(real)}
    assert summary["records"] == LARGE_RECORDS
    assert summary["matched"] == len(real)
    assert summary["missing_in_engine"] == LARGE_RECORDS - len(real)
    assert summary["missing_at_hospital"] == 0
    assert summary["differences"] == LARGE_RECORDS - len(real)
    assert peak < LARGE_PEAK_BYTES_MAX, f"peak {peak / 2**20:.1f} MiB"


def test_a_file_over_the_record_limit_is_refused_and_one_at_the_limit_is_taken(
    settings: Settings, books: Books
) -> None:
    clock = Clock(datetime.now(UTC))
    limited = clocked_client(settings, clock, reconciliation_records_max=100)
    params = books.params(hospital_id=books.hospital_id)
    headers = {**bearer(books.world.keys.finance), "Content-Type": "text/csv"}
    with limited as client:
        at_limit = client.post(
            "/v1/reconciliation/detail",
            params=params,
            content=b"".join(large_csv([], 100)),
            headers=headers,
        )
        over = client.post(
            "/v1/reconciliation/detail",
            params=params,
            content=b"".join(large_csv([], 101)),
            headers=headers,
        )
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["summary"]["missing_in_engine"] == 100
    assert over.status_code == 422, over.text
    assert over.headers["content-type"].startswith(PROBLEM_JSON)
    assert [error["code"] for error in over.json()["errors"]] == ["too_many_records"]


# ---------------------------------------------------------------- access (2032-07)


@dataclass
class Access:
    world: World
    own: Booked
    other: Booked


@pytest.fixture(scope="module")
def access(settings: Settings) -> Access:
    rng = random.Random(20320701)
    clock = Clock(instant("2032-07-01T00:00:00Z"))
    with clocked_client(settings, clock) as client:
        world = make_world(client, settings)
        own = settle_at(world, clock, "2032-07-05T02:00:00Z", varied_claim(world, rng, 1), 1)
        other = settle_at(world, clock, "2032-07-06T02:00:00Z", varied_claim(world, rng, 2), 2)
    return Access(world, own, other)


def test_a_hospital_key_sees_only_its_own_hospital_in_totals_and_clearing(
    client: TestClient, access: Access
) -> None:
    first, last = month_days("2032-07")
    own_key = access.world.keys.hospital[access.own.hospital_id]
    body = totals(client, own_key, first, last)
    assert body["hospital_id"] == access.own.hospital_id
    assert figures_of(body) == expected_totals([access.own], first, last, None)
    assert figures_of(totals(client, own_key, first, last, access.own.hospital_id)) == (
        figures_of(body)
    )
    response = client.get(
        "/v1/reconciliation/totals",
        params={"date_from": first.isoformat(), "date_to": last.isoformat(),
                "hospital_id": access.other.hospital_id},
        headers=bearer(own_key),
    )  # fmt: skip
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    for fmt in ("json", "csv", "xlsx"):
        response = clearing(
            client, own_key, "2032-07", hospital_id=access.other.hospital_id, format=fmt
        )
        assert response.status_code == 403, (fmt, response.text)
    document = clearing(client, own_key, "2032-07").json()
    names = {access.own.hospital_id: "测试医院1"}
    assert document["rows"] == expected_clearing_rows([access.own], "2032-07", names)
    assert document["total_owed"] == money(access.own.amounts["fund_total"])
    lines = list(csv.reader(io.StringIO(clearing(client, own_key, "2032-07", format="csv").text)))
    assert {line[1] for line in lines[1:-1]} == {access.own.hospital_id}


def test_finance_sees_every_hospital_in_totals_and_clearing(
    client: TestClient, access: Access
) -> None:
    first, last = month_days("2032-07")
    both = [access.own, access.other]
    finance = access.world.keys.finance
    body = totals(client, finance, first, last)
    assert body["hospital_id"] is None
    assert figures_of(body) == expected_totals(both, first, last, None)
    for booked in both:
        assert figures_of(totals(client, finance, first, last, booked.hospital_id)) == (
            expected_totals([booked], first, last, None)
        )
    names = {access.own.hospital_id: "测试医院1", access.other.hospital_id: "测试医院2"}
    document = clearing(client, finance, "2032-07").json()
    assert document["rows"] == expected_clearing_rows(both, "2032-07", names)
    assert document["total_owed"] == money(sum(b.amounts["fund_total"] for b in both))
