"""The bill's lines packed in the settlement row (`settlement.lines`, migration 0005): read back
exactly, refused when tampered, and carried over unchanged by the migration both ways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text

from api.core.config import Settings
from api.db.engine import make_engine
from api.db.migrate import alembic_config
from api.db.rows import pack_lines, unpack_lines
from api.db.tables import PACKED_LINE_FIELDS, SETTLEMENT
from api.services.ledger import check
from tests.support.world import World


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def settle_some(world: World) -> list[str]:
    """Settlements of every group, one of them reversed; their ids."""
    ids = []
    for example, person in (("e1", "none"), ("e2", "dibao"), ("e2", "destitute")):
        response = world.client.post(
            "/v1/settlements",
            json=world.claim(example, person=person),
            headers=world.hospital_headers(),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["settlement_id"])
    response = world.client.post(
        f"/v1/settlements/{ids[1]}/reversal",
        json={"reason": "冲正：测试"},
        headers=world.hospital_headers(),
    )
    assert response.status_code == 200, response.text
    return ids


def documents(world: World, ids: list[str]) -> list[dict[str, Any]]:
    answers = [
        world.client.get(f"/v1/settlements/{i}", headers=world.hospital_headers()) for i in ids
    ]
    assert all(answer.status_code == 200 for answer in answers)
    return [answer.json() for answer in answers]


WIDTH_0005 = 16
"""Fields of a packed line as revision 0005 packed them (0006 appended two amounts)."""


def as_0005(lines: str) -> list[Any]:
    """Packed lines as revision 0005 holds them: a round trip through 0004 drops the two
    amounts 0006 appended (both zero on these settlements), and reading pads them again."""
    return [line[:WIDTH_0005] for line in orjson.loads(lines)]


def packed(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(
            connection.execute(select(SETTLEMENT.c.settlement_id, SETTLEMENT.c.lines)).all()
        )


def test_packed_lines_read_back_as_the_answer_gave_them(world: World, engine: Engine) -> None:
    ids = settle_some(world)
    for settlement_id, document in zip(ids, documents(world, ids), strict=True):
        lines = orjson.loads(packed(engine)[settlement_id])
        assert [line[0] for line in lines] == [item["line_no"] for item in document["items"]]
        assert all(len(line) == len(PACKED_LINE_FIELDS) for line in lines)
        assert (
            pack_lines(unpack_lines(packed(engine)[settlement_id])) == packed(engine)[settlement_id]
        )


def test_a_line_packed_before_a_field_was_appended_reads_that_amount_as_zero() -> None:
    line = [1, "C0001", "name", "A", "1", "10.00", 1000, 0, 0, 0, 1000, 500, 0, 0, 0, 400, 0, 100]
    assert len(line) == len(PACKED_LINE_FIELDS)
    (full,) = unpack_lines(orjson.dumps([line]).decode())
    (short,) = unpack_lines(orjson.dumps([line[:-1]]).decode())
    assert full.health_fund_fen == 100
    assert short.health_fund_fen == 0
    assert short[:-1] == full[:-1]
    (before_0006,) = unpack_lines(orjson.dumps([line[:WIDTH_0005]]).decode())
    assert (before_0006.refused_selfpay_fen, before_0006.health_fund_fen) == (0, 0)


@pytest.mark.parametrize(
    "tampered",
    [
        [[1, "C0001", "name", "A", "1", "10.00", 10.5, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
        [[1, "C0001", "name", "A", "1", "10.00", "1000", 0, 0, 0, 0, 0, 0, 0, 0, 0]],
        [[1, "C0001", "name", "A", "1", "10.00", True, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
        [[1, "C0001", "name", "A", "1", "10.00", *([0] * 13)]],
        [[1, "C0001", "name", "A", "1", "10.00"]],
        [{"line_no": 1}],
    ],
)
def test_a_packed_line_that_is_not_integer_fen_in_place_is_refused(tampered: Any) -> None:
    with pytest.raises(ValueError, match=r"packed line|integer fen"):
        unpack_lines(orjson.dumps(tampered).decode())


def test_the_migration_unpacks_and_packs_every_settlement_unchanged(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    ids = settle_some(own_world)
    before, answered = packed(own_engine), documents(own_world, ids)
    config = alembic_config(own_database_url)
    command.downgrade(config, "0004")
    with own_engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM settlement_line")).scalar_one()
        settlements = connection.execute(select(func.count()).select_from(SETTLEMENT)).scalar_one()
    assert settlements == len(before)
    assert rows == sum(len(orjson.loads(lines)) for lines in before.values())
    command.upgrade(config, "head")
    assert {key: as_0005(lines) for key, lines in packed(own_engine).items()} == {
        key: as_0005(lines) for key, lines in before.items()
    }
    assert documents(own_world, ids) == answered
    assert check(own_engine, None).differences == ()


def test_the_migration_packs_lines_in_the_order_the_claim_gave_them(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    """Upgrading from 0004 packs by `position` (the claim's order), not by line number: here
    a settlement's stored positions are reversed before the upgrade, and so is its packing."""
    (settlement_id, *_) = settle_some(own_world)
    before = as_0005(packed(own_engine)[settlement_id])
    config = alembic_config(own_database_url)
    command.downgrade(config, "0004")
    with own_engine.begin() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM settlement_line WHERE settlement_id = :id"),
            {"id": settlement_id},
        ).scalar_one()
        connection.execute(
            text(
                "UPDATE settlement_line SET position = :last - position WHERE settlement_id = :id"
            ),
            {"last": count - 1, "id": settlement_id},
        )
    command.upgrade(config, "head")
    after = orjson.loads(packed(own_engine)[settlement_id])
    assert len(before) > 1
    assert after == before[::-1]
