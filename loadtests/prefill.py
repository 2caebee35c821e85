"""Fill a database with many settlements fast, for measuring throughput on a full database.

    python -m loadtests.prefill --settlements 1000000 [--lines 30] [--persons 100000]

Claims are generated (reproducibly by seed, the load test's mix: a share cross-region, a share
breaking a rule, health-fund stays in the following year) and settled with the pure engine in
this process, then written through the settlement store's one write function (`api.db.store`)
in large batches, accumulators carried forward per person and year, so `onestop ledger verify`
holds afterwards.
It writes to the database named by ONESTOP_DATABASE_URL, whose population `onestop demo seed
--persons` made. This is a tool for operators' capacity tests, not a path for real settlements.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from api.core.config import Settings
from api.db import store
from api.db.engine import make_engine
from api.db.rows import ClaimInputs, person_to_engine
from api.db.tables import HOSPITAL, PERSON, PERSON_STATUS
from loadtests.claims import catalogs
from loadtests.generate import Hospital, PersonPool, generate_stay
from settlement.engine import settle
from settlement.model import AccumulatorsFen, Person
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import load_default

BATCH = 2_000
YEAR = 2018
"""The year of the stays; the health fund's stays are discharged in the next (`generate`)."""
STAMPED_FROM = datetime(YEAR, 1, 2, tzinfo=UTC) - timedelta(days=3650)
"""Old settlements: stamped years before any load test, so today's totals are not theirs."""


def _persons(connection: Any, count: int) -> list[Person]:
    people = {
        row.person_id: row
        for row in connection.execute(
            select(PERSON)
            .where(PERSON.c.person_id.like("LP%"))
            .order_by(PERSON.c.person_id)
            .limit(count)
        )
    }
    statuses: dict[str, list[Any]] = {}
    for row in connection.execute(
        select(PERSON_STATUS).where(PERSON_STATUS.c.person_id.in_(list(people)))
    ):
        statuses.setdefault(row.person_id, []).append(row)
    return [person_to_engine(row, statuses.get(person_id, [])) for person_id, row in people.items()]


class Prefill:
    """The population, the tariffs and each person's accumulators as the batches go on."""

    def __init__(self, engine: Engine, book: TariffBook, args: argparse.Namespace) -> None:
        self.engine = engine
        self.book = book
        self.lines = args.lines
        self.rng = random.Random(args.seed)
        with engine.connect() as connection:
            persons = _persons(connection, args.persons)
            sites = {
                row.hospital_id: Hospital(row.hospital_id, row.level, row.region)
                for row in connection.execute(select(HOSPITAL))
            }
        self.persons = PersonPool.of(persons)
        self.hospitals = [sites[h] for h in sorted(sites) if h.startswith("LH")][: args.hospitals]
        if not persons or not self.hospitals:
            raise SystemExit(
                "seed the population first: onestop demo seed --persons N --hospitals M"
            )
        self.accumulators: dict[tuple[str, int], AccumulatorsFen] = {}

    def settle(self, index: int) -> store.NewSettlement:
        hospital = self.hospitals[self.rng.randrange(len(self.hospitals))]
        stay = generate_stay(
            self.rng, catalogs(), hospital, self.persons, claim_id=f"PF{index}",
            line_count=self.lines, year=YEAR,
        )  # fmt: skip
        claim, person = stay.claim, stay.person
        key = (person.person_id, claim.policy_year)
        before = self.accumulators.get(key, AccumulatorsFen.empty(claim.policy_year))
        result = settle(
            claim, person, hospital.level, before.to_money(), self.book, hospital.region
        )
        assert isinstance(result, Settlement), result
        self.accumulators[key] = result.accumulators_after_fen
        moment = STAMPED_FROM + timedelta(seconds=index)
        inputs = ClaimInputs.of(claim, person, hospital.level)
        return store.NewSettlement(result, f"PF{index:012d}", "prefill", moment, inputs)

    def write(self, start: int, count: int) -> None:
        batch = [self.settle(index) for index in range(start, start + count)]
        with self.engine.begin() as connection:
            store.write_settlements(connection, batch)
            store.raise_alerts(connection, batch)  # a crossing raises its alert (rules §16)

    def write_accumulators(self) -> None:
        with self.engine.begin() as connection:
            for (person_id, year), after in self.accumulators.items():
                store.ensure_accumulators(connection, person_id, year)
                store.write_accumulators(connection, person_id, after)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settlements", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--hospitals", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    prefill = Prefill(make_engine(Settings()), load_default().book, args)
    started = time.perf_counter()
    written = 0
    while written < args.settlements:
        count = min(BATCH, args.settlements - written)
        prefill.write(written, count)
        written += count
        rate = written / (time.perf_counter() - started)
        print(f"\r{written:,} settlements written ({rate:,.0f}/s)", end="", flush=True)
    prefill.write_accumulators()
    print(f"\ndone: {written:,} settlements in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
