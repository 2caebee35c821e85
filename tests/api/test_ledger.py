"""`onestop ledger verify` on both databases: silent on a sound ledger, exit 1 naming the row
after a corruption planted behind the service's back.

The database is shared by the whole test session, so a corruption planted here must never be
seen by another test. Three habits make that robust:

- every corruption is planted on a row of this test's own `world` (its own persons,
  hospitals and settlements, with ids unique to the test), in policy year 2019, which the
  other API tests do not settle in;
- it is planted inside a context manager that reads the row first and writes it back (or
  inserts the deleted row again, with its id) in a `finally`, so it is undone even when an
  assertion fails, and each test checks after the restore that its rows are sound again;
- the precise assertions are made on `api.services.ledger.verify(engine, 2019)` restricted to the
  differences that name this test's rows, so a difference elsewhere in the shared database
  cannot make them pass or fail; the command itself is asserted to exit 1 and to print the
  row's name.

The sound-ledger test verifies the whole database on purpose: every settlement and reversal
any test made through the service must balance, and it would catch a planted row that was
not restored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlmodel import SQLModel
from typer.testing import CliRunner, Result

from api.cli import app
from api.cli.ledger import EXIT_LEDGER_DIFFERS
from api.core.config import Settings
from api.db.engine import make_engine
from api.services.ledger import Difference, verify
from tests.api.conftest import World

YEAR = 2019
"""The policy year of every settlement made here; the other API tests settle in 2018."""

TABLES = SQLModel.metadata.tables
ACCUMULATOR = TABLES["accumulator"]
SETTLEMENT = TABLES["settlement"]
LINES = TABLES["settlement_line"]
FUNDS = TABLES["settlement_fund"]
POSTINGS = TABLES["fund_posting"]
CHECKED = re.compile(r"(\d+) accumulators, (\d+) settlements, (\d+) postings")

runner = CliRunner()


def _onestop(settings: Settings, *args: str) -> Result:
    return runner.invoke(
        app, list(args), env={"ONESTOP_DATABASE_URL": settings.database_url, "COLUMNS": "300"}
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def _claim(world: World, example: str = "e2", person: str = "dibao", **changes: Any) -> Any:
    return world.claim(
        example,
        person=person,
        admission_date=f"{YEAR}-03-01",
        discharge_date=f"{YEAR}-03-12",
        **changes,
    )


def _settle(world: World, claim: dict[str, Any], level: int = 3) -> str:
    response = world.client.post(
        "/v1/settlements", json=claim, headers=world.hospital_headers(level)
    )
    assert response.status_code == 201, response.text
    settlement_id: str = response.json()["settlement_id"]
    return settlement_id


def _reverse(world: World, settlement_id: str, level: int = 3) -> None:
    response: httpx.Response = world.client.post(
        f"/v1/settlements/{settlement_id}/reversal",
        json={"reason": "医院冲正：核对台账"},
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 200, response.text


def _ours(differences: list[Difference], *keys: str) -> set[tuple[str, str, Any, Any]]:
    """The differences naming one of these rows' keys (settlement or person ids)."""
    return {
        (difference.kind, difference.where, difference.expected, difference.found)
        for difference in differences
        if any(key in difference.where for key in keys)
    }


def _where(table: Table, key: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in key.items()]


@contextmanager
def _changed(engine: Engine, table: Table, key: dict[str, Any], column: str) -> Iterator[int]:
    """Add one fen to one column of one row behind the service's back; put it back after.

    Yields the original value.
    """
    with engine.begin() as connection:
        original: int = connection.execute(
            select(table.c[column]).where(*_where(table, key))
        ).scalar_one()
        changed = connection.execute(
            update(table).where(*_where(table, key)).values({column: original + 1})
        )
        assert changed.rowcount == 1
    try:
        yield original
    finally:
        with engine.begin() as connection:
            connection.execute(update(table).where(*_where(table, key)).values({column: original}))


