"""Migration 0007 (issue 13): encounters and the platform's messages. Going back is refused
while an encounter or a message is kept; a settlement stored before the basic fund's rate was
kept answers the platform's `pool_prop_selfpay` as null, every amount as before."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text

from api.db.migrate import alembic_config
from api.services.ledger import check
from tests.support.nhsa import His
from tests.support.world import World


def test_going_back_below_0007_is_refused_while_an_encounter_is_kept(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    his = His(own_world, own_world.hospitals[3], own_world.hospital_headers())
    claim = own_world.claim("e2")
    his.admit(claim)  # one encounter, and the answer kept under its msgid
    config = alembic_config(own_database_url)
    with pytest.raises(RuntimeError, match="2 encounters or platform messages are kept"):
        command.downgrade(config, "0006")
    # SQLite commits each revision's DDL as it goes: the revisions above 0007 went down before
    # 0007 refused (PostgreSQL rolls the whole downgrade back). Up again, nothing is lost.
    command.upgrade(config, "head")
    assert check(own_engine, None).differences == ()


def test_a_settlement_stored_before_0007_answers_its_rate_as_zero_never_null(
    own_world: World, own_engine: Engine
) -> None:
    claim = own_world.claim("e2")
    headers = own_world.hospital_headers()
    bill = own_world.client.post("/v1/settlements", json=claim, headers=headers)
    assert bill.status_code == 201, bill.text
    settlement_id = bill.json()["settlement_id"]
    with own_engine.begin() as connection:  # as 0007 leaves the steps stored before it
        connection.execute(
            text("UPDATE settlement_fund SET rate_ppm = NULL WHERE settlement_id = :id"),
            {"id": settlement_id},
        )
    his = His(own_world, own_world.hospitals[3], headers)
    reference = {
        "setl_id": settlement_id,
        "mdtrt_id": claim["claim_id"],
        "psn_no": claim["person_id"],
    }
    setlinfo = his.ok("5203", {"data": reference})["setlinfo"]
    # Unknown, yet never null (a client reads it into a non-nullable decimal): 0.0000.
    assert str(setlinfo["pool_prop_selfpay"]) == "0.0000"
    assert str(setlinfo["fund_pay_sumamt"]) == bill.json()["totals"]["fund_total"]
    again = own_world.client.get(f"/v1/settlements/{settlement_id}", headers=headers)
    assert again.json() == bill.json()
    assert check(own_engine, None).differences == ()
