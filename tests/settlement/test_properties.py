"""Properties of the engine over generated claims: the invariants of SETTLEMENT_RULES.md §9-§10.

The conservation identities of §10 are not re-asserted here: `settle` checks every settlement
for them before returning it (`settlement.conservation`; test_conservation.py shows the check
refuses each one broken), so every claim settled below is checked. These properties check what
that check does not: the split against the rules, caps over a year of claims, accumulators,
groups, determinism and rounding.

Inputs come from `tests.strategies` (valid claims, biased toward zero amounts, deductible and
band edges and nearly used caps); each property also runs on hand-picked edge cases
(`@example`). Failing inputs are kept in Hypothesis' example database and replayed first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, example, given, settings

from settlement.engine import settle
from settlement.model import FUND_ORDER, Accumulators, ClaimLine, Fund, Group, Status
from settlement.money import money
from settlement.rejection import Rejection
from settlement.result import Settlement
from tests.strategies import (
    BOOK,
    REGION,
    SettleInput,
    YearOfClaims,
    expected_split,
    line_amount,
    settle_inputs,
    years_of_claims,
)
from tests.worked_examples import e4_accumulators, example_claim, person

Test = TypeVar("Test", bound=Callable[..., Any])

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- helpers -------------------------------------------------------------------------------


def settled(case: SettleInput) -> Settlement:
    """Settle a generated (valid) input; a rejection fails the property."""
    result = settle(case.claim, case.person, case.hospital_level, case.accumulators, BOOK)
    assert not isinstance(result, Rejection), result.problems
    return result


def without_group(case: SettleInput) -> SettleInput:
    return case._replace(person=replace(case.person, statuses=()))


def with_group(case: SettleInput, group: Group) -> SettleInput:
    status = Status(group, date(2000, 1, 1), None)
    return case._replace(person=replace(case.person, statuses=(status,)))


def left_before_each_fund(settlement: Settlement) -> list[int]:
    """The in-scope amount no earlier fund had paid, before each fund in cascade order."""
    left_fen = settlement.totals.in_scope_fen
    lefts = []
    for step in settlement.funds:
        lefts.append(left_fen)
        left_fen -= step.paid_fen
    return lefts


def one_line(code: str, quantity: str, unit_price: str, line_no: int = 1) -> ClaimLine:
    amount = line_amount(Decimal(quantity), Decimal(unit_price))
    return ClaimLine(line_no, code, Decimal(quantity), money(unit_price), money(amount))


def accumulators_2018(
    admissions: int = 0,
    basic_paid: str = "0.00",
    ci_base: str = "0.00",
    ci_paid: str = "0.00",
    assistance_paid: str = "0.00",
) -> Accumulators:
    """2018 accumulators before a claim, money as decimal strings."""
    return Accumulators(
        year=2018,
        admissions=admissions,
        basic_paid=money(basic_paid),
        ci_base=money(ci_base),
        ci_paid=money(ci_paid),
        assistance_paid=money(assistance_paid),
    )


# --- hand-picked edge cases ----------------------------------------------------------------

E1 = SettleInput(example_claim(), person(), 3, Accumulators(year=2018))
"""Worked example E1: no group, level 3, first admission."""
E2 = SettleInput(example_claim(), person(Group.DIBAO), 3, Accumulators(year=2018))
"""Worked example E2: dibao, lung cancer with surgery, every fund pays."""
E4 = SettleInput(example_claim("K80.1"), person(Group.REGISTERED_POOR), 2, e4_accumulators())
"""Worked example E4: registered poor, second admission, no charity."""
ZERO_AMOUNTS = SettleInput(
    example_claim(
        lines=(
            one_line("S0002", "1", "0.00"),
            one_line("B0002", "0.0001", "0.01", 2),
            one_line("C0001", "3", "0", 3),
        )
    ),
    person(Group.DESTITUTE),
    1,
    Accumulators(year=2018),
)
"""Every line's amount is zero."""
EXACT_DEDUCTIBLE = SettleInput(
    example_claim("K80.1", lines=(one_line("S0002", "1", "900.00"),)),
    person(),
    3,
    Accumulators(year=2018),
)
"""The in-scope amount equals the level-3 deductible exactly: every fund pays zero."""
BASIC_CAP_MID_CLAIM = SettleInput(
    example_claim(),
    person(Group.DIBAO),
    3,
    accumulators_2018(
        admissions=3,
        basic_paid="149999.99",
        ci_base="59999.99",
        ci_paid="12000.00",
        assistance_paid="29999.99",
    ),
)
"""One fen of the basic cap and of the assistance cap left; the year's base one fen below the
first critical-illness band edge."""
CI_CAP_MID_CLAIM = SettleInput(
    example_claim("K80.1", lines=(one_line("B0027", "120", "5500.00"),)),
    person(),
    1,
    accumulators_2018(
        admissions=1, basic_paid="150000.00", ci_base="110000.00", ci_paid="299999.99"
    ),
)
"""Basic cap used up and one fen of the critical-illness cap left, in the top band."""
CHILD_AT_AGE_LIMIT = SettleInput(
    example_claim("Q21.0"),
    person(Group.REGISTERED_POOR, birth_date=date(2004, 3, 1)),
    2,
    accumulators_2018(ci_base="5000.00", assistance_paid="30000.00"),
)
"""Congenital heart disease, 14 on the admission day, assistance cap already used up."""
EDGE_CASES = (
    E1,
    E2,
    E4,
    ZERO_AMOUNTS,
    EXACT_DEDUCTIBLE,
    BASIC_CAP_MID_CLAIM,
    CI_CAP_MID_CLAIM,
    CHILD_AT_AGE_LIMIT,
)


