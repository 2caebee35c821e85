"""Ledger corruptions planted behind the service's back, for `onestop ledger verify` and
`api.services.ledger.verify`.

The database is shared by the whole test session, so a corruption planted here must never be
seen by another test. Three habits make that robust:

- every corruption is planted on a row of the test's own `world` (its own persons, hospitals
  and settlements, with ids unique to the test), in policy year 2019, which the other API
  tests do not settle in;
- it is planted inside a context manager that reads the row first and writes it back (or
  inserts the deleted row again, with its id) in a `finally`, so it is undone even when an
  assertion fails, and each test checks after the restore that its rows are sound again;
- the precise assertions are made on the differences that name the test's rows (`ours`), so a
  difference elsewhere in the shared database cannot make them pass or fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlmodel import SQLModel

from api.db.tables import PACKED_LINE_FIELDS
from api.services.ledger import Difference
from tests.support.world import World

YEAR = 2019
"""The policy year of every settlement made here; the other API tests settle in 2018."""

TABLES = SQLModel.metadata.tables
ACCUMULATOR = TABLES["accumulator"]
SETTLEMENT = TABLES["settlement"]
FUNDS = TABLES["settlement_fund"]
POSTINGS = TABLES["fund_posting"]


def claim_in_year(
    world: World, example: str = "e2", person: str = "dibao", **changes: Any
) -> dict[str, Any]:
    """A worked-example claim of the world, discharged in YEAR."""
    return world.claim(
        example,
        person=person,
        admission_date=f"{YEAR}-03-01",
        discharge_date=f"{YEAR}-03-12",
        **changes,
    )


def settle(world: World, claim: dict[str, Any], level: int = 3) -> str:
    response = world.client.post(
        "/v1/settlements", json=claim, headers=world.hospital_headers(level)
    )
    assert response.status_code == 201, response.text
    settlement_id: str = response.json()["settlement_id"]
    return settlement_id


def reverse(world: World, settlement_id: str, level: int = 3) -> None:
    response: httpx.Response = world.client.post(
        f"/v1/settlements/{settlement_id}/reversal",
        json={"reason": "医院冲正：核对台账"},
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 200, response.text


def settle_and_reverse_a_few(world: World) -> None:
    """Settlements and reversals of several persons, examples and levels, mostly in YEAR."""
    first = settle(world, claim_in_year(world))
    settle(world, claim_in_year(world, "e1", person="none"))
    settle(world, claim_in_year(world, "e4", person="registered_poor", level=2), level=2)
    settle(world, world.claim("e2"))  # a 2018 settlement too, for the unfiltered run
    reverse(world, first)
    again = settle(world, claim_in_year(world))
    reverse(world, again)
    settle(world, claim_in_year(world, "e2", person="destitute"))


def count(engine: Engine, table: Table, year: int | None = None) -> int:
    """Rows of an accumulator, settlement or posting table (of one policy year)."""
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


def ours(differences: list[Difference], *keys: str) -> set[tuple[str, str, Any, Any]]:
    """The differences naming one of these rows' keys (settlement or person ids)."""
    return {
        (difference.kind, difference.where, difference.expected, difference.found)
        for difference in differences
        if any(key in difference.where for key in keys)
    }


# ---------------------------------------------------------------- planting


def _where(table: Table, key: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in key.items()]


@contextmanager
def _packed_line_changed(
    engine: Engine, settlement_id: str, position: int, field: str
) -> Iterator[None]:
    """Add one fen to one amount of one packed line behind the service's back; put it back."""
    where = SETTLEMENT.c.settlement_id == settlement_id
    with engine.begin() as connection:
        original: str = connection.execute(select(SETTLEMENT.c.lines).where(where)).scalar_one()
        lines = json.loads(original)
        lines[position][PACKED_LINE_FIELDS.index(field)] += 1
        connection.execute(update(SETTLEMENT).where(where).values(lines=json.dumps(lines)))
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(update(SETTLEMENT).where(where).values(lines=original))


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


def _settlement_fund_total(engine: Engine, settlement_id: str) -> int:
    with engine.connect() as connection:
        total: int = connection.execute(
            select(SETTLEMENT.c.fund_total_fen).where(SETTLEMENT.c.settlement_id == settlement_id)
        ).scalar_one()
    return total