@contextmanager
def _deleted(engine: Engine, table: Table, key: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Delete one row behind the service's back; insert it again, id and all, after.

    Yields the deleted row.
    """
    with engine.begin() as connection:
        row = dict(connection.execute(select(table).where(*_where(table, key))).mappings().one())
        connection.execute(delete(table).where(*_where(table, key)))
    try:
        yield row
    finally:
        with engine.begin() as connection:
            connection.execute(insert(table).values(row))


def _fund_paid(engine: Engine, settlement_id: str, fund: str) -> int:
    with engine.connect() as connection:
        paid: int = connection.execute(
            select(FUNDS.c.paid_fen).where(
                FUNDS.c.settlement_id == settlement_id, FUNDS.c.fund == fund
            )
        ).scalar_one()
    return paid


def _count(engine: Engine, table: Table, year: int | None = None) -> int:
    query = select(func.count()).select_from(table)
    if table is POSTINGS:
        query = query.select_from(
            POSTINGS.join(SETTLEMENT, SETTLEMENT.c.settlement_id == POSTINGS.c.settlement_id)
        )
    if year is not None:
        year_column = ACCUMULATOR.c.year if table is ACCUMULATOR else SETTLEMENT.c.policy_year
        query = query.where(year_column == year)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# ---------------------------------------------------------------- a sound ledger


def test_ledger_verify_passes_after_settlements_and_reversals_and_counts_what_it_checked(
    world: World, settings: Settings, engine: Engine
) -> None:
    first = _settle(world, _claim(world))
    _settle(world, _claim(world, "e1", person="none"))
    _settle(world, _claim(world, "e4", person="registered_poor", level=2), level=2)
    _settle(world, world.claim("e2"))  # a 2018 settlement too, for the unfiltered run
    _reverse(world, first)
    again = _settle(world, _claim(world))
    _reverse(world, again)
    _settle(world, _claim(world, "e2", person="destitute"))

    result = _onestop(settings, "ledger", "verify")
    assert result.exit_code == 0, result.output
    assert "no differences" in result.output
    checked = CHECKED.search(result.output)
    assert checked is not None, result.output
    assert tuple(map(int, checked.groups())) == (
        _count(engine, ACCUMULATOR),
        _count(engine, SETTLEMENT),
        _count(engine, POSTINGS),
    )

    in_year = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
    assert in_year.exit_code == 0, in_year.output
    checked = CHECKED.search(in_year.output)
    assert checked is not None, in_year.output
    assert tuple(map(int, checked.groups())) == (
        _count(engine, ACCUMULATOR, YEAR),
        _count(engine, SETTLEMENT, YEAR),
        _count(engine, POSTINGS, YEAR),
    )
    assert int(checked.group(2)) >= 5  # this test's own settlements of the year
    assert verify(engine, None) == []


# ---------------------------------------------------------------- planted corruptions


def test_an_accumulator_changed_behind_the_services_back_fails_and_is_named(
    world: World, settings: Settings, engine: Engine
) -> None:
    _settle(world, _claim(world))
    _reverse(world, _settle(world, _claim(world)))
    person = world.persons["dibao"]
    where = f"accumulator {person}/{YEAR}"
    key = {"person_id": person, "year": YEAR}
    with _changed(engine, ACCUMULATOR, key, "basic_paid_fen") as original:
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        assert where in result.output
        assert "basic_paid_fen" in result.output
        assert _ours(verify(engine, YEAR), person) == {
            ("accumulator", where, original, original + 1)
        }
        other_year = _onestop(settings, "ledger", "verify", "--year", str(YEAR - 1))
        assert where not in other_year.output
    assert _ours(verify(engine, YEAR), person) == set()


def test_a_missing_accumulator_with_settled_settlements_behind_it_fails_and_is_named(
    world: World, settings: Settings, engine: Engine
) -> None:
    _settle(world, _claim(world))
    person = world.persons["dibao"]
    where = f"accumulator {person}/{YEAR}"
    with _deleted(engine, ACCUMULATOR, {"person_id": person, "year": YEAR}):
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        assert where in result.output
        assert _ours(verify(engine, YEAR), person) == {
            ("accumulator_missing", where, "1 admissions", None)
        }
    assert _ours(verify(engine, YEAR), person) == set()


def test_a_line_whose_patient_pay_was_changed_fails_conservation_and_names_the_settlement(
    world: World, settings: Settings, engine: Engine
) -> None:
    settlement_id = _settle(world, _claim(world))
    key = {"settlement_id": settlement_id, "line_no": 1}
    with _changed(engine, LINES, key, "patient_pay_fen"):
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        assert f"settlement {settlement_id}" in result.output
        assert "line 1" in result.output
        differences = verify(engine, YEAR)
        assert _ours(differences, settlement_id) == {
            ("conservation", f"settlement {settlement_id}", "balanced", "unbalanced")
        }
        (conservation,) = [d for d in differences if settlement_id in d.where]
        assert "line 1: amount ≠ funds + patient" in conservation.message
    assert _ours(verify(engine, YEAR), settlement_id) == set()


def test_a_posting_whose_amount_was_changed_fails_and_names_the_settlement(
    world: World, settings: Settings, engine: Engine
) -> None:
    settlement_id = _settle(world, _claim(world))
    fund = "critical_illness"
    paid = _fund_paid(engine, settlement_id, fund)
    key = {"settlement_id": settlement_id, "fund": fund, "kind": "settle"}
    with _changed(engine, POSTINGS, key, "amount_fen"):
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        assert f"fund_posting {settlement_id}/{fund}/settle" in result.output
        fund_total = _settlement_fund_total(engine, settlement_id)
        assert _ours(verify(engine, YEAR), settlement_id) == {
            ("posting_amount", f"fund_posting {settlement_id}/{fund}/settle", paid, paid + 1),
            ("posting_total", f"settlement {settlement_id}", fund_total, fund_total + 1),
        }
    assert _ours(verify(engine, YEAR), settlement_id) == set()


def test_a_deleted_reversal_posting_fails_and_names_the_settlement(
    world: World, settings: Settings, engine: Engine
) -> None:
    settlement_id = _settle(world, _claim(world))
    _reverse(world, settlement_id)
    fund = "basic_insurance"
    paid = _fund_paid(engine, settlement_id, fund)
    assert paid > 0
    key = {"settlement_id": settlement_id, "fund": fund, "kind": "reversal"}
    with _deleted(engine, POSTINGS, key) as posting:
        assert posting["amount_fen"] == -paid
        result = _onestop(settings, "ledger", "verify", "--year", str(YEAR))
        assert result.exit_code == EXIT_LEDGER_DIFFERS, result.output
        assert f"fund_posting {settlement_id}/{fund}/reversal" in result.output
        assert _ours(verify(engine, YEAR), settlement_id) == {
            ("posting_count", f"fund_posting {settlement_id}/{fund}/reversal", 1, 0),
            ("posting_total", f"settlement {settlement_id}", 0, paid),
        }
    assert _ours(verify(engine, YEAR), settlement_id) == set()


def _settlement_fund_total(engine: Engine, settlement_id: str) -> int:
    with engine.connect() as connection:
        total: int = connection.execute(
            select(SETTLEMENT.c.fund_total_fen).where(SETTLEMENT.c.settlement_id == settlement_id)
        ).scalar_one()
    return total
