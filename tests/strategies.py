"""Hypothesis strategies for valid settlement inputs, biased toward the rules' edges.

Every input drawn here is one `settle` must settle (never reject): lines from the default
catalog with amounts computed independently (round half up of quantity × unit price), persons
with or without an assistance group, hospital levels 1..3 and year-to-date accumulators of
the claim's policy year. Draws lean on the edges of SETTLEMENT_RULES.md: zero amounts, prices
at and just above a cap, exact deductible hits, critical-illness band edges, annual caps
nearly or fully used.

The tariffs are loaded once at import time, not through the session fixture, so that
`@given` tests need no function-scoped fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache
from itertools import pairwise
from typing import Final, NamedTuple

from hypothesis import strategies as st

from loadtests.bench import without_rules
from settlement.model import (
    Accumulators,
    Claim,
    ClaimLine,
    Filing,
    Gender,
    Group,
    ItemClass,
    Person,
    Status,
)
from settlement.money import fen_to_money, money
from settlement.tariff import Tariff, TariffBook
from tariffs import load_default

LOADED: Final = load_default()
RULE_BOOK: Final = LOADED.book
"""The shipped tariffs as they are: rule data (§14) on S0001, S0003, M0001, G*, P*; two regions."""


BOOK: Final = without_rules(RULE_BOOK)
"""The book the properties of sections 4–11 settle against: the rule checks never act in it,
so these properties hold the cascade to exactly what it was before section 14; the checks'
own properties (tests/settlement/test_additions_properties.py) use `RULE_BOOK`."""
REGION: Final[str] = "220000"
YEARS: Final[tuple[int, ...]] = (2018, 2019)
CATALOG: Final = LOADED.catalogs["220000-2018"]
assert CATALOG.keys() == LOADED.catalogs["220000-2019"].keys()
CODES: Final[tuple[str, ...]] = tuple(sorted(CATALOG))
CODES_WITH_CAP: Final[tuple[str, ...]] = tuple(
    code
    for code in CODES
    if CATALOG[code].item.unit_price_cap_micro is not None
    and CATALOG[code].item.item_class is not ItemClass.C
)
CODES_A_WITHOUT_CAP: Final[tuple[str, ...]] = tuple(
    code
    for code in CODES
    if CATALOG[code].item.unit_price_cap_micro is None
    and CATALOG[code].item.item_class is ItemClass.A
)
EXPENSIVE_CODES: Final[tuple[str, ...]] = tuple(
    code
    for code in CODES
    if (CATALOG[code].reference_price or Decimal(0)) >= Decimal("1000")
    and CATALOG[code].item.item_class is not ItemClass.C
)

CHARITY_DIAGNOSES: Final[tuple[str, ...]] = ("C34.1", "Q21.0")
"""Listed diseases: lung cancer (any age) and childhood congenital heart disease (age ≤ 14)."""
OTHER_DIAGNOSES: Final[tuple[str, ...]] = ("K80.1", "J18.9", "I10")
"""Diseases the charity list does not name."""

# Default-tariff figures the strategies aim at (DEFAULT_TARIFF.md); the tests read the rest
# from the loaded tariff.
BASIC_CAP_FEN: Final[int] = 150_000_00
CI_CAP_FEN: Final[int] = 300_000_00
CI_DEDUCTIBLES_FEN: Final[tuple[int, ...]] = (5_000_00, 10_000_00)
"""Critical-illness annual deductible with a group's tilt (× 0.5) and without."""
CI_BAND_EDGES_FEN: Final[tuple[int, ...]] = (0, 50_000_00, 100_000_00)
ASSISTANCE_CAPS_FEN: Final[tuple[int, ...]] = (30_000_00, 60_000_00)

LINES_MAX: Final[int] = 60
"""Most lines a generated claim has (the engine allows far more; these keep runs fast)."""

_CENT: Final[Decimal] = Decimal("0.01")
_EXACT: Final[Context] = Context(prec=60)


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """round(quantity × unit price) to the fen, half up, computed independently of the engine."""
    return _EXACT.multiply(quantity, unit_price).quantize(_CENT, rounding=ROUND_HALF_UP)


class LineSplit(NamedTuple):
    """Step 1 of the rules (§4) for one line, in yuan."""

    full_selfpay: Decimal
    over_cap: Decimal
    first_selfpay: Decimal
    in_scope: Decimal


