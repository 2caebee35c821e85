"""Concurrent clients against real server processes: no duplicate settlements, no lost updates.

Each test starts `onestop serve` on the test database (two worker processes on PostgreSQL, one
on SQLite, whose writers are serialized anyway) and fires many requests at once from threads,
released together by a barrier. The database is then read directly to check what was written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.core.config import Settings
from api.core.contract import ClaimIn
from api.db.engine import make_engine
from settlement.engine import settle as engine_settle
from settlement.model import Accumulators, Group, Person, Status
from settlement.money import format_fen, money, money_to_fen
from settlement.result import Settlement
from tariffs import load_default
from tests.support.server import Server, serving
from tests.support.world import World

REQUEST_TIMEOUT_SECONDS = 30.0
BASIC_CAP = "150000.00"
DIBAO_ASSISTANCE_CAP = "30000.00"
BASIC_CAP_FEN = 15_000_000
DIBAO_ASSISTANCE_CAP_FEN = 3_000_000
CENT = Decimal("0.01")
_MONEY_FIELDS = (
    "basic_paid", "ci_base", "ci_paid", "assistance_paid", "charity_paid", "health_paid",
    "patient_paid",
)  # fmt: skip
QUANTITY_STEPS = ("0", "1", "0.5", "2", "1.5")
"""Added to the E2 lines' quantities so that every bill differs; halves exercise rounding."""


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    """`onestop serve` on the test database with 2 worker processes on either database.

    On SQLite the two processes contend for the write lock (BEGIN IMMEDIATE + busy timeout),
    which is what these tests prove safe; on PostgreSQL they contend for the row lock.
    """
    with serving(database_url, workers=2) as running:
        yield running


def _concurrently(
    server: Server, calls: list[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    """Run every call on its own thread and client, all released at the same moment."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            http.get("/healthz")  # open the connection before the race starts
            barrier.wait(timeout=REQUEST_TIMEOUT_SECONDS)
            return call(http)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        # .result() re-raises a timeout or connection error: no request may fail that way.
        return [future.result(timeout=REQUEST_TIMEOUT_SECONDS * 2) for future in futures]


def _post_claim(
    claim: dict[str, Any], headers: dict[str, str]
) -> Callable[[httpx.Client], httpx.Response]:
    return lambda http: http.post("/v1/settlements", json=claim, headers=headers)


def _reverse(
    settlement_id: str, headers: dict[str, str]
) -> Callable[[httpx.Client], httpx.Response]:
    return lambda http: http.post(
        f"/v1/settlements/{settlement_id}/reversal",
        json={"reason": "冲正：并发测试"},
        headers=headers,
    )


def _varied_claim(world: World, index: int) -> dict[str, Any]:
    """The E2 claim, each line's quantity raised by a step depending on the claim and line."""
    claim = world.claim("e2", level=3, person="dibao")
    for position, item in enumerate(claim["items"]):
        quantity = Decimal(item["quantity"]) + Decimal(
            QUANTITY_STEPS[(index + position) % len(QUANTITY_STEPS)]
        )
        amount = (quantity * Decimal(item["unit_price"])).quantize(CENT, rounding=ROUND_HALF_UP)
        item["quantity"] = str(quantity)
        item["amount"] = str(amount)
    return claim


def _settlement_rows(settings: Settings, person_id: str) -> list[dict[str, Any]]:
    """The person's settlements as stored, in the order they were settled."""
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT settlement_id, claim_id, status, settled_at, in_scope_fen,"
                    " basic_insurance_fen, critical_illness_fen, medical_assistance_fen,"
                    " charity_fen, health_fund_fen, patient_pay_fen, accumulators_after FROM settlement"
                    " WHERE person_id = :person_id"
                ),
                {"person_id": person_id},
            ).mappings()
            found = [dict(row) for row in rows]
    finally:
        engine.dispose()
    for row in found:
        row["accumulators_after"] = json.loads(row["accumulators_after"])
    return sorted(
        found, key=lambda row: (str(row["settled_at"]), row["accumulators_after"]["admissions"])
    )


