"""The totals' queries find their rows through indexes, on both databases (EXPLAIN): with a
million settlements stored, a period's reversals must not be found by walking every one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine

from api.core.config import Settings
from api.db.engine import make_engine
from api.services.finance import Period, totals_fen
from tests.support.db import query_plans


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def plans(engine: Engine, hospital_id: str | None, zone: str) -> list[str]:
    """The plans of the statements the month's totals run."""
    period = Period(date(2018, 3, 1), date(2018, 3, 31), zone)
    return [
        plan for _, plan in query_plans(engine, lambda: totals_fen(engine, period, hospital_id))
    ]


@pytest.mark.parametrize("hospital_id", [None, "H0001"])
def test_the_totals_read_the_hourly_totals_by_index(
    engine: Engine, hospital_id: str | None
) -> None:
    """In a zone of whole-hour offset, a handful of rows a day, found by index."""
    for plan in plans(engine, hospital_id, "Asia/Shanghai"):
        assert "settlement_hour" in plan, plan
        assert "SCAN" not in plan, plan
        assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize("hospital_id", [None, "H0001"])
def test_the_totals_of_a_half_hour_zone_find_settlements_by_index(
    engine: Engine, hospital_id: str | None
) -> None:
    """Where local midnight falls inside a UTC hour, the settlements themselves are summed:
    by settlement time and by reversal time, each through an index of its own."""
    settled, reversed_ = plans(engine, hospital_id, "Asia/Kolkata")
    assert "ix_settlement_" in settled, settled
    assert "settled_at" in settled, settled
    assert "ix_settlement_" in reversed_, reversed_
    assert "_reversed_at" in reversed_, reversed_