def expected_split(line: ClaimLine) -> LineSplit:
    """§4 computed independently of the engine, with Decimal and ROUND_HALF_UP."""
    item = CATALOG[line.item_code].item
    amount = line.amount.amount
    zero = Decimal("0.00")
    if item.item_class is ItemClass.C:
        return LineSplit(amount, zero, zero, zero)
    over_cap = zero
    price = line.unit_price.amount
    if item.unit_price_cap_micro is not None:
        cap = Decimal(item.unit_price_cap_micro).scaleb(-6)
        if price > cap:
            over_cap = _EXACT.multiply(price - cap, line.quantity)
            over_cap = over_cap.quantize(_CENT, rounding=ROUND_HALF_UP)
    base = amount - over_cap
    first_selfpay = zero
    if item.selfpay_ratio_ppm is not None:
        ratio = Decimal(item.selfpay_ratio_ppm).scaleb(-6)
        first_selfpay = _EXACT.multiply(base, ratio).quantize(_CENT, rounding=ROUND_HALF_UP)
    return LineSplit(zero, over_cap, first_selfpay, base - first_selfpay)


def basic_deductible(level: int, has_group: bool, admissions_before: int) -> Decimal:
    """D1 of the default tariff (§5): by level, halved for a group and for a later admission."""
    deductible = {1: Decimal("200.00"), 2: Decimal("500.00"), 3: Decimal("900.00")}[level]
    if has_group:
        deductible *= Decimal("0.5")
    if admissions_before >= 1:
        deductible *= Decimal("0.5")
    return deductible.quantize(_CENT, rounding=ROUND_HALF_UP)


class SettleInput(NamedTuple):
    """The arguments of `settle` other than the tariff book."""

    claim: Claim
    person: Person
    hospital_level: int
    accumulators: Accumulators


# --- numbers -------------------------------------------------------------------------------


def _decimal_from_units(units: int, places: int) -> Decimal:
    """units × 10**-places, written with exactly `places` decimals."""
    return Decimal(units).scaleb(-places)