def _accumulators(world: World, http: httpx.Client, person_id: str) -> dict[str, Any]:
    response = http.get(
        f"/v1/persons/{person_id}/accumulators",
        params={"year": 2018},
        headers=world.auth(world.keys.admin),
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _dibao_person(person_id: str) -> Person:
    """The world's dibao person as the engine sees it (make_world registers it so)."""
    return Person(
        person_id, date(1960, 5, 1), "220000", (Status(Group.DIBAO, date(2017, 1, 1), None),)
    )


def _accumulators_document(accumulators: Accumulators) -> dict[str, Any]:
    fen = accumulators.to_fen()
    return {
        "year": fen.year,
        "admissions": fen.admissions,
        **{name: format_fen(getattr(fen, name)) for name in _MONEY_FIELDS},
    }


def _cents(document: dict[str, Any], name: str) -> int:
    return money_to_fen(money(document[name]))


def test_twenty_concurrent_posts_of_one_claim_make_exactly_one_settlement(
    server: Server, world: World, settings: Settings
) -> None:
    claim = world.claim("e2", level=3, person="dibao")
    headers = world.hospital_headers(3)
    responses = _concurrently(server, [_post_claim(claim, headers) for _ in range(20)])

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * 19 + [201], [
        response.text for response in responses if response.status_code >= 300
    ]
    created = next(response for response in responses if response.status_code == 201)
    settlement_id = created.json()["settlement_id"]
    replays = [response for response in responses if response.status_code == 200]
    assert all(response.headers.get("Idempotent-Replayed") == "true" for response in replays)
    assert {response.json()["settlement_id"] for response in replays} == {settlement_id}
    assert all(response.json() == created.json() for response in replays)

    rows = [
        row
        for row in _settlement_rows(settings, world.persons["dibao"])
        if row["claim_id"] == claim["claim_id"]
    ]
    assert [(row["settlement_id"], row["status"]) for row in rows] == [(settlement_id, "settled")]
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        assert _accumulators(world, http, world.persons["dibao"])["admissions"] == 1


def test_fifty_concurrent_claims_for_one_person_lose_no_update_and_never_pass_a_cap(
    server: Server, world: World, settings: Settings
) -> None:
    person_id = world.persons["dibao"]
    headers = world.hospital_headers(3)
    claims = {
        claim["claim_id"]: claim for claim in (_varied_claim(world, index) for index in range(50))
    }
    assert len(claims) == 50
    assert len({json.dumps(claim["items"]) for claim in claims.values()}) > 1

    responses = _concurrently(server, [_post_claim(claim, headers) for claim in claims.values()])
    assert [response.status_code for response in responses] == [201] * 50, [
        response.text for response in responses if response.status_code != 201
    ]

    rows = _settlement_rows(settings, person_id)
    assert sorted(row["claim_id"] for row in rows) == sorted(claims)
    assert all(row["status"] == "settled" for row in rows)
    # Settle the stored settlements one by one, in the order they were settled, with the pure
    # engine: each must have seen exactly the accumulators the previous one left behind.
    book = load_default().book
    person = _dibao_person(person_id)
    before = Accumulators(year=2018)
    for position, row in enumerate(rows):
        result = engine_settle(
            ClaimIn.model_validate(claims[row["claim_id"]]).to_engine(), person, 3, before, book
        )
        assert isinstance(result, Settlement), result
        expected = _accumulators_document(result.accumulators_after)
        assert row["accumulators_after"] == expected, (
            f"settlement {position + 1} of 50: {row['settlement_id']}"
        )
        assert row["basic_insurance_fen"] == result.totals.basic_insurance_fen
        assert row["medical_assistance_fen"] == result.totals.medical_assistance_fen
        assert _cents(row["accumulators_after"], "assistance_paid") <= DIBAO_ASSISTANCE_CAP_FEN
        assert _cents(row["accumulators_after"], "basic_paid") <= BASIC_CAP_FEN
        before = result.accumulators_after
    replayed = _accumulators_document(before)
    # The bills are large enough that both caps are reached part-way through the fifty.
    assert replayed["assistance_paid"] == DIBAO_ASSISTANCE_CAP
    assert replayed["basic_paid"] == BASIC_CAP
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        assert _accumulators(world, http, person_id) == replayed


def test_reversals_racing_new_settlements_leave_accumulators_equal_to_the_settled_sum(
    server: Server, world: World, settings: Settings
) -> None:
    person_id = world.persons["dibao"]
    headers = world.hospital_headers(3)
    first = [_varied_claim(world, index) for index in range(20)]
    settled = _concurrently(server, [_post_claim(claim, headers) for claim in first])
    assert [response.status_code for response in settled] == [201] * 20, [
        response.text for response in settled
    ]
    to_reverse = [response.json()["settlement_id"] for response in settled[:10]]
    later = [_varied_claim(world, index) for index in range(20, 30)]

    reversals_then_settlements = zip(
        [_reverse(settlement_id, headers) for settlement_id in to_reverse],
        [_post_claim(claim, headers) for claim in later],
        strict=True,
    )
    calls = [call for pair in reversals_then_settlements for call in pair]
    responses = _concurrently(server, calls)
    reversals, settlements = responses[0::2], responses[1::2]
    assert [response.status_code for response in reversals] == [200] * 10, [
        response.text for response in reversals
    ]
    assert [response.json()["status"] for response in reversals] == ["reversed"] * 10
    assert [response.status_code for response in settlements] == [201] * 10, [
        response.text for response in settlements
    ]

    rows = _settlement_rows(settings, person_id)
    assert len(rows) == 30
    assert sorted(row["settlement_id"] for row in rows if row["status"] == "reversed") == sorted(
        to_reverse
    )
    still = [row for row in rows if row["status"] == "settled"]
    assert len(still) == 20
    expected = {
        "year": 2018,
        "admissions": len(still),
        "basic_paid": sum(row["basic_insurance_fen"] for row in still),
        "ci_base": sum(row["in_scope_fen"] - row["basic_insurance_fen"] for row in still),
        "ci_paid": sum(row["critical_illness_fen"] for row in still),
        "assistance_paid": sum(row["medical_assistance_fen"] for row in still),
        "charity_paid": sum(row["charity_fen"] for row in still),
        "health_paid": sum(row["health_fund_fen"] for row in still),
        "patient_paid": sum(row["patient_pay_fen"] for row in still),
    }
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        actual = _accumulators(world, http, person_id)
    assert {
        "year": actual["year"],
        "admissions": actual["admissions"],
        **{name: _cents(actual, name) for name in _MONEY_FIELDS},
    } == expected
    assert _cents(actual, "assistance_paid") <= DIBAO_ASSISTANCE_CAP_FEN
    assert _cents(actual, "basic_paid") <= BASIC_CAP_FEN
