"""The totals' queries find their rows through indexes, on both databases (EXPLAIN): with a
million settlements stored, a period's reversals must not be found by walking every one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event

from api.core.config import Settings
from api.db.engine import make_engine
from api.services.finance import Period, totals_fen


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def plans(engine: Engine, hospital_id: str | None) -> list[str]:
    """The plan of each statement the totals run, as the database would execute it."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        totals_fen(
            engine, Period(date(2018, 3, 1), date(2018, 3, 31), "Asia/Shanghai"), hospital_id
        )
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    found = []
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:
            # The test tables are small, where a scan is cheapest: ask whether an index *can*
            # serve the query, which is what a large table needs.
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            found.append(" ".join(str(part) for row in rows for part in row))
    return found


@pytest.mark.parametrize("hospital_id", [None, "H0001"])
def test_the_totals_find_settled_and_reversed_settlements_by_index(
    engine: Engine, hospital_id: str | None
) -> None:
    settled, reversed_ = plans(engine, hospital_id)
    assert "ix_settlement_" in settled, settled
    assert "settled_at" in settled, settled
    assert "ix_settlement_" in reversed_, reversed_
    assert "_reversed_at" in reversed_, reversed_