def _fraction(places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(1, 100 * 10**places).map(lambda units: _decimal_from_units(units, places))


QUANTITIES: Final[st.SearchStrategy[Decimal]] = st.one_of(
    st.integers(1, 30).map(Decimal),  # whole
    st.integers(1, 30).map(Decimal),
    st.just(Decimal(1)),
    st.integers(1, 99).map(lambda units: _decimal_from_units(units, 4)),  # tiny
    *(_fraction(places) for places in (1, 2, 3, 4)),
    st.integers(31, 500).map(Decimal),  # large
)
"""Positive quantities with up to 4 decimals: one, whole, tiny, fractional, large."""


DEDUCTIBLE_PRICES: Final[tuple[Decimal, ...]] = tuple(
    Decimal(text)
    for text in (
        "50.00",
        "100.00",
        "125.00",
        "200.00",
        "225.00",
        "250.00",
        "450.00",
        "500.00",
        "900.00",
    )
)
"""Every basic deductible D1 of the default tariff (level × group tilt × later admission): a
class-A line at one of these prices, alone on a claim, hits the deductible exactly."""


def _prices(units: st.SearchStrategy[int], places: int) -> st.SearchStrategy[Decimal]:
    return units.map(lambda count: _decimal_from_units(count, places))


@cache
def unit_prices(code: str) -> st.SearchStrategy[Decimal]:
    """Unit prices with up to 6 decimals: zero, the reference price, at or above the cap."""
    entry = CATALOG[code]
    item = entry.item
    reference = entry.reference_price if entry.reference_price is not None else Decimal("10.00")
    reference_price = st.just(reference)
    two_places = _prices(st.integers(0, int(reference * 300)), 2)
    six_places = _prices(st.integers(0, int(reference * 3_000_000)), 6)
    # Repeated entries weigh the draw; zero is an edge, not the common case, and comes last
    # (Hypothesis leans toward the first branch of `one_of`).
    kinds = [reference_price, reference_price, two_places, two_places, six_places, six_places]
    cap_micro = item.unit_price_cap_micro
    if cap_micro is not None:
        kinds += [
            _prices(st.just(cap_micro), 6),  # at the cap
            _prices(st.integers(cap_micro + 1, cap_micro + 9), 6),  # a hair above it
            _prices(st.integers(cap_micro + 1, cap_micro * 3), 6),  # above it
            _prices(st.integers(0, cap_micro - 1), 6),  # below it
        ]
    if item.item_class is ItemClass.A and cap_micro is None:
        kinds.append(st.sampled_from(DEDUCTIBLE_PRICES))
    kinds.append(st.just(Decimal("0.00")))
    return st.one_of(kinds)


# --- claims --------------------------------------------------------------------------------


LINE_CODES: Final[st.SearchStrategy[str]] = st.one_of(
    st.sampled_from(CODES), st.sampled_from(CODES_WITH_CAP), st.sampled_from(EXPENSIVE_CODES)
)
"""Any catalog code, a capped one, or an expensive one (so that caps are reached)."""


@st.composite
def claim_line_parts(draw: st.DrawFn) -> tuple[str, Decimal, Decimal]:
    """(code, quantity, unit price) of one line; codes of all classes, capped and not."""
    code = draw(LINE_CODES)
    return code, draw(QUANTITIES), draw(unit_prices(code))


@st.composite
def claim_lines(draw: st.DrawFn, max_lines: int = LINES_MAX) -> tuple[ClaimLine, ...]:
    """1..max_lines valid lines, numbered 1..n in a drawn order, amounts rounded half up."""
    count = draw(st.one_of(st.integers(1, 3), st.integers(1, max_lines)))
    parts = draw(st.lists(claim_line_parts(), min_size=count, max_size=count))
    numbers = draw(st.permutations(range(1, len(parts) + 1)))
    return tuple(
        ClaimLine(
            line_no=number,
            item_code=code,
            quantity=quantity,
            unit_price=money(price),
            amount=money(line_amount(quantity, price)),
        )
        for number, (code, quantity, price) in zip(numbers, parts, strict=True)
    )


@st.composite
def stay_dates(draw: st.DrawFn, year: int | None = None) -> tuple[date, date]:
    """(admission, discharge), the discharge in 2018 or 2019, the stay 0..60 days long."""
    if year is None:
        year = draw(st.sampled_from(YEARS))
    discharge = draw(
        st.one_of(
            st.sampled_from((date(year, 1, 1), date(year, 12, 31))),
            st.dates(date(year, 1, 1), date(year, 12, 31)),
        )
    )
    length_days = draw(st.one_of(st.just(0), st.integers(0, 60)))
    return discharge - timedelta(days=length_days), discharge


def diagnoses() -> st.SearchStrategy[tuple[str, ...]]:
    """A primary diagnosis, listed or not, and sometimes secondary ones."""
    # Listed diseases weigh double: charity needs a group, surgery and the age limit as well.
    primary = st.sampled_from(CHARITY_DIAGNOSES * 2 + OTHER_DIAGNOSES)
    secondary = st.lists(st.sampled_from(CHARITY_DIAGNOSES + OTHER_DIAGNOSES), max_size=2)
    return st.tuples(primary, secondary).map(lambda pair: (pair[0], *pair[1]))


@st.composite
def claims(
    draw: st.DrawFn, year: int | None = None, max_lines: int = LINES_MAX, claim_no: int = 1
) -> Claim:
    """A claim of the policy year (2018 or 2019 if not given) with 1..max_lines lines."""
    admission, discharge = draw(stay_dates(year))
    return Claim(
        claim_id=f"ZY{discharge:%Y%m%d}{claim_no:03d}",
        hospital_id="H2201001",
        person_id="P0001",
        admission_date=admission,
        discharge_date=discharge,
        diagnoses=draw(diagnoses()),
        surgery=draw(st.booleans()),
        lines=draw(claim_lines(max_lines)),
    )


# --- persons -------------------------------------------------------------------------------


@st.composite
def birth_dates(draw: st.DrawFn, admission: date) -> date:
    """Mostly adults; often a child aged 13, 14 or 15 at admission, birthday edges included."""
    kind = draw(st.sampled_from(("adult", "around_14", "birthday")))
    if kind == "adult":
        return draw(st.dates(date(1930, 1, 1), date(2000, 12, 31)))
    if kind == "birthday":
        # Turns 14 or 15 on the admission day itself, or the day after.
        age = draw(st.sampled_from((14, 15)))
        day_after = draw(st.booleans())
        birthday = _same_day_years_before(admission, age)
        return birthday + timedelta(days=1) if day_after else birthday
    age = draw(st.sampled_from((13, 14, 15)))
    earliest = _same_day_years_before(admission, age + 1) + timedelta(days=1)
    return draw(st.dates(earliest, _same_day_years_before(admission, age)))


def _same_day_years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@st.composite
def statuses(draw: st.DrawFn, discharge: date) -> tuple[Status, ...]:
    """0..3 statuses: valid on the discharge day, expired before it, or starting after it."""
    count = draw(st.integers(0, 3))
    found = []
    for _ in range(count):
        group = draw(st.sampled_from(tuple(Group)))
        kind = draw(st.sampled_from(("open", "ends_on_discharge", "expired", "future", "range")))
        if kind == "open":
            found.append(Status(group, date(2017, 1, 1), None))
        elif kind == "ends_on_discharge":
            found.append(Status(group, date(2017, 1, 1), discharge))
        elif kind == "expired":
            found.append(Status(group, date(2016, 1, 1), discharge - timedelta(days=1)))
        elif kind == "future":
            found.append(Status(group, discharge + timedelta(days=1), None))
        else:
            start = draw(st.dates(date(2016, 1, 1), date(2020, 12, 31)))
            end = draw(st.one_of(st.none(), st.dates(start, date(2020, 12, 31))))
            found.append(Status(group, start, end))
    return tuple(found)


@st.composite
def persons(draw: st.DrawFn, admission: date, discharge: date) -> Person:
    return Person(
        person_id="P0001",
        birth_date=draw(birth_dates(admission)),
        insured_region=REGION,
        statuses=draw(statuses(discharge)),
    )


# --- accumulators --------------------------------------------------------------------------


def near(edge_fen: int, spread_fen: int = 100_00) -> st.SearchStrategy[int]:
    """An amount at an edge, a fen either side, or a little either side (never negative)."""
    offsets = st.one_of(st.sampled_from((0, -1, 1)), st.integers(-spread_fen, spread_fen))
    return offsets.map(lambda offset: max(0, edge_fen + offset))


def up_to(cap_fen: int, spread_fen: int = 1_000_00) -> st.SearchStrategy[int]:
    """0..cap: zero, the cap itself, a fen or a little below it, or anywhere."""
    return st.one_of(
        st.sampled_from((0, cap_fen, cap_fen - 1)),
        st.integers(max(0, cap_fen - spread_fen), cap_fen),
        st.integers(0, cap_fen),
    )


def ci_base_values() -> st.SearchStrategy[int]:
    """Year's critical-illness base: zero, near a deductible or a band edge, or anywhere."""
    edges = [
        deductible + band_edge
        for deductible in CI_DEDUCTIBLES_FEN
        for band_edge in CI_BAND_EDGES_FEN
    ]
    return st.one_of(
        st.just(0),
        st.sampled_from(edges).flatmap(near),
        st.integers(0, 500_000_00),
    )


@dataclass(frozen=True)
class AccumulatorLimits:
    """Upper ends for drawn accumulators; the caps themselves by default."""

    basic_paid_fen: int = BASIC_CAP_FEN
    ci_paid_fen: int = CI_CAP_FEN
    assistance_paid_fen: int = max(ASSISTANCE_CAPS_FEN)


@st.composite
def accumulators(
    draw: st.DrawFn, year: int, limits: AccumulatorLimits | None = None
) -> Accumulators:
    """Year-to-date figures before a claim, each at zero, at or near an edge, or anywhere."""
    if limits is None:
        limits = AccumulatorLimits()
    assistance_edges = [cap for cap in ASSISTANCE_CAPS_FEN if cap <= limits.assistance_paid_fen]
    assistance = st.one_of(
        up_to(limits.assistance_paid_fen),
        st.sampled_from(assistance_edges).flatmap(lambda cap: up_to(cap, 500_00)),
    )
    return Accumulators(
        year=year,
        admissions=draw(st.one_of(st.sampled_from((0, 1)), st.integers(0, 20))),
        basic_paid=fen_to_money(draw(up_to(limits.basic_paid_fen))),
        ci_base=fen_to_money(draw(ci_base_values())),
        ci_paid=fen_to_money(draw(up_to(limits.ci_paid_fen))),
        assistance_paid=fen_to_money(draw(assistance)),
        charity_paid=fen_to_money(draw(st.one_of(st.just(0), st.integers(0, 500_000_00)))),
    )


# --- whole inputs --------------------------------------------------------------------------


@st.composite
def settle_inputs(
    draw: st.DrawFn,
    max_lines: int = LINES_MAX,
    hospital_level: int | None = None,
    *,
    without_group: bool = False,
) -> SettleInput:
    """One valid claim with its person, hospital level and accumulators before it.

    `hospital_level` fixes the level (else 1..3); `without_group` draws persons without any
    status. One input in five has its lines cut and topped up so that the in-scope amount
    hits the basic deductible D1 exactly.
    """
    claim = draw(claims(max_lines=max_lines))
    person = draw(persons(claim.admission_date, claim.discharge_date))
    if without_group:
        person = replace(person, statuses=())
    if hospital_level is None:
        hospital_level = draw(st.integers(1, 3))
    before = draw(accumulators(claim.policy_year))
    if draw(st.integers(0, 4)) == 4:  # one in five, and not the shrinker's favourite
        has_group = any(status.covers(claim.discharge_date) for status in person.statuses)
        deductible = basic_deductible(hospital_level, has_group, before.admissions)
        lines = draw(lines_hitting(claim.lines, deductible))
        claim = replace(claim, lines=lines)
    return SettleInput(claim, person, hospital_level, before)


@st.composite
def lines_hitting(
    draw: st.DrawFn, lines: tuple[ClaimLine, ...], in_scope_target: Decimal
) -> tuple[ClaimLine, ...]:
    """The lines, some dropped and one class-A line added, so in scope is exactly the target.

    Lines are kept in order while their in-scope amounts fit under the target; a class-A line
    without a price cap then makes up the rest (at a price of zero if nothing is missing).
    At most `LINES_MAX` lines come out.
    """
    kept = []
    in_scope = Decimal("0.00")
    for line in lines[: LINES_MAX - 1]:
        line_in_scope = expected_split(line).in_scope
        if in_scope + line_in_scope <= in_scope_target:
            kept.append(line)
            in_scope += line_in_scope
    code = draw(st.sampled_from(CODES_A_WITHOUT_CAP))
    rest = in_scope_target - in_scope
    line_no = max((line.line_no for line in kept), default=0) + 1
    kept.append(ClaimLine(line_no, code, Decimal(1), money(rest), money(rest)))
    return tuple(kept)


class YearOfClaims(NamedTuple):
    """One person's claims of one policy year, each with its hospital level, in order."""

    person: Person
    group: Group | None
    accumulators: Accumulators
    claims: tuple[tuple[Claim, int], ...]


@st.composite
def years_of_claims(draw: st.DrawFn, max_claims: int = 6, max_lines: int = 12) -> YearOfClaims:
    """A person with no group, or one group all year, and a sequence of claims in one year.

    The starting accumulators are within every cap that applies to the person, often right
    below it, so that the sequence reaches the caps, usually in the middle of a claim.
    """
    year = draw(st.sampled_from(YEARS))
    group = draw(st.one_of(st.none(), st.sampled_from(tuple(Group))))
    statuses_held = () if group is None else (Status(group, date(year - 1, 1, 1), None),)
    person = Person("P0001", date(1960, 5, 1), REGION, statuses_held)
    limits = AccumulatorLimits()
    if group is not None:
        tariff = BOOK.select(REGION, date(year, 1, 1))
        assert tariff is not None
        cap_fen = tariff.assistance[group].annual_cap_fen
        assert cap_fen is not None
        limits = AccumulatorLimits(assistance_paid_fen=cap_fen)
    count = draw(st.integers(1, max_claims))
    sequence = tuple(
        (
            draw(claims(year=year, max_lines=max_lines, claim_no=number)),
            draw(st.integers(1, 3)),
        )
        for number in range(1, count + 1)
    )
    return YearOfClaims(person, group, draw(accumulators(year, limits)), sequence)


# --- sections 12–14: two regions, filings, the health fund and the rule items -----------------
#
# Inputs for tests/settlement/test_additions_properties.py. Every input drawn here is valid
# (settled, never rejected) against `RULE_BOOK` and `BOOK` alike: a cross-region claim has a
# filing, an in-region one none, and every discharge date has a tariff in both regions.


REGIONS: Final[tuple[str, ...]] = ("220000", "210000")
"""The two shipped regions; each holds every code of the other's catalog."""
assert all(LOADED.catalogs[version].keys() == CATALOG.keys() for version in LOADED.catalogs)
PER_DAY_CODES: Final[tuple[str, ...]] = ("S0001", "S0003")
"""Items billed at most once per inpatient day (R03)."""
MAX_QUANTITY_CODE: Final[str] = "M0001"
"""The item with a most quantity per admission (R04: 3)."""
GENDER_AND_AGE_CODES: Final[tuple[str, ...]] = ("G0001", "G0002", "P0001", "P0002")
"""Items for one gender (R01) or an age range (R02: P0001 newborns, P0002 60 and over)."""


class AdditionsInput(NamedTuple):
    """The arguments of `settle` other than the tariff book, the hospital's region included."""

    claim: Claim
    person: Person
    hospital_level: int
    accumulators: Accumulators
    hospital_region: str | None
    """None: the hospital is in the person's insured region (as when passing that region)."""

    @property
    def treatment_region(self) -> str:
        if self.hospital_region is None:
            return self.person.insured_region
        return self.hospital_region


@st.composite
def split_quantities(
    draw: st.DrawFn, total_units: int, places: int, max_parts: int = 3
) -> list[Decimal]:
    """`total_units` × 10**-places split into 1..max_parts positive quantities."""
    parts = draw(st.integers(1, min(max_parts, total_units)))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, total_units - 1),
                min_size=parts - 1,
                max_size=parts - 1,
                unique=True,
            )
        )
        if parts > 1
        else []
    )
    bounds = [0, *cuts, total_units]
    return [_decimal_from_units(upper - lower, places) for lower, upper in pairwise(bounds)]