@dataclass(frozen=True)
class Planted:
    """A corruption in place: the key that names its rows, the differences it must cause (as
    `ours` gives them), and what the command must print about it."""

    key: str
    differences: set[tuple[str, str, Any, Any]]
    shown: tuple[str, ...]
    message: str | None = None
    """A text one of its differences' messages must hold."""


Corruption = Callable[[World, Engine], AbstractContextManager[Planted]]


@contextmanager
def accumulator_changed(world: World, engine: Engine) -> Iterator[Planted]:
    """An accumulator one fen off (with a settlement and a reversal behind it)."""
    settle(world, claim_in_year(world))
    reverse(world, settle(world, claim_in_year(world)))
    person = world.persons["dibao"]
    where = f"accumulator {person}/{YEAR}"
    key = {"person_id": person, "year": YEAR}
    with _changed(engine, ACCUMULATOR, key, "basic_paid_fen") as original:
        yield Planted(
            person, {("accumulator", where, original, original + 1)}, (where, "basic_paid_fen")
        )


@contextmanager
def accumulator_missing(world: World, engine: Engine) -> Iterator[Planted]:
    """A missing accumulator with a settled settlement behind it."""
    settle(world, claim_in_year(world))
    person = world.persons["dibao"]
    where = f"accumulator {person}/{YEAR}"
    with _deleted(engine, ACCUMULATOR, {"person_id": person, "year": YEAR}):
        yield Planted(person, {("accumulator_missing", where, "1 admissions", None)}, (where,))


@contextmanager
def line_patient_pay_changed(world: World, engine: Engine) -> Iterator[Planted]:
    """A line whose patient pay is one fen off: its settlement no longer conserves."""
    settlement_id = settle(world, claim_in_year(world))
    with _packed_line_changed(engine, settlement_id, 0, "patient_pay_fen"):
        yield Planted(
            settlement_id,
            {("conservation", f"settlement {settlement_id}", "balanced", "unbalanced")},
            (f"settlement {settlement_id}", "line 1"),
            "line 1: amount ≠ funds + patient",
        )


@contextmanager
def posting_amount_changed(world: World, engine: Engine) -> Iterator[Planted]:
    """A 'settle' posting one fen off its fund's paid amount."""
    settlement_id = settle(world, claim_in_year(world))
    fund = "critical_illness"
    paid = _fund_paid(engine, settlement_id, fund)
    key = {"settlement_id": settlement_id, "fund": fund, "kind": "settle"}
    where = f"fund_posting {settlement_id}/{fund}/settle"
    with _changed(engine, POSTINGS, key, "amount_fen"):
        fund_total = _settlement_fund_total(engine, settlement_id)
        yield Planted(
            settlement_id,
            {
                ("posting_amount", where, paid, paid + 1),
                ("posting_total", f"settlement {settlement_id}", fund_total, fund_total + 1),
            },
            (where,),
        )


@contextmanager
def reversal_posting_deleted(world: World, engine: Engine) -> Iterator[Planted]:
    """A reversed settlement missing one of its 'reversal' postings."""
    settlement_id = settle(world, claim_in_year(world))
    reverse(world, settlement_id)
    fund = "basic_insurance"
    paid = _fund_paid(engine, settlement_id, fund)
    assert paid > 0
    key = {"settlement_id": settlement_id, "fund": fund, "kind": "reversal"}
    where = f"fund_posting {settlement_id}/{fund}/reversal"
    with _deleted(engine, POSTINGS, key) as posting:
        assert posting["amount_fen"] == -paid
        yield Planted(
            settlement_id,
            {
                ("posting_count", where, 1, 0),
                ("posting_total", f"settlement {settlement_id}", 0, paid),
            },
            (where,),
        )


CORRUPTIONS: dict[str, Corruption] = {
    "an accumulator changed": accumulator_changed,
    "an accumulator deleted with settlements behind it": accumulator_missing,
    "a line's patient pay changed": line_patient_pay_changed,
    "a posting's amount changed": posting_amount_changed,
    "a reversal posting deleted": reversal_posting_deleted,
}
"""Each corruption by a readable name (the tests' parameter ids)."""
