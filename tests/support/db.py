"""Reading the test database directly."""

from __future__ import annotations

from sqlalchemy import text

from api.core.config import Settings
from api.db.engine import make_engine

COUNTED_TABLES = (
    "settlement",
    "settlement_line",
    "settlement_fund",
    "fund_posting",
    "accumulator",
    "audit",
    "hospital",
    "person",
    "person_status",
    "api_key",
)


def row_counts(settings: Settings) -> dict[str, int]:
    """Rows in every table, to show a refused request wrote nothing."""
    engine = make_engine(settings)
    with engine.connect() as connection:
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in COUNTED_TABLES
        }
    engine.dispose()
    return counts