Parts = list[tuple[str, Decimal, Decimal]]
"""(code, quantity, unit price) of lines not yet numbered."""


@st.composite
def per_day_parts(draw: st.DrawFn, code: str, days: int) -> Parts:
    """Lines of a per-day item whose quantities add up to around the stay's days: exactly,
    a day or two either side, or a fraction of a day off; split over 1..3 lines."""
    tenths = draw(
        st.one_of(
            st.just(days * 10),
            st.sampled_from((-20, -10, 10, 20, 30)).map(lambda offset: days * 10 + offset),
            st.integers(days * 10 - 25, days * 10 + 35),
        )
    )
    quantities = draw(split_quantities(max(1, tenths), 1))
    return [(code, quantity, draw(unit_prices(code))) for quantity in quantities]


@st.composite
def rule_item_parts(draw: st.DrawFn, days: int) -> Parts:
    """Lines of the rule items (§14): per-day items around the stay's days, M0001 1..6 over
    up to three lines, and the gender and age items; each kind present or not."""
    parts: Parts = []
    for code in PER_DAY_CODES:
        if draw(st.booleans()):
            parts += draw(per_day_parts(code, days))
    if draw(st.booleans()):
        total = draw(st.integers(1, 6))
        for quantity in draw(split_quantities(total, 0)):
            parts.append((MAX_QUANTITY_CODE, quantity, draw(unit_prices(MAX_QUANTITY_CODE))))
    for code in GENDER_AND_AGE_CODES:
        if draw(st.integers(0, 2)) == 0:
            quantity = draw(st.sampled_from((Decimal(1), Decimal(2), Decimal("0.5"))))
            parts.append((code, quantity, draw(unit_prices(code))))
    return parts