def edge_examples(test: Test) -> Test:
    """Run the property on every hand-picked edge case as well as the generated ones."""
    for case in reversed(EDGE_CASES):
        test = example(case=case)(test)
    return test


# --- §4: step one, recomputed independently ------------------------------------------------


@PROPERTY_SETTINGS
@edge_examples
@given(case=settle_inputs())
def test_every_line_is_split_as_step_one_of_the_rules_says(case: SettleInput) -> None:
    """§4 recomputed independently with Decimal: over cap, first self-pay and in scope."""
    settlement = settled(case)
    for claim_line, line in zip(case.claim.lines, settlement.lines, strict=True):
        assert line.line_no == claim_line.line_no
        assert line.amount == claim_line.amount
        expected = expected_split(claim_line)
        assert line.full_selfpay == money(expected.full_selfpay), line
        assert line.over_cap_selfpay == money(expected.over_cap), line
        assert line.first_selfpay == money(expected.first_selfpay), line
        assert line.in_scope == money(expected.in_scope), line


# --- §10: each fund within what is left and within its cap ---------------------------------


@PROPERTY_SETTINGS
@edge_examples
@given(case=settle_inputs())
def test_each_fund_pays_between_zero_and_what_is_left_before_it_and_within_its_cap(
    case: SettleInput,
) -> None:
    settlement = settled(case)
    assert [step.fund for step in settlement.funds] == list(FUND_ORDER)
    for step, left_fen in zip(settlement.funds, left_before_each_fund(settlement), strict=True):
        assert step.paid_fen >= 0, step
        assert step.paid_fen <= left_fen, (step, left_fen)
        if step.cap_remaining_fen is not None:
            assert step.cap_remaining_fen >= 0, step
            assert step.paid_fen <= step.cap_remaining_fen, step


# --- §9: accumulators ----------------------------------------------------------------------


@PROPERTY_SETTINGS
@edge_examples
@given(case=settle_inputs())
def test_accumulators_after_are_those_before_plus_this_claims_admission_and_payments(
    case: SettleInput,
) -> None:
    settlement = settled(case)
    before = case.accumulators.to_fen()
    basic, critical, assistance, charity, health = (step.paid_fen for step in settlement.funds)
    in_scope_fen = settlement.totals.in_scope_fen
    expected = before._replace(
        health_paid=before.health_paid + health,
        admissions=before.admissions + 1,
        basic_paid=before.basic_paid + basic,
        ci_base=before.ci_base + in_scope_fen - basic,
        ci_paid=before.ci_paid + critical,
        assistance_paid=before.assistance_paid + assistance,
        charity_paid=before.charity_paid + charity,
        patient_paid=before.patient_paid + settlement.totals.patient_pay_fen,
    )
    assert settlement.accumulators_after_fen == expected
    assert settlement.accumulators_after.to_fen() == expected


