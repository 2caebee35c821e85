"""Migration 0006 (rules §12–14): every settlement stored before it stays readable, answers the
new fields with their natural values, and keeps every amount and a clean ledger; going back
is refused when a settlement holds what four funds cannot say."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import Engine, text

from api.db.migrate import alembic_config
from api.services.ledger import check
from tests.support.world import World


def settle(world: World, example: str, person: str, **changes: Any) -> dict[str, Any]:
    response = world.client.post(
        "/v1/settlements",
        json=world.claim(example, person=person, **changes),
        headers=world.hospital_headers(),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def documents(world: World, ids: list[str]) -> list[dict[str, Any]]:
    answers = [
        world.client.get(f"/v1/settlements/{i}", headers=world.hospital_headers()) for i in ids
    ]
    assert all(answer.status_code == 200 for answer in answers), answers
    return [answer.json() for answer in answers]


def test_settlements_stored_before_0006_answer_in_region_no_filing_no_findings_and_zero(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    bills = [settle(own_world, "e1", "none"), settle(own_world, "e2", "dibao")]
    bills.append(settle(own_world, "e4", "registered_poor"))
    ids = [bill["settlement_id"] for bill in bills]
    reversal = own_world.client.post(
        f"/v1/settlements/{ids[1]}/reversal",
        json={"reason": "冲正：测试"},
        headers=own_world.hospital_headers(),
    )
    assert reversal.status_code == 200, reversal.text
    answered = documents(own_world, ids)
    accumulators = own_world.client.get(
        f"/v1/persons/{own_world.persons['registered_poor']}/accumulators?year=2018",
        headers=own_world.auth(own_world.keys.admin),
    ).json()
    config = alembic_config(own_database_url)
    command.downgrade(config, "0005")
    with own_engine.connect() as connection:
        funds = connection.execute(text("SELECT DISTINCT fund FROM settlement_fund")).scalars()
        assert "health_fund" not in set(funds)
        widths = {
            len(line)
            for (packed,) in connection.execute(text("SELECT lines FROM settlement"))
            for line in orjson.loads(packed)
        }
        assert widths == {16}
    command.upgrade(config, "head")
    after = documents(own_world, ids)
    assert after == answered
    for document in after:
        assert (document["insured_region"], document["treatment_region"]) == ("220000", "220000")
        assert document["filing"] is None
        assert document["catalog_version"] == document["tariff_version"]
        assert document["findings"] == []
        assert document["totals"]["refused_selfpay"] == "0.00"
        assert document["totals"]["health_fund"] == "0.00"
        assert [fund["fund"] for fund in document["funds"]][-1] == "health_fund"
        assert document["accumulators_after"]["health_paid"] == "0.00"
    assert (
        own_world.client.get(
            f"/v1/persons/{own_world.persons['registered_poor']}/accumulators?year=2018",
            headers=own_world.auth(own_world.keys.admin),
        ).json()
        == accumulators
    )
    assert check(own_engine, None).differences == ()
    # And the service settles and reverses on the migrated database as on a new one.
    bill = settle(own_world, "e2", "destitute")
    assert bill["funds"][-1]["paid"] == "0.00"
    assert check(own_engine, None).differences == ()


def test_going_back_below_0006_is_refused_over_a_cross_region_or_refused_line(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    claim = own_world.claim("e2", person="dibao")
    claim["items"][0]["quantity"] = "20"  # 20 bed days for an 11-day stay: R03 refuses 9
    claim["items"][0]["amount"] = "900.00"
    bill = own_world.client.post(
        "/v1/settlements", json=claim, headers=own_world.hospital_headers()
    ).json()
    assert bill["findings"][0]["rule"] == "R03"
    config = alembic_config(own_database_url)
    command.downgrade(config, "0006")  # 0007 goes: no encounter or platform message is kept
    with pytest.raises(RuntimeError, match="1 settlements are cross-region, have findings"):
        command.downgrade(config, "0005")
    command.upgrade(config, "head")
    assert check(own_engine, None).differences == ()