@st.composite
def additions_lines(draw: st.DrawFn, days: int, max_other_lines: int = 6) -> tuple[ClaimLine, ...]:
    """Rule-item lines and ordinary catalog lines (at least one line), in a drawn order and
    numbered in another: the checks must go by line number, not by claim order."""
    parts = draw(rule_item_parts(days))
    parts += draw(
        st.lists(claim_line_parts(), min_size=0 if parts else 1, max_size=max_other_lines)
    )
    parts = draw(st.permutations(parts))
    numbers = draw(st.permutations(range(1, len(parts) + 1)))
    return tuple(
        ClaimLine(number, code, quantity, money(price), money(line_amount(quantity, price)))
        for number, (code, quantity, price) in zip(numbers, parts, strict=True)
    )


@st.composite
def additions_claims(draw: st.DrawFn, year: int, claim_no: int = 1) -> Claim:
    """A claim of the policy year with rule-item and ordinary lines, without a filing."""
    admission, discharge = draw(stay_dates(year))
    days = max(1, (discharge - admission).days)
    return Claim(
        claim_id=f"ZY{discharge:%Y%m%d}{claim_no:03d}",
        hospital_id="H0000001",
        person_id="P0001",
        admission_date=admission,
        discharge_date=discharge,
        diagnoses=draw(diagnoses()),
        surgery=draw(st.booleans()),
        lines=draw(additions_lines(days)),
    )


