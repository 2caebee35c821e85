"""Migration 0010 (policy simulation): a settlement keeps what the engine read beyond its own
fields (the claim's diagnoses and surgery, the hospital's level, the person's birth date and
gender). Settlements stored before it are filled from the encounter of a platform stay, and
from the registries; a REST claim's diagnoses were never kept and stay unknown."""

from __future__ import annotations

from datetime import date
from typing import Any

from alembic import command
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from api.cli import app
from api.db.migrate import alembic_config
from api.services.ledger import check
from tests.support.nhsa import His
from tests.support.world import World

COLUMNS = "settlement_id, diagnoses, surgery, hospital_level, birth_date, gender"


def _inputs(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {COLUMNS} FROM settlement")).all()
    return {
        row.settlement_id: (
            row.diagnoses,
            None if row.surgery is None else bool(row.surgery),
            row.hospital_level,
            str(row.birth_date),
            row.gender,
        )
        for row in rows
    }


def test_settlements_keep_their_claim_inputs_and_0010_fills_what_can_be_known(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    world = own_world
    rest = world.client.post(
        "/v1/settlements", json=world.claim("e2", person="dibao"), headers=world.hospital_headers(3)
    )
    assert rest.status_code == 201, rest.text
    his = His(world, world.hospitals[2], world.hospital_headers(2))
    claim = world.claim("e4", person="registered_poor", level=2, surgery=False)
    mdtrt_id = his.stay(claim)
    platform = his.ok("2304", his.settle_data(claim, mdtrt_id))["setlinfo"]
    kept = _inputs(own_engine)
    birth = str(date(1960, 5, 1))
    assert kept == {
        rest.json()["settlement_id"]: ('["C34.1"]', True, 3, birth, "female"),
        platform["setl_id"]: ('["K80.1"]', False, 2, birth, "female"),
    }
    config = alembic_config(own_database_url)
    command.downgrade(config, "0009")
    with own_engine.connect() as connection:
        names = {column["name"] for column in inspect(connection).get_columns("settlement")}
    assert not names & {"diagnoses", "surgery", "hospital_level", "birth_date", "gender"}
    command.upgrade(config, "head")
    filled = _inputs(own_engine)
    assert filled[platform["setl_id"]] == kept[platform["setl_id"]]
    assert filled[rest.json()["settlement_id"]] == (None, None, 3, birth, "female")
    assert check(own_engine, None).differences == ()
    # The simulation will not guess a REST claim's diagnoses: it refuses the year, saying why.
    result = CliRunner().invoke(
        app,
        ["simulate", "--year", "2018", "--region", "220000", "--candidate", "tariffs/data"],
        env={"ONESTOP_DATABASE_URL": own_database_url, "COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "1 of the 2 settlements were stored before their claims' diagnoses" in result.stderr
