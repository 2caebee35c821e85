"""Realistic discharge claims, reproducible by seed, for benchmarks, load tests and demos.

Pure: the caller passes a seeded `random.Random` and the catalog with a typical unit price per
item (the tariff files' `reference_price`); the same seed gives the same claims. Bills follow
skewed distributions: many cheap drug lines, fewer services, a few costly materials, unit
prices scattered around the reference and now and then above an item's price cap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from moneyed import Money

from settlement.model import Claim, ClaimLine, ItemKind
from settlement.money import CNY
from settlement.tariff import CatalogItem

LISTED_DIAGNOSES = ("C34.1", "C16.9", "C50.9", "I21.0", "I63.9", "H25.9", "Q21.0", "C91.0")
"""Primary diagnoses of listed charity diseases (the last two have an age limit of 14)."""
OTHER_DIAGNOSES = ("K80.1", "J18.9", "I10", "E11.9", "K35.8", "S72.0", "N39.0", "J44.1")
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PricedItem:
    item: CatalogItem
    reference_price: Decimal


def _quantity(rng: random.Random, kind: ItemKind) -> Decimal:
    if kind is ItemKind.MATERIAL:
        return Decimal(rng.choice((1, 1, 1, 2)))
    if kind is ItemKind.SERVICE:
        return Decimal(max(1, int(rng.lognormvariate(1.2, 0.8))))
    if rng.randrange(100) < 10:
        return Decimal(rng.choice(("0.5", "1.5", "2.25", "0.3333")))
    return Decimal(max(1, int(rng.lognormvariate(1.8, 0.9))))


def _unit_price(rng: random.Random, priced: PricedItem) -> Decimal:
    cap_micro = priced.item.unit_price_cap_micro
    if cap_micro is not None and rng.randrange(100) < 20:
        # Some hospitals bill above the catalog's cap: the excess is over-cap self-pay.
        over = Decimal(cap_micro).scaleb(-6) * Decimal(rng.choice(("1.05", "1.125", "1.5")))
        return over.quantize(_CENT, rounding=ROUND_HALF_UP)
    factor = Decimal(rng.randint(90, 110)) / 100
    return max(_CENT, (priced.reference_price * factor).quantize(_CENT, rounding=ROUND_HALF_UP))


def generate_lines(
    rng: random.Random, catalog: Sequence[PricedItem], count: int
) -> tuple[ClaimLine, ...]:
    """`count` billed lines with amounts exactly round(quantity × unit price)."""
    by_kind = {kind: [p for p in catalog if p.item.kind is kind] for kind in ItemKind}
    kinds = (ItemKind.DRUG, ItemKind.SERVICE, ItemKind.MATERIAL)
    weights = (60, 32, 8)
    lines = []
    for line_no in range(1, count + 1):
        kind = rng.choices(kinds, weights)[0]
        priced = rng.choice(by_kind[kind] or list(catalog))
        quantity = _quantity(rng, priced.item.kind)
        price = _unit_price(rng, priced)
        amount = (quantity * price).quantize(_CENT, rounding=ROUND_HALF_UP)
        lines.append(
            ClaimLine(line_no, priced.item.code, quantity, Money(price, CNY), Money(amount, CNY))
        )
    return tuple(lines)


def generate_claim(
    rng: random.Random,
    catalog: Sequence[PricedItem],
    *,
    claim_id: str,
    hospital_id: str,
    person_id: str,
    year: int,
    line_count: int,
    listed_percent: int = 30,
) -> Claim:
    """One discharge claim in `year`; a share of them for a listed disease with surgery."""
    admission = date(year, 1, 1) + timedelta(days=rng.randrange(0, 330))
    discharge = admission + timedelta(days=int(rng.lognormvariate(2.0, 0.6)))
    listed = rng.randrange(100) < listed_percent
    primary = rng.choice(LISTED_DIAGNOSES if listed else OTHER_DIAGNOSES)
    secondary = tuple(rng.sample(OTHER_DIAGNOSES, rng.randint(0, 2)))
    return Claim(
        claim_id=claim_id,
        hospital_id=hospital_id,
        person_id=person_id,
        admission_date=admission,
        discharge_date=min(discharge, date(year, 12, 31)),
        diagnoses=(primary, *(code for code in secondary if code != primary)),
        surgery=listed or rng.randrange(100) < 30,
        lines=generate_lines(rng, catalog, line_count),
    )


def skewed_line_count(rng: random.Random, maximum: int = 600) -> int:
    """Lines on a bill: most stays bill a few dozen, a long tail bills hundreds."""
    return max(1, min(maximum, int(rng.lognormvariate(3.3, 0.7))))