@st.composite
def additions_birth_dates(draw: st.DrawFn, admission: date) -> date:
    """Newborns (age 0, born on the admission day at the latest), one-year-olds, adults, the
    60th birthday on the admission day or the day after, and the old."""
    kind = draw(st.sampled_from(("newborn", "one", "adult", "sixty", "old", "child")))
    one_year_before = _same_day_years_before(admission, 1)
    if kind == "newborn":
        earliest = one_year_before + timedelta(days=1)
        return draw(
            st.one_of(st.sampled_from((admission, earliest)), st.dates(earliest, admission))
        )
    if kind == "one":
        return draw(st.sampled_from((one_year_before, one_year_before - timedelta(days=1))))
    if kind == "sixty":
        day_after = draw(st.booleans())
        birthday = _same_day_years_before(admission, 60)
        return birthday + timedelta(days=1) if day_after else birthday
    if kind == "old":
        return draw(st.dates(date(1920, 1, 1), _same_day_years_before(admission, 61)))
    if kind == "child":
        return draw(birth_dates(admission))
    return draw(st.dates(date(1960, 1, 1), date(2000, 12, 31)))


def additions_statuses(
    discharge: date, group: Group | None = None
) -> st.SearchStrategy[tuple[Status, ...]]:
    """The given group held all year, or: no status, one group held all year, or 0..3
    statuses of any validity (`statuses`)."""
    if group is not None:
        return st.just((Status(group, date(2016, 1, 1), None),))
    held = st.sampled_from(tuple(Group)).map(lambda drawn: (Status(drawn, date(2016, 1, 1), None),))
    return st.one_of(st.just(()), held, statuses(discharge))


