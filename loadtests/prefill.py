"""Fill a database with many settlements fast, for measuring throughput on a full database.

    python -m loadtests.prefill --settlements 1000000 [--lines 30] [--persons 100000]

Claims are generated (reproducibly by seed) and settled with the pure engine in this process,
then written with the service's own row conversions in large batches, accumulators carried
forward per person, so `onestop ledger verify` holds afterwards. It writes to the database
named by ONESTOP_DATABASE_URL, whose population `onestop demo seed --persons` made. This is
a tool for operators' capacity tests, not a path for real settlements.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

import api.models  # noqa: F401 - registers the tables
from api.convert import (
    fund_row_values,
    line_row_values,
    person_to_engine,
    posting_values,
    settlement_row_values,
)
from api.core.config import Settings
from api.db import make_engine
from loadtests.claims import catalog
from settlement.engine import settle
from settlement.generate import generate_claim
from settlement.model import AccumulatorsFen, Person
from settlement.result import Settlement
from tariffs import load_default

BATCH = 2_000


def _persons(connection: Any, count: int) -> list[Person]:
    tables = SQLModel.metadata.tables
    people = {
        row.person_id: row
        for row in connection.execute(
            select(tables["person"])
            .where(tables["person"].c.person_id.like("LP%"))
            .order_by(tables["person"].c.person_id)
            .limit(count)
        )
    }
    statuses: dict[str, list[Any]] = {}
    for row in connection.execute(
        select(tables["person_status"]).where(tables["person_status"].c.person_id.in_(list(people)))
    ):
        statuses.setdefault(row.person_id, []).append(row)
    return [person_to_engine(row, statuses.get(person_id, [])) for person_id, row in people.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settlements", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--hospitals", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    tables = SQLModel.metadata.tables
    engine = make_engine(Settings())
    book = load_default().book
    rng = random.Random(args.seed)
    with engine.connect() as connection:
        persons = _persons(connection, args.persons)
        levels = {
            row.hospital_id: row.level for row in connection.execute(select(tables["hospital"]))
        }
    hospitals = sorted(h for h in levels if h.startswith("LH"))[: args.hospitals]
    if not persons or not hospitals:
        raise SystemExit("seed the population first: onestop demo seed --persons N --hospitals M")
    accumulators: dict[str, AccumulatorsFen] = {}
    start_time = datetime(2018, 1, 2, tzinfo=UTC) - timedelta(days=3650)
    started = time.perf_counter()
    written = 0
    while written < args.settlements:
        count = min(BATCH, args.settlements - written)
        rows: dict[str, list[dict[str, Any]]] = {
            "settlement": [],
            "settlement_line": [],
            "settlement_fund": [],
            "fund_posting": [],
        }
        for index in range(written, written + count):
            person = persons[rng.randrange(len(persons))]
            hospital = hospitals[rng.randrange(len(hospitals))]
            claim = generate_claim(rng, catalog(), claim_id=f"PF{index}", hospital_id=hospital,
                                   person_id=person.person_id, year=2018, line_count=args.lines)  # fmt: skip
            before = accumulators.get(person.person_id, AccumulatorsFen.empty(2018))
            result = settle(claim, person, levels[hospital], before.to_money(), book)
            assert isinstance(result, Settlement), result
            accumulators[person.person_id] = result.accumulators_after_fen
            settlement_id = f"PF{index:012d}"
            # Old settlements: stamped years before any load test, so today's totals are not theirs.
            moment = start_time + timedelta(seconds=index)
            rows["settlement"].append(
                settlement_row_values(
                    result, settlement_id=settlement_id, claim_hash="prefill", settled_at=moment
                )
            )
            rows["settlement_line"] += line_row_values(settlement_id, result)
            rows["settlement_fund"] += fund_row_values(settlement_id, result)
            paid = [(step.fund.value, step.fund_code, step.paid_fen) for step in result.funds]
            rows["fund_posting"] += posting_values(
                settlement_id, hospital, paid, kind="settle", posted_at=moment
            )
        with engine.begin() as connection:
            for table, values in rows.items():
                connection.execute(insert(tables[table]), values)
        written += count
        rate = written / (time.perf_counter() - started)
        print(f"\r{written:,} settlements written ({rate:,.0f}/s)", end="", flush=True)
    with engine.begin() as connection:
        for person_id, after in accumulators.items():
            values = {"admissions": after.admissions, "basic_paid_fen": after.basic_paid, "ci_base_fen": after.ci_base,
                      "ci_paid_fen": after.ci_paid, "assistance_paid_fen": after.assistance_paid,
                      "charity_paid_fen": after.charity_paid}  # fmt: skip
            updated = connection.execute(
                update(tables["accumulator"])
                .where(
                    tables["accumulator"].c.person_id == person_id,
                    tables["accumulator"].c.year == 2018,
                )
                .values(**values)
            ).rowcount
            if not updated:
                connection.execute(
                    insert(tables["accumulator"]),
                    [{"person_id": person_id, "year": 2018, **values}],
                )
    print(f"\ndone: {written:,} settlements in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
