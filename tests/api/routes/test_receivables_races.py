"""Races after the bill (rules §15–16), against a real server of two worker processes on each
database: payments for a receivable's last fen make one payment; copies of one plan make one
receivable and of one payment one payment; decisions racing for one alert make one, and a grant
racing a payment never overpays."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.core.config import Settings
from api.db.engine import make_engine
from tests.api.routes.test_receivables import PLAN
from tests.support.server import Server, serving
from tests.support.world import World

TIMEOUT = 30.0


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    with serving(database_url, workers=2) as running:
        yield running


def at_once(
    server: Server, calls: list[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
            http.get("/healthz")
            barrier.wait(timeout=TIMEOUT)
            return call(http)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result(timeout=TIMEOUT * 2) for f in [pool.submit(run, c) for c in calls]]


def count(settings: Settings, table: str, receivable_id: str) -> int:
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            found: int = connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE receivable_id = :id"),
                {"id": receivable_id},
            ).scalar_one()
            return found
    finally:
        engine.dispose()


def _receivable(world: World, server: Server) -> tuple[dict[str, Any], dict[str, str]]:
    headers = world.hospital_headers(2)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        settled = http.post("/v1/settlements", json=world.claim("e4", level=2, person="registered_poor"),
                            headers=headers)  # fmt: skip
        assert settled.status_code == 201, settled.text
        planned = http.post(f"/v1/settlements/{settled.json()['settlement_id']}/receivable",
                            json=PLAN, headers=headers)  # fmt: skip
        assert planned.status_code == 201, planned.text
        return dict(planned.json()), headers


def test_two_payments_racing_for_the_last_fen_make_one(
    world: World, server: Server, settings: Settings
) -> None:
    receivable, headers = _receivable(world, server)
    rid = receivable["receivable_id"]
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        first = http.post(f"/v1/receivables/{rid}/payments", headers=headers,
                          json={"payment_id": "P0", "amount": "6499.99", "paid_on": "2018-04-01",
                                "method": "cash"})  # fmt: skip
        assert first.status_code == 201, first.text

    def last_fen(number: int) -> Callable[[httpx.Client], httpx.Response]:
        body = {"payment_id": f"LAST{number}", "amount": "0.01", "paid_on": "2018-04-02",
                "method": "card"}  # fmt: skip
        return lambda http: http.post(f"/v1/receivables/{rid}/payments", headers=headers, json=body)

    calls = [last_fen(number) for number in range(6)]
    answers = at_once(server, calls)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 422, 422, 422, 422, 422], [a.text for a in answers]
    refused = [a.json() for a in answers if a.status_code == 422]
    assert all(
        {e["code"] for e in r["errors"]} & {"above_outstanding", "not_open"} for r in refused
    )
    assert count(settings, "receivable_payment", rid) == 2
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        final = http.get(f"/v1/receivables/{rid}", headers=headers).json()
    assert (final["outstanding"], final["status"]) == ("0.00", "paid")


def test_copies_of_one_plan_and_of_one_payment_make_one_each(
    world: World, server: Server, settings: Settings
) -> None:
    headers = world.hospital_headers(2)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        settled = http.post("/v1/settlements", json=world.claim("e4", level=2, person="registered_poor"),
                            headers=headers)  # fmt: skip
    url = f"/v1/settlements/{settled.json()['settlement_id']}/receivable"
    answers = at_once(server, [lambda http: http.post(url, json=PLAN, headers=headers)] * 6)
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], [a.text for a in answers]
    assert len({a.json()["receivable_id"] for a in answers}) == 1
    rid = answers[0].json()["receivable_id"]
    body = {"payment_id": "ONCE", "amount": "100.00", "paid_on": "2018-04-01", "method": "cash"}
    paid = at_once(
        server,
        [lambda http: http.post(f"/v1/receivables/{rid}/payments", json=body, headers=headers)] * 6,
    )
    assert sorted(a.status_code for a in paid) == [200] * 5 + [201], [a.text for a in paid]
    assert count(settings, "receivable_payment", rid) == 1


def test_two_decisions_racing_for_one_alert_make_one_and_a_grant_racing_a_payment_never_overpays(
    world: World, server: Server, settings: Settings
) -> None:
    """Three decisions under three ids for one raised alert and a payment of everything owed,
    all at once: one decision is recorded, two find the alert decided; whichever of the grant
    and the payment goes first, the other finds nothing left to pay on the receivable, which
    is never paid above its principal."""
    receivable, headers = _receivable(world, server)
    rid = receivable["receivable_id"]
    finance = world.auth(world.keys.finance)
    person = world.persons["registered_poor"]

    def decision(number: int) -> Callable[[httpx.Client], httpx.Response]:
        body = {"decision_id": f"RACE{number}", "decision": "grant", "amount": "6500.00",
                "reason": "并发"}  # fmt: skip
        return lambda http: http.post(
            f"/v1/alerts/{person}/2018/decision", json=body, headers=finance
        )

    payment = {"payment_id": "RACEPAY", "amount": "6500.00", "paid_on": "2018-04-01",
               "method": "cash"}  # fmt: skip
    calls = [decision(number) for number in range(3)]
    calls.append(
        lambda http: http.post(f"/v1/receivables/{rid}/payments", json=payment, headers=headers)
    )
    answers = at_once(server, calls)
    decisions, paid = answers[:3], answers[3]
    assert sorted(a.status_code for a in decisions) == [201, 422, 422], [a.text for a in decisions]
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        final = http.get(f"/v1/receivables/{rid}", headers=headers).json()
    total = sum(int(p["amount"].replace(".", "")) for p in final["payments"])
    assert total == 6500_00, final
    assert (final["outstanding"], final["status"]) == ("0.00", "paid")
    granted = next(a.json() for a in decisions if a.status_code == 201)
    applied = sum(
        int(a["amount"].replace(".", ""))
        for a in granted["applications"]
        if a["to"] == "receivable"
    )
    if paid.status_code == 201:  # the payment went first: the grant went to the person
        assert applied == 0
        assert granted["paid_to_person"] == "6500.00"
    else:  # the grant went first: nothing was left to pay
        assert paid.status_code == 422, paid.text
        assert applied == 6500_00


def test_a_payment_racing_the_reversal_is_refunded_or_refused_never_lost(
    world: World, server: Server, settings: Settings
) -> None:
    """The reversal cancels the receivable after locking it: a payment that commits first is in
    `refund_due`; one that waits finds the receivable cancelled (422). The ledger agrees."""
    from api.services.ledger import check

    receivable, headers = _receivable(world, server)
    rid = receivable["receivable_id"]
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        settlement_id = http.get(f"/v1/receivables/{rid}", headers=headers).json()["settlement_id"]
    body = {"payment_id": "RACEREV", "amount": "100.00", "paid_on": "2018-04-01", "method": "cash"}
    answers = at_once(server, [
        lambda http: http.post(f"/v1/receivables/{rid}/payments", json=body, headers=headers),
        lambda http: http.post(f"/v1/settlements/{settlement_id}/reversal",
                               json={"reason": "并发冲正"}, headers=headers),
    ])  # fmt: skip
    paid, reversed_ = answers
    assert reversed_.status_code == 200, reversed_.text
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        final = http.get(f"/v1/receivables/{rid}", headers=headers).json()
    assert final["status"] == "cancelled"
    if paid.status_code == 201:
        assert final["refund_due"] == "524.41"  # 424.41 at discharge + 100.00
    else:
        assert paid.status_code == 422, paid.text
        assert final["refund_due"] == "424.41"
    engine = make_engine(settings)
    try:
        assert [d for d in check(engine, None).differences if d.kind == "receivable"] == []
    finally:
        engine.dispose()