def _year_with_basic_cap_reached_mid_claim() -> YearOfClaims:
    big = example_claim("K80.1", lines=(one_line("B0027", "100", "5500.00"),))
    second = replace(big, claim_id="ZY20180601002", discharge_date=date(2018, 6, 1))
    second = replace(second, admission_date=date(2018, 5, 20))
    start = accumulators_2018(basic_paid="100000.00", ci_base="9999.99", ci_paid="250000.00")
    return YearOfClaims(person(), None, start, ((big, 3), (second, 1)))


def _year_of_a_dibao_person_at_the_assistance_cap() -> YearOfClaims:
    start = accumulators_2018(admissions=1, assistance_paid="29000.00", ci_base="4999.99")
    claims = ((example_claim("K80.1"), 2), (example_claim("C34.1"), 3))
    return YearOfClaims(person(Group.DIBAO), Group.DIBAO, start, claims)


@settings(PROPERTY_SETTINGS, max_examples=150)
@example(year=_year_with_basic_cap_reached_mid_claim())
@example(year=_year_of_a_dibao_person_at_the_assistance_cap())
@given(year=years_of_claims())
def test_no_annual_cap_is_exceeded_over_a_year_of_claims(year: YearOfClaims) -> None:
    tariff = BOOK.select(REGION, date(year.accumulators.year, 1, 1))
    assert tariff is not None
    basic_cap_fen = tariff.basic.annual_cap_fen
    ci_cap_fen = tariff.critical_illness.annual_cap_fen
    assistance_cap_fen = None
    if year.group is not None:
        assistance_cap_fen = tariff.assistance[year.group].annual_cap_fen
    accumulators = year.accumulators
    for claim, hospital_level in year.claims:
        settlement = settled(SettleInput(claim, year.person, hospital_level, accumulators))
        assert settlement.group == year.group
        after = settlement.accumulators_after_fen
        assert after.basic_paid <= basic_cap_fen, after
        if year.group is None:
            assert after.ci_paid <= ci_cap_fen, after
        if assistance_cap_fen is not None:
            assert after.assistance_paid <= assistance_cap_fen, after
        assert after.admissions == accumulators.admissions + 1
        accumulators = settlement.accumulators_after


# --- groups, determinism, rounding ---------------------------------------------------------


@PROPERTY_SETTINGS
@edge_examples
@given(case=settle_inputs())
def test_adding_a_group_never_raises_what_the_patient_pays(case: SettleInput) -> None:
    plain = settled(without_group(case))
    assert plain.group is None
    for group in Group:
        tilted = settled(with_group(case, group))
        assert tilted.group is group
        assert tilted.totals.patient_pay_fen <= plain.totals.patient_pay_fen, (
            group,
            plain.totals,
            tilted.totals,
        )


@PROPERTY_SETTINGS
@edge_examples
@given(case=settle_inputs())
def test_settling_the_same_claim_twice_gives_the_same_settlement(case: SettleInput) -> None:
    first = settled(case)
    second = settled(case)
    assert first == second
    assert repr(first) == repr(second)


@PROPERTY_SETTINGS
@example(case=E1)
@example(case=EXACT_DEDUCTIBLE)
@example(case=ZERO_AMOUNTS._replace(person=person(), hospital_level=3))
@example(case=CI_CAP_MID_CLAIM._replace(hospital_level=3))
@example(case=BASIC_CAP_MID_CLAIM._replace(person=person()))
@given(case=settle_inputs(hospital_level=3, without_group=True))
def test_basic_insurance_pays_the_rounded_rate_on_the_in_scope_amount_above_the_deductible(
    case: SettleInput,
) -> None:
    """§5 for a person without group at a level-3 hospital: D1 900.00, later 450.00, rate 0.60."""
    settlement = settled(case)
    assert settlement.group is None
    step = settlement.fund(Fund.BASIC_INSURANCE)
    in_scope = sum((expected_split(line).in_scope for line in case.claim.lines), Decimal(0))
    assert settlement.totals.in_scope == money(in_scope)
    deductible = Decimal("900.00") if case.accumulators.admissions == 0 else Decimal("450.00")
    payable = (max(Decimal(0), in_scope - deductible) * Decimal("0.60")).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    cap_left = max(Decimal(0), Decimal("150000.00") - case.accumulators.basic_paid.amount)
    assert step.payable == money(payable), step
    assert step.paid == money(min(payable, cap_left)), step
    assert settlement.totals.deductible_applied == money(min(in_scope, deductible))


def test_the_edge_cases_are_settled_without_rejection() -> None:
    for case in EDGE_CASES:
        assert isinstance(settled(case), Settlement)
