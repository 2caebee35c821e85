"""`ledger verify` proves every settled encounter against its settlement (issue 19, section 2).

A stay sent through the national platform's interface is stored twice: as the encounter's
uploaded lines and as the settlement its 2304 made of them. The two must agree, or a line
answered infcode 0 never reached the money. Each test has a database of its own: the rows
tampered with here must not reach the shared database's sound-ledger test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from typer.testing import CliRunner

from api.cli import app
from api.cli.ledger import EXIT_LEDGER_DIFFERS
from api.core.config import Settings
from api.db.tables import ENCOUNTER_LINE
from api.services.ledger import Difference, check, verify
from tests.support.nhsa import His
from tests.support.world import World


def his_of(world: World) -> His:
    return His(world, world.hospitals[3], world.hospital_headers(3))


def settled_stay(world: World) -> tuple[His, dict[str, Any], str, str]:
    """A stay with a refund netted into its first line and its second line refunded to
    nothing, settled by 2304: the HIS, the claim, the mdtrt_id and the setl_id."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    lines = his.fee_lines(claim, mdtrt_id)
    his.ok("2301", {"feedetail": lines})
    first, second = lines[0], lines[1]
    refunds = [
        {**first, "feedetl_sn": "R0001", "cnt": Decimal("-2"), "init_feedetl_sn": "F0001",
         "det_item_fee_sumamt": -2 * first["pric"]},
        {**second, "feedetl_sn": "R0002", "cnt": -second["cnt"],
         "init_feedetl_sn": second["feedetl_sn"], "det_item_fee_sumamt": -second["det_item_fee_sumamt"]},
    ]  # fmt: skip
    assert first["feedetl_sn"] == "F0001"
    his.ok("2301", {"feedetail": refunds})
    his.discharge(claim, mdtrt_id)
    total = sum((line["det_item_fee_sumamt"] for line in lines + refunds), Decimal("0.00"))
    output = his.ok("2304", his.settle_data(claim, mdtrt_id, medfee_sumamt=total))
    return his, claim, mdtrt_id, str(output["setlinfo"]["setl_id"])


def encounter_differences(engine: Engine) -> list[Difference]:
    return [d for d in verify(engine, None) if d.kind.startswith("encounter")]


def test_settled_encounters_verify_clean_with_refunds_netted_and_a_line_refunded_away(
    own_world: World, own_engine: Engine
) -> None:
    settled_stay(own_world)
    his, claim, mdtrt_id, setl_id = settled_stay(own_world)
    # A settlement cancelled (2305) proves nothing about the lines: they may change again.
    his.ok("2305", {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id,
                             "psn_no": claim["person_id"]}})  # fmt: skip
    his.ok("2301", {"feedetail": [{**his.fee_lines(claim, mdtrt_id)[0], "feedetl_sn": "F0900"}]})
    report = check(own_engine, None)
    assert report.balanced, report.differences
    assert report.encounters == 1  # the settled one; the cancelled one has no settlement to prove


def test_a_line_added_to_a_settled_encounter_is_named_with_its_missing_money(
    own_world: World, own_engine: Engine
) -> None:
    """The issue's wrong money: a line in the encounter that never reached its settlement."""
    his, claim, mdtrt_id, setl_id = settled_stay(own_world)
    line = his.fee_lines(claim, mdtrt_id)[0]
    with own_engine.begin() as connection:
        position = connection.execute(
            select(func.max(ENCOUNTER_LINE.c.position)).where(ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id)
        ).scalar_one()
        connection.execute(
            insert(ENCOUNTER_LINE).values(
                mdtrt_id=mdtrt_id, feedetl_sn="F0900", position=position + 1,
                med_list_codg=line["med_list_codg"], medins_list_codg="HIS-LATE",
                fee_ocur_time=datetime(2018, 3, 2, 1, tzinfo=UTC), cnt="1", pric="75.00",
                amount_fen=7500, init_feedetl_sn=None, uploaded_at=datetime.now(UTC),
            )
        )  # fmt: skip
    differences = encounter_differences(own_engine)
    kinds = sorted(d.kind for d in differences)
    assert kinds == ["encounter_line", "encounter_lines", "encounter_total"], differences
    where = f"encounter {mdtrt_id}"
    assert all(d.where.startswith(where) for d in differences)
    named = {d.kind: d for d in differences}
    assert "feedetl_sn F0900" in named["encounter_line"].message
    assert f"not in settlement {setl_id}" in named["encounter_line"].message
    total = named["encounter_total"]
    assert isinstance(total.expected, int)
    assert isinstance(total.found, int)
    assert total.expected - total.found == 7500


def test_a_settled_lines_figures_changed_behind_the_services_back_are_named_one_by_one(
    own_world: World, own_engine: Engine
) -> None:
    his, claim, mdtrt_id, setl_id = settled_stay(own_world)
    third = his.fee_lines(claim, mdtrt_id)[2]
    with own_engine.begin() as connection:
        connection.execute(
            update(ENCOUNTER_LINE)
            .where(
                ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id,
                ENCOUNTER_LINE.c.feedetl_sn == third["feedetl_sn"],
            )
            .values(med_list_codg="XX0000", amount_fen=ENCOUNTER_LINE.c.amount_fen + 1)
        )
    differences = encounter_differences(own_engine)
    messages = sorted(d.message for d in differences)
    sn = third["feedetl_sn"]
    assert len(messages) == 3, messages
    assert any(f"feedetl_sn {sn}): item code XX0000 in the encounter" in m for m in messages)
    assert any(f"feedetl_sn {sn}): amount (fen)" in m and setl_id in m for m in messages)
    assert any(m.startswith("the encounter's lines total") for m in messages)
    # The whole stored ledger otherwise balances: only the encounter's rows were changed.
    assert {d.kind for d in verify(own_engine, None)} == {"encounter_line", "encounter_total"}


def test_ledger_verify_exits_1_naming_an_encounter_that_differs_from_its_settlement(
    own_world: World, own_settings: Settings, own_engine: Engine
) -> None:
    _, _, mdtrt_id, _ = settled_stay(own_world)
    runner = CliRunner()
    env = {"ONESTOP_DATABASE_URL": own_settings.database_url, "COLUMNS": "300"}
    clean = runner.invoke(app, ["ledger", "verify"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "1 settled encounters" in clean.output
    with own_engine.begin() as connection:
        connection.execute(
            update(ENCOUNTER_LINE)
            .where(ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id, ENCOUNTER_LINE.c.feedetl_sn == "F0001")
            .values(cnt="10", amount_fen=45000)
        )
    result = runner.invoke(app, ["ledger", "verify"], env=env)
    assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
    assert f"encounter {mdtrt_id}" in result.output
    assert "quantity" in result.output
