"""`ledger verify` proves every receivable (rules §15) against itself and its settlement, and
names each kind of disagreement a slip in the service (or a hand in the database) would leave."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from api.services.ledger import check
from tests.api.routes.test_receivables import opened, pay
from tests.support.world import World


def receivable_differences(engine: Engine) -> list[Any]:
    return [d for d in check(engine, None).differences if d.kind == "receivable"]


def tamper(engine: Engine, statement: str, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), values)


def test_receivables_as_the_service_writes_them_are_sound(
    own_world: World, own_engine: Engine
) -> None:
    settlement, receivable = opened(own_world)
    rid = receivable["receivable_id"]
    assert pay(own_world, rid, "P1", "800.00", "2018-04-10").status_code == 201
    report = check(own_engine, None)
    assert report.receivables == 1
    assert report.differences == ()
    reversal = own_world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/reversal",
        json={"reason": "冲正"}, headers=own_world.hospital_headers(2),
    )  # fmt: skip
    assert reversal.status_code == 200
    assert check(own_engine, None).differences == ()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE receivable_installment SET amount_fen = amount_fen + 1 WHERE position = 0",
         "the installments do not add up to the principal"),
        ("UPDATE receivable SET principal_fen = principal_fen + 1, paid_at_discharge_fen = "
         "paid_at_discharge_fen", "principal ≠ patient pay − paid at discharge"),
        ("UPDATE receivable SET status = 'paid'",
         "the status is not what the settlement and payments say"),
        ("UPDATE receivable_payment SET amount_fen = 700000",
         "the payments exceed the principal"),
    ],
)  # fmt: skip
def test_each_kind_of_disagreement_is_named(
    own_world: World, own_engine: Engine, statement: str, message: str
) -> None:
    _, receivable = opened(own_world)
    assert (
        pay(own_world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    )
    tamper(own_engine, statement)
    found = receivable_differences(own_engine)
    assert message in [d.message for d in found], found
    assert all(d.where == f"receivable {receivable['receivable_id']}" for d in found)


def test_a_cancelled_receivable_with_wrong_refunds_is_named(
    own_world: World, own_engine: Engine
) -> None:
    settlement, receivable = opened(own_world)
    assert (
        pay(own_world, receivable["receivable_id"], "P1", "800.00", "2018-04-10").status_code == 201
    )
    own_world.client.post(
        f"/v1/settlements/{settlement['settlement_id']}/reversal",
        json={"reason": "冲正"}, headers=own_world.hospital_headers(2),
    )  # fmt: skip
    tamper(own_engine, "UPDATE receivable SET refund_due_fen = refund_due_fen - 1")
    (difference,) = receivable_differences(own_engine)
    assert difference.message == "the refunds are not what the patient and the fund paid"
    assert difference.expected == "122441/0"
    tamper(own_engine, "UPDATE receivable SET refund_due_fen = refund_due_fen + 1, status = 'open'")
    (difference,) = receivable_differences(own_engine)
    assert (difference.expected, difference.found) == ("cancelled", "open")
