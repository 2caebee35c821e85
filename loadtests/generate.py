"""Realistic discharge claims, reproducible by seed, for benchmarks, load tests and demos.

Pure: the caller passes a seeded `random.Random`, the catalogs with a typical unit price per
item (the tariff files' `reference_price`) and the tariff book; the same seed gives the same
claims. Bills follow skewed distributions: many cheap drug lines, fewer services, a few costly
materials, unit prices scattered around the reference and now and then above an item's cap.

`generate_stay` chooses the person for a hospital and the shape of the stay, with knobs (`Mix`)
whose defaults give the mix the load test sends (each can be forced to 0 or 100 by a test):

- `cross_region_percent` (10): the person is insured in another region than the hospital's
  (异地就医), and the claim carries a filing drawn from the four kinds (rules §12);
- `rule_breaking_percent` (5): one line breaks a rule of the treatment region's catalog
  (rules §14: a per-day item billed for more days than the stay, a capped quantity exceeded, a
  gender item for the other gender, an age item outside its ages). Every other line keeps to
  the rule data, so a claim without a broken rule gets no finding;
- `health_fund_percent` (50): a stay the health fund would pay for in the following year (the
  person's group and the hospital's level are the insured region's `health_fund` ones, in
  region) is discharged in that year, where the health fund pays (rules §13).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Protocol

from moneyed import Money

from settlement.engine import select_group
from settlement.model import Claim, ClaimLine, Filing, Gender, ItemKind, Person
from settlement.money import CNY
from settlement.rules import QUANTITY_UNIT, RuleContext, format_quantity
from settlement.tariff import CatalogItem, ItemRules, Tariff, TariffBook

LISTED_DIAGNOSES = ("C34.1", "C16.9", "C50.9", "I21.0", "I63.9", "H25.9", "Q21.0", "C91.0")
"""Primary diagnoses of listed charity diseases (the last two have an age limit of 14)."""
OTHER_DIAGNOSES = ("K80.1", "J18.9", "I10", "E11.9", "K35.8", "S72.0", "N39.0", "J44.1")
CROSS_REGION_PERCENT: Final[int] = 10
RULE_BREAKING_PERCENT: Final[int] = 5
HEALTH_FUND_PERCENT: Final[int] = 50
LISTED_PERCENT: Final[int] = 30
_CENT = Decimal("0.01")
_UNLIMITED: Final[int] = 1 << 62
_KINDS = (ItemKind.DRUG, ItemKind.SERVICE, ItemKind.MATERIAL)
_KIND_WEIGHTS = (60, 32, 8)


@dataclass(frozen=True, slots=True)
class PricedItem:
    item: CatalogItem
    reference_price: Decimal


@dataclass(frozen=True, slots=True)
class PricedCatalogs:
    """Every tariff's catalog with typical prices, and the book that says which is in force."""

    book: TariffBook
    by_version: Mapping[str, Sequence[PricedItem]]

    def in_force(self, region: str, year: int) -> tuple[Tariff, Sequence[PricedItem]]:
        """The region's tariff and priced catalog for stays discharged in `year`.

        The stays of a year are admitted and discharged within it, so one tariff must cover
        the whole year (the shipped ones run by calendar years or longer)."""
        tariff = self.book.select(region, date(year, 1, 1))
        assert tariff is not None, f"no tariff of region {region} in force in {year}"
        assert tariff.in_force_on(date(year, 12, 31)), f"{tariff.version} ends within {year}"
        return tariff, self.by_version[tariff.version]


@dataclass(frozen=True, slots=True)
class Hospital:
    """What a stay needs of its hospital."""

    hospital_id: str
    level: int
    region: str


class Persons(Protocol):
    """A population the generator draws persons from, by insured region."""

    @property
    def regions(self) -> frozenset[str]: ...

    def draw(self, rng: random.Random, region: str) -> Person: ...


@dataclass(frozen=True, slots=True)
class PersonPool:
    """A population held as a list of persons (the tests, the prefill)."""

    by_region: Mapping[str, Sequence[Person]]

    @classmethod
    def of(cls, persons: Sequence[Person]) -> PersonPool:
        by_region: dict[str, list[Person]] = {}
        for person in persons:
            by_region.setdefault(person.insured_region, []).append(person)
        return cls(by_region)

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(self.by_region)

    def draw(self, rng: random.Random, region: str) -> Person:
        persons = self.by_region[region]
        return persons[rng.randrange(len(persons))]


@dataclass(frozen=True, slots=True)
class Stay:
    """A generated claim with the person and the hospital it is settled for."""

    claim: Claim
    person: Person
    hospital: Hospital

    @property
    def cross_region(self) -> bool:
        return self.person.insured_region != self.hospital.region


