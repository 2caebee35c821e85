"""Reading the test database directly."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from api.core.config import Settings
from api.db.engine import make_engine
from api.db.migrate import upgrade

COUNTED_TABLES = (
    "settlement",
    "settlement_fund",
    "fund_posting",
    "accumulator",
    "audit",
    "hospital",
    "person",
    "person_status",
    "api_key",
    "encounter",
    "encounter_line",
    "nhsa_message",
    "receivable",
    "receivable_installment",
    "receivable_payment",
    "burden_alert",
    "assistance_decision",
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


def query_plans(engine: Engine, action: Callable[[], object]) -> list[tuple[str, str]]:
    """(statement, plan) of every SELECT that `action` runs on `engine`, as the database would
    execute it. On PostgreSQL sequential scans are switched off for the EXPLAIN: test tables
    are small, where a scan is cheapest, and the question is whether an index *can* serve the
    query, which is what a large table needs."""
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    sqlite = engine.dialect.name == "sqlite"
    plans = []
    with engine.connect() as connection:
        if not sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            plans.append((statement, " ".join(str(part) for row in rows for part in row)))
    return plans


@contextmanager
def fresh_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `server_url`, named `prefix_<hex>`:
    its psycopg URL, and the database dropped after (connections to it ended)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(
        make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(server_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


PG_ENV = "ONESTOP_TEST_PG_URL"
"""The PostgreSQL server of the suite's PostgreSQL pass (unset: that pass is skipped)."""


@contextmanager
def migrated_database(backend: str, sqlite_path: Path, prefix: str) -> Iterator[str]:
    """A fresh database of `backend` ("sqlite": the file `sqlite_path`; "postgresql": a new
    database named `prefix_<hex>` on the server of ONESTOP_TEST_PG_URL, dropped after),
    migrated to the newest revision: its URL. Without that server the test is skipped."""
    if backend == "sqlite":
        url = f"sqlite:///{sqlite_path}"
        upgrade(url)
        yield url
        return
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL pass is skipped")
    with fresh_postgres_database(admin_url, prefix) as url:
        upgrade(url)
        yield url
