"""The hourly totals (`settlement_hour`) always equal the settlements summed, on both
databases: kept with every settlement and reversal, and filled by their migration from the
settlements already stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, and_, select, update

from api.core.config import Settings
from api.db.engine import make_engine
from api.db.migrate import alembic_config
from api.db.tables import SETTLEMENT, SETTLEMENT_HOUR
from api.services.finance import Period, _hour_sums, _sums
from api.services.ledger import check
from tests.support.world import World


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def both_ways(engine: Engine, hospital_id: str | None) -> list[tuple[object, object]]:
    """(from the hourly totals, from the settlements) for what was settled and reversed today
    and yesterday (UTC days: whole hours either way)."""
    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=1), today, "UTC")
    with engine.connect() as connection:
        return [
            (
                _hour_sums(connection, "settled", period, hospital_id),
                _sums(connection, SETTLEMENT.c.settled_at, period, hospital_id),
            ),
            (
                _hour_sums(connection, "reversed", period, hospital_id),
                _sums(
                    connection,
                    SETTLEMENT.c.reversed_at,
                    period,
                    hospital_id,
                    SETTLEMENT.c.status == "reversed",
                ),
            ),
        ]


def settle_and_reverse(world: World) -> None:
    ids = []
    for person in ("none", "dibao", "destitute", "registered_poor", "dibao"):
        response = world.client.post(
            "/v1/settlements",
            json=world.claim("e2", person=person),
            headers=world.hospital_headers(),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["settlement_id"])
    for settlement_id in ids[1:3]:
        response = world.client.post(
            f"/v1/settlements/{settlement_id}/reversal",
            json={"reason": "冲正：测试"},
            headers=world.hospital_headers(),
        )
        assert response.status_code == 200, response.text


def test_the_hourly_totals_equal_the_settlements_summed_after_settling_and_reversing(
    world: World, engine: Engine
) -> None:
    settle_and_reverse(world)
    for hospital_id in (world.hospitals[3], None):
        for kept, summed in both_ways(engine, hospital_id):
            assert kept == summed
    mine = both_ways(engine, world.hospitals[3])
    assert mine[0][0]["count"] >= 5  # type: ignore[index]
    assert mine[1][0]["count"] >= 2  # type: ignore[index]


def test_the_migration_fills_the_hourly_totals_from_the_settlements_already_stored(
    own_world: World, own_engine: Engine, own_database_url: str
) -> None:
    settle_and_reverse(own_world)
    config = alembic_config(own_database_url)
    command.downgrade(config, "0003")
    command.upgrade(config, "head")
    for hospital_id in (own_world.hospitals[3], None):
        for kept, summed in both_ways(own_engine, hospital_id):
            assert kept == summed


def test_the_ledger_check_names_an_hourly_total_changed_behind_the_services_back(
    world: World, engine: Engine
) -> None:
    settle_and_reverse(world)
    hours = SETTLEMENT_HOUR.c
    mine = and_(hours.hospital_id == world.hospitals[3], hours.kind == "settled")
    with engine.begin() as connection:
        row = connection.execute(select(SETTLEMENT_HOUR).where(mine).limit(1)).one()
        key = and_(mine, hours.hour == row.hour, hours.slot == row.slot)
        connection.execute(
            update(SETTLEMENT_HOUR).where(key).values(charity_fen=row.charity_fen + 1)
        )
    try:
        named = [d for d in check(engine, None).differences if world.hospitals[3] in d.where]
        assert [d.kind for d in named] == ["hourly_totals"], named
        assert "charity_fen" in named[0].message
    finally:
        with engine.begin() as connection:
            connection.execute(
                update(SETTLEMENT_HOUR).where(key).values(charity_fen=row.charity_fen)
            )
    assert [d for d in check(engine, None).differences if world.hospitals[3] in d.where] == []
