"""The claim generator: reproducible by seed, and every bill valid for the default catalog."""

from __future__ import annotations

import random
from datetime import date

from loadtests.generate import PricedItem, generate_claim, skewed_line_count
from settlement.engine import settle
from settlement.model import Accumulators, Claim, Group, Person, Status
from settlement.result import Settlement
from tariffs import load_default

LOADED = load_default()
CATALOG = [
    PricedItem(entry.item, entry.reference_price)
    for entry in LOADED.catalogs["220000-2018"].values()
    if entry.reference_price is not None
]


def _claims(seed: int, count: int) -> list[Claim]:
    rng = random.Random(seed)
    return [
        generate_claim(
            rng,
            CATALOG,
            claim_id=f"C{index}",
            hospital_id="H1",
            person_id="P1",
            year=2018,
            line_count=skewed_line_count(rng),
        )
        for index in range(count)
    ]


def test_the_same_seed_gives_the_same_claims() -> None:
    assert _claims(7, 20) == _claims(7, 20)


def test_another_seed_gives_other_claims() -> None:
    assert _claims(7, 20) != _claims(8, 20)


def test_every_generated_claim_settles_for_every_group() -> None:
    people = [
        Person("P1", date(1960, 1, 1), "220000"),
        *(
            Person("P1", date(2010, 1, 1), "220000", (Status(g, date(2017, 1, 1), None),))
            for g in Group
        ),
    ]
    over_cap_seen = False
    for index, claim in enumerate(_claims(11, 60)):
        result = settle(
            claim, people[index % len(people)], 1 + index % 3, Accumulators(2018), LOADED.book
        )
        assert isinstance(result, Settlement), result
        over_cap_seen |= result.totals.over_cap_selfpay_fen > 0
    assert over_cap_seen, "some bills should price an item above its cap"
