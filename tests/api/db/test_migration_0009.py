"""Migration 0009 (rules §15–16): settlements stored before it answer `pay_later_eligible`,
`burden` and `patient_paid` exactly as the service answers them now, by replaying each
person-year's settlements and reversals in the order they happened."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import Engine, text

from api.db.migrate import alembic_config
from api.services.ledger import check
from tests.support.world import World


def settle(world: World, example: str, person: str, level: int) -> dict[str, Any]:
    response = world.client.post(
        "/v1/settlements",
        json=world.claim(example, person=person, level=level),
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def read(world: World, settlement: dict[str, Any]) -> dict[str, Any]:
    level = next(lv for lv, h in world.hospitals.items() if h == settlement["hospital_id"])
    answer = world.client.get(
        f"/v1/settlements/{settlement['settlement_id']}", headers=world.hospital_headers(level)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_year_of_settlements_and_reversals_answers_the_same_after_0009(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    """The dibao person: E2 at level 2 (eligible; 4904.90), reversed; E2 again at level 3 (not
    eligible), then E4 at level 2, which crosses 5000.00; the registered_poor person: E4 at
    level 2 (crosses from 0.00). Down to 0008 and up again, every document is what it was."""
    world = own_world
    first = settle(world, "e2", "dibao", 2)
    reversed_first = world.client.post(
        f"/v1/settlements/{first['settlement_id']}/reversal",
        json={"reason": "冲正：测试"},
        headers=world.hospital_headers(2),
    )
    assert reversed_first.status_code == 200, reversed_first.text
    bills = [first, settle(world, "e2", "dibao", 3), settle(world, "e4", "dibao", 2)]
    bills.append(settle(world, "e4", "registered_poor", 2))
    assert [bill["pay_later_eligible"] for bill in bills] == [True, False, True, True]
    assert [bill["burden"]["crossed"] for bill in bills] == [False, False, True, True]
    before = [read(world, bill) for bill in bills]
    accumulators = {
        person: world.client.get(
            f"/v1/persons/{world.persons[person]}/accumulators?year=2018",
            headers=world.auth(world.keys.admin),
        ).json()
        for person in ("dibao", "registered_poor")
    }
    config = alembic_config(own_database_url)
    command.downgrade(config, "0008")
    with own_engine.connect() as connection:
        after_column = connection.execute(text("SELECT accumulators_after FROM settlement"))
        assert all("patient_paid" not in row[0] for row in after_column)
    command.upgrade(config, "head")
    assert [read(world, bill) for bill in bills] == before
    for person, document in accumulators.items():
        again = world.client.get(
            f"/v1/persons/{world.persons[person]}/accumulators?year=2018",
            headers=world.auth(world.keys.admin),
        ).json()
        assert again == document
    assert accumulators["dibao"]["patient_paid"] == _sum(bills[1]["totals"], bills[2]["totals"])
    assert check(own_engine, None).differences == ()


def _sum(*totals: dict[str, Any]) -> str:
    fen = sum(int(t["patient_pay"].replace(".", "")) for t in totals)
    return f"{fen // 100}.{fen % 100:02d}"


def test_going_back_below_0009_is_refused_while_a_receivable_or_decision_is_kept(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    import pytest

    from tests.api.routes.test_receivables import opened

    _, receivable = opened(own_world)
    config = alembic_config(own_database_url)
    with pytest.raises(RuntimeError, match="1 receivables and 0 assistance decisions are kept"):
        command.downgrade(config, "0008")
    command.upgrade(config, "head")  # SQLite commits each revision as it goes (see 0007's test)
    kept = own_world.client.get(
        f"/v1/receivables/{receivable['receivable_id']}", headers=own_world.hospital_headers(2)
    )
    assert kept.json() == receivable
    assert check(own_engine, None).differences == ()


def test_a_stored_year_over_its_threshold_gets_its_alert_raised_by_0009(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    """Down below 0009 the alerts go; up again, the person-year over 5000.00 has its alert
    raised by the settlement that crossed, as the service raised it."""
    world = own_world
    crossing = settle(world, "e4", "registered_poor", 2)
    assert crossing["burden"]["crossed"] is True
    config = alembic_config(own_database_url)
    command.downgrade(config, "0008")
    command.upgrade(config, "head")
    alerts = world.client.get("/v1/alerts?year=2018", headers=world.auth(world.keys.finance))
    (alert,) = alerts.json()["alerts"]
    assert (alert["status"], alert["settlement_id"]) == ("raised", crossing["settlement_id"])
    assert alert["raised_at"] == crossing["settled_at"]
    assert check(own_engine, None).differences == ()