@dataclass(frozen=True, slots=True)
class Mix:
    """The generator's knobs, in percent; the defaults are the load test's mix."""

    cross_region_percent: int = CROSS_REGION_PERCENT
    """Stays of a person insured in another region than the hospital's, with a filing."""
    rule_breaking_percent: int = RULE_BREAKING_PERCENT
    """Claims with one line that breaks a rule of the catalog's rule data."""
    health_fund_percent: int = HEALTH_FUND_PERCENT
    """Stays the following year's health fund would pay for, discharged in that year."""
    listed_percent: int = LISTED_PERCENT
    """Claims for a listed charity disease, with surgery."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            assert 0 <= getattr(self, name) <= 100, (name, self)


def generate_stay(
    rng: random.Random,
    catalogs: PricedCatalogs,
    hospital: Hospital,
    persons: Persons,
    *,
    claim_id: str,
    line_count: int,
    year: int = 2018,
    mix: Mix = Mix(),
) -> Stay:
    """A stay at `hospital` of a person drawn from `persons`, in `year` or the next (the
    module's docstring says when).

    A population with no person of the hospital's region gives a cross-region stay; one with
    no person of another region an in-region stay, whatever the mix says."""
    home = hospital.region
    others = sorted(persons.regions - {home})
    # With no person of the hospital's region every stay is cross-region; with no other
    # region none is; otherwise the knob decides.
    cross = home not in persons.regions or (
        bool(others) and rng.randrange(100) < mix.cross_region_percent
    )
    region = home
    if cross:
        region = others[0] if len(others) == 1 else others[rng.randrange(len(others))]
    person = persons.draw(rng, region)
    filing = rng.choice(tuple(Filing)) if cross else None
    if (
        not cross
        and _health_fund_covers(catalogs.book, person, hospital.level, year + 1)
        and rng.randrange(100) < mix.health_fund_percent
    ):
        year += 1
    _, catalog = catalogs.in_force(home, year)
    claim = generate_claim(
        rng, catalog, claim_id=claim_id, hospital_id=hospital.hospital_id, person=person,
        year=year, line_count=line_count, listed_percent=mix.listed_percent, filing=filing,
        rule_breaking_percent=mix.rule_breaking_percent,
    )  # fmt: skip
    return Stay(claim, person, hospital)


def _health_fund_covers(book: TariffBook, person: Person, level: int, year: int) -> bool:
    """Whether the person's own region's health fund pays for an in-region stay at this level
    all through `year` (the group held on its first and last day)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    policy = book.select(person.insured_region, first)
    if policy is None or policy.health_fund is None or not policy.in_force_on(last):
        return False
    fund = policy.health_fund
    if level not in fund.hospital_levels:
        return False
    groups = {select_group(person, policy, first), select_group(person, policy, last)}
    return len(groups) == 1 and groups <= fund.groups


def generate_claim(
    rng: random.Random,
    catalog: Sequence[PricedItem],
    *,
    claim_id: str,
    hospital_id: str,
    person: Person,
    year: int,
    line_count: int,
    listed_percent: int = LISTED_PERCENT,
    filing: Filing | None = None,
    rule_breaking_percent: int = RULE_BREAKING_PERCENT,
) -> Claim:
    """One discharge claim in `year` read against `catalog` (the treatment region's); a share
    for a listed disease with surgery, a share with one line that breaks a rule."""
    admission = date(year, 1, 1) + timedelta(days=rng.randrange(0, 330))
    discharge = min(
        admission + timedelta(days=int(rng.lognormvariate(2.0, 0.6))), date(year, 12, 31)
    )
    listed = rng.randrange(100) < listed_percent
    primary = rng.choice(LISTED_DIAGNOSES if listed else OTHER_DIAGNOSES)
    secondary = tuple(rng.sample(OTHER_DIAGNOSES, rng.randint(0, 2)))
    surgery = listed or rng.randrange(100) < 30
    context = RuleContext.of(person, admission, discharge)
    lines = generate_lines(rng, catalog, line_count, context)
    if rng.randrange(100) < rule_breaking_percent:
        lines = _break_a_rule(rng, catalog, lines, context)
    return Claim(
        claim_id=claim_id,
        hospital_id=hospital_id,
        person_id=person.person_id,
        admission_date=admission,
        discharge_date=discharge,
        diagnoses=(primary, *(code for code in secondary if code != primary)),
        surgery=surgery,
        lines=lines,
        filing=filing,
    )


def generate_lines(
    rng: random.Random, catalog: Sequence[PricedItem], count: int, context: RuleContext
) -> tuple[ClaimLine, ...]:
    """`count` billed lines with amounts exactly round(quantity × unit price), every one within
    its item's rule data for this patient and stay (no rule of section 14 acts on them)."""
    by_kind = {kind: [p for p in catalog if p.item.kind is kind] for kind in ItemKind}
    allowances = _Allowances(context)
    lines = []
    for line_no in range(1, count + 1):
        kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
        pool = by_kind[kind] or list(catalog)
        drawn = rng.randrange(len(pool))
        quantity = _quantity(rng, pool[drawn].item.kind)
        priced, quantity = allowances.fit(pool, drawn, quantity)
        price = _unit_price(rng, priced)
        lines.append(_line(line_no, priced, quantity, price))
    return tuple(lines)


class _Allowances:
    """What the rule data still allows of each item code on this claim (rules §14): the
    per-day and the per-admission allowances, spent line by line as the engine spends them."""

    __slots__ = ("context", "max_left", "per_day_left")

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.per_day_left: dict[str, int] = {}
        self.max_left: dict[str, int] = {}

    def fit(
        self, pool: Sequence[PricedItem], drawn: int, quantity: Decimal
    ) -> tuple[PricedItem, Decimal]:
        """The drawn item with as much of `quantity` as its rules allow, or else the next item
        of the pool that allows some: no extra draw, so a bill of items without rule data
        stays the one the seed gave before rule data existed."""
        wanted = int(quantity * QUANTITY_UNIT)
        for offset in range(len(pool)):
            priced = pool[(drawn + offset) % len(pool)]
            rules = priced.item.rules
            if rules is None:
                return priced, quantity
            units = min(wanted, self._left(priced.item.code, rules))
            if units > 0:
                self._spend(priced.item.code, rules, units)
                return priced, quantity if units == wanted else Decimal(format_quantity(units))
        raise AssertionError("no item of the pool is allowed for this patient")

    def _left(self, code: str, rules: ItemRules) -> int:
        context = self.context
        if rules.gender is not None and context.gender is not rules.gender:
            return 0  # also for a person of unknown gender, who would draw a warning
        if rules.age_min is not None and context.age < rules.age_min:
            return 0
        if rules.age_max is not None and context.age > rules.age_max:
            return 0
        left = _UNLIMITED
        if rules.per_day:
            left = self.per_day_left.get(code, context.days * QUANTITY_UNIT)
        if rules.max_quantity_units is not None:
            left = min(left, self.max_left.get(code, rules.max_quantity_units))
        return left

    def _spend(self, code: str, rules: ItemRules, units: int) -> None:
        if rules.per_day:
            days_units = self.context.days * QUANTITY_UNIT
            self.per_day_left[code] = self.per_day_left.get(code, days_units) - units
        if rules.max_quantity_units is not None:
            self.max_left[code] = self.max_left.get(code, rules.max_quantity_units) - units


def _break_a_rule(
    rng: random.Random,
    catalog: Sequence[PricedItem],
    lines: tuple[ClaimLine, ...],
    context: RuleContext,
) -> tuple[ClaimLine, ...]:
    """The lines with one replaced by a line that breaks a rule of the catalog's rule data
    for this patient and stay; the lines unchanged when the catalog has no such rule."""
    breaches: list[tuple[PricedItem, int]] = []
    """Each breach: the item and the quantity that breaks its rule, in ten-thousandths."""
    for priced in catalog:
        rules = priced.item.rules
        if rules is None:
            continue
        if rules.per_day:
            breaches.append((priced, context.days * QUANTITY_UNIT))
        if rules.max_quantity_units is not None:
            breaches.append((priced, rules.max_quantity_units))
        if rules.gender is not None and context.gender not in (rules.gender, Gender.UNKNOWN):
            breaches.append((priced, 0))
        too_young = rules.age_min is not None and context.age < rules.age_min
        too_old = rules.age_max is not None and context.age > rules.age_max
        if too_young or too_old:
            breaches.append((priced, 0))
    if not breaches or not lines:
        return lines
    priced, allowed_units = breaches[rng.randrange(len(breaches))]
    # One or two over what the rule allows: a bed day or two too many, M0001 billed 4 or 5.
    over_units = (rng.randint(1, 2) if allowed_units else 1) * QUANTITY_UNIT
    quantity = Decimal(format_quantity(allowed_units + over_units))
    position = rng.randrange(len(lines))
    replaced = _line(lines[position].line_no, priced, quantity, _unit_price(rng, priced))
    return (*lines[:position], replaced, *lines[position + 1 :])


def _line(line_no: int, priced: PricedItem, quantity: Decimal, price: Decimal) -> ClaimLine:
    amount = (quantity * price).quantize(_CENT, rounding=ROUND_HALF_UP)
    return ClaimLine(line_no, priced.item.code, quantity, Money(price, CNY), Money(amount, CNY))


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


def skewed_line_count(rng: random.Random, maximum: int = 600) -> int:
    """Lines on a bill: most stays bill a few dozen, a long tail bills hundreds."""
    return max(1, min(maximum, int(rng.lognormvariate(3.3, 0.7))))