@st.composite
def additions_inputs(
    draw: st.DrawFn,
    *,
    insured_region: str | None = None,
    year: int | None = None,
    cross_region: bool | None = None,
    group: Group | None = None,
    hospital_levels: tuple[int, ...] = (1, 2, 3),
    health_paid_max_fen: int = 5_000_00,
) -> AdditionsInput:
    """One valid claim of sections 12–14 with its person, level, accumulators and hospital
    region. Each keyword fixes what it names; otherwise it is drawn (both regions, both years,
    in-region or cross-region with any filing, any group or none, any gender and age)."""
    if year is None:
        year = draw(st.sampled_from(YEARS))
    if insured_region is None:
        insured_region = draw(st.sampled_from(REGIONS))
    if cross_region is None:
        cross_region = draw(st.booleans())
    claim = draw(additions_claims(year))
    hospital_region: str | None = draw(st.sampled_from((None, insured_region)))
    if cross_region:
        hospital_region = next(region for region in REGIONS if region != insured_region)
        claim = replace(claim, filing=draw(st.sampled_from(tuple(Filing))))
    person = Person(
        person_id="P0001",
        birth_date=draw(additions_birth_dates(claim.admission_date)),
        insured_region=insured_region,
        statuses=draw(additions_statuses(claim.discharge_date, group)),
        gender=draw(st.sampled_from(tuple(Gender))),
    )
    before = draw(accumulators(year))
    health_paid = draw(st.one_of(st.just(0), up_to(health_paid_max_fen, 100_00)))
    before = replace(before, health_paid=fen_to_money(health_paid))
    level = draw(st.sampled_from(hospital_levels))
    return AdditionsInput(claim, person, level, before, hospital_region)


def with_health_fund_cap(book: TariffBook, cap_fen: int | None) -> TariffBook:
    """The same tariffs, with every health fund's annual cap set to `cap_fen`."""
    return TariffBook(
        tuple(
            tariff
            if tariff.health_fund is None
            else replace(tariff, health_fund=replace(tariff.health_fund, annual_cap_fen=cap_fen))
            for tariff in book.tariffs
        )
    )


HEALTH_FUND_CAPS_FEN: Final[tuple[int, ...]] = (0, 1, 50_00, 150_00, 600_00, 2_000_00)
"""Small health-fund annual caps, so that a year of claims reaches them."""
HEALTH_CAPPED_BOOKS: Final[dict[int, TariffBook]] = {
    cap_fen: with_health_fund_cap(RULE_BOOK, cap_fen) for cap_fen in HEALTH_FUND_CAPS_FEN
}
"""`RULE_BOOK` with 220000-2019's health fund capped, by cap."""


class YearStep(NamedTuple):
    """One event of a year: a claim settled, or (claim None) an earlier settlement reversed."""

    claim: Claim | None
    hospital_level: int
    hospital_region: str | None
    reverse_pick: int
    """For a reversal: which settlement still in force is reversed (modulo their number)."""


class YearOfAdditions(NamedTuple):
    """One person's year of settlements and reversals under a book with a capped health fund."""

    person: Person
    group: Group | None
    accumulators: Accumulators
    health_cap_fen: int
    steps: tuple[YearStep, ...]


def _patient_paid_values(policy: Tariff) -> st.SearchStrategy[int]:
    """The year's `patient_paid` before the first claim: often near the alert threshold (rules
    §16), so that the year's claims cross it, and reversals take it back below."""
    anywhere = st.integers(0, 8_000_00)
    if policy.burden_alert is None:
        return anywhere
    threshold = policy.burden_alert.threshold_fen
    return st.one_of(anywhere, near(threshold, 3_000_00).map(lambda fen: max(0, fen)))


@st.composite
def years_of_additions(draw: st.DrawFn, max_steps: int = 8) -> YearOfAdditions:
    """A year leaning toward the health fund (registered poor, 220000, 2019, levels 1–2),
    starting within every cap that applies, often right below it; claims in-region and
    cross-region; reversals of earlier settlements in between."""
    year = draw(st.sampled_from((2019, 2019, 2019, 2018)))
    region = draw(st.sampled_from(("220000", "220000", "220000", "210000")))
    group = draw(st.sampled_from((*[Group.REGISTERED_POOR] * 3, None, *Group)))
    held = () if group is None else (Status(group, date(year - 1, 1, 1), None),)
    person = Person(
        "P0001",
        draw(st.dates(date(1930, 1, 1), date(2000, 12, 31))),
        region,
        held,
        draw(st.sampled_from(tuple(Gender))),
    )
    policy = RULE_BOOK.select(region, date(year, 1, 1))
    assert policy is not None
    health_cap_fen = draw(st.sampled_from(HEALTH_FUND_CAPS_FEN))
    assistance_cap_fen = 0
    if group is not None:
        assistance_cap_fen = policy.assistance[group].annual_cap_fen or 500_000_00
    start = Accumulators(
        year=year,
        admissions=draw(st.integers(0, 3)),
        basic_paid=fen_to_money(draw(up_to(policy.basic.annual_cap_fen, 20_000_00))),
        ci_base=fen_to_money(draw(ci_base_values())),
        ci_paid=fen_to_money(draw(up_to(policy.critical_illness.annual_cap_fen, 20_000_00))),
        assistance_paid=fen_to_money(max(0, draw(up_to(assistance_cap_fen, 5_000_00)))),
        charity_paid=fen_to_money(draw(st.integers(0, 100_000_00))),
        health_paid=fen_to_money(
            draw(st.one_of(st.just(0), up_to(health_cap_fen, 100_00).map(lambda fen: max(0, fen))))
        ),
        patient_paid=fen_to_money(draw(_patient_paid_values(policy))),
    )
    other_region = next(other for other in REGIONS if other != region)
    steps: list[YearStep] = []
    for number in range(1, draw(st.integers(1, max_steps)) + 1):
        if steps and draw(st.integers(0, 3)) == 0:
            steps.append(YearStep(None, 0, None, draw(st.integers(0, max_steps))))
            continue
        claim = draw(additions_claims(year, claim_no=number))
        hospital_region = None
        if draw(st.integers(0, 4)) == 0:
            hospital_region = other_region
            claim = replace(claim, filing=draw(st.sampled_from(tuple(Filing))))
        level = draw(st.sampled_from((1, 2, 2, 3)))
        steps.append(YearStep(claim, level, hospital_region, 0))
    return YearOfAdditions(person, group, start, health_cap_fen, tuple(steps))
