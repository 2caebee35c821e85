"""Properties of sections 12–14 of SETTLEMENT_RULES.md over generated claims.

Claims mix both regions as insured and treatment region (cross-region with every filing),
2018 and 2019, every group and none, every gender, newborns and the over-60s, levels 1–3,
and lines of the rule items (per-day items split over several lines around the stay's days,
M0001 up to 6 over several lines, the gender and age items) among ordinary catalog lines
(`tests.strategies.additions_inputs`).

Unlike test_properties.py, the conservation identities are re-checked here from the result's
fields, independently of `settlement.conservation`, with `refused_selfpay` and the fifth
fund. The rule checks (§14), the first step's split on the treatment region's catalog, basic
insurance with the cross-region reduction (§12) and the health fund (§13) are recomputed by
small reference implementations below, in Decimal, from the tariffs' data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from settlement.engine import settle
from settlement.model import (
    FUND_ORDER,
    AccumulatorsFen,
    Claim,
    ClaimLine,
    Filing,
    Fund,
    Gender,
    Group,
    ItemClass,
    Person,
)
from settlement.money import format_ppm, money
from settlement.rejection import Rejection
from settlement.result import FindingAction, Rule, Settlement
from settlement.tariff import CatalogItem, Tariff, TariffBook
from tests.strategies import (
    BOOK,
    HEALTH_CAPPED_BOOKS,
    RULE_BOOK,
    AdditionsInput,
    YearOfAdditions,
    YearStep,
    additions_inputs,
    line_amount,
    years_of_additions,
)
from tests.worked_examples import (
    h1_claim,
    h1_person,
    r1_claim,
    r1_person,
    x1_claim,
    x1_person,
)

ADDITIONS_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
"""Fewer examples than test_properties.py: each draw settles a claim of up to ~20 lines two to
four times (a year: up to eight), and the whole file runs in about ten seconds."""

_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_ONE = Decimal(1)


# --- worked examples as explicit examples ----------------------------------------------------

X1 = AdditionsInput(x1_claim(), x1_person(), 3, AccumulatorsFen.empty(2018).to_money(), "210000")
H1 = AdditionsInput(h1_claim(), h1_person(), 2, AccumulatorsFen.empty(2019).to_money(), None)
H1_CROSS_REGION = H1._replace(
    claim=replace(h1_claim(), filing=Filing.RESIDENT), hospital_region="210000"
)
R1 = AdditionsInput(r1_claim(), r1_person(), 2, AccumulatorsFen.empty(2018).to_money(), "220000")
R1_UNKNOWN_GENDER = R1._replace(person=replace(r1_person(), gender=Gender.UNKNOWN))


# --- reference implementations (Decimal, from the tariffs' data) ----------------------------


def rounded(value: Decimal) -> Decimal:
    """`round` of §2: half up to the fen."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def ratio(ppm: int) -> Decimal:
    return Decimal(ppm).scaleb(-6)


def age_at(person: Person, day: date) -> int:
    """Completed years on `day` (周岁): a year counts once its birthday is reached."""
    had_birthday = (day.month, day.day) >= (person.birth_date.month, person.birth_date.day)
    return day.year - person.birth_date.year - (0 if had_birthday else 1)


def group_of(person: Person, policy: Tariff, day: date) -> Group | None:
    """§3: the first group in the policy's precedence with a status valid on `day`."""
    held = {
        status.group
        for status in person.statuses
        if status.valid_from <= day and (status.valid_to is None or day <= status.valid_to)
    }
    return next((group for group in policy.group_precedence if group in held), None)


class ExpectedFinding(NamedTuple):
    rule: Rule
    line_no: int
    action: FindingAction
    amount: Decimal


class ExpectedLine(NamedTuple):
    """A line after §14 and step 1, in yuan."""

    allowed: Decimal
    refused: Decimal
    full_selfpay: Decimal
    over_cap: Decimal
    first_selfpay: Decimal
    in_scope: Decimal


def expected_rule_checks(
    claim: Claim, person: Person, catalog: Mapping[str, CatalogItem]
) -> tuple[dict[int, Decimal], list[ExpectedFinding]]:
    """§14: each line's allowed quantity (by line number) and the findings, in line order."""
    days = Decimal(max(1, (claim.discharge_date - claim.admission_date).days))
    age = age_at(person, claim.admission_date)
    per_day_left: dict[str, Decimal] = {}
    most_left: dict[str, Decimal] = {}
    allowed_by_line: dict[int, Decimal] = {}
    findings: list[ExpectedFinding] = []
    for line in sorted(claim.lines, key=lambda line: line.line_no):
        code, price = line.item_code, line.unit_price.amount
        rules = catalog[code].rules
        allowed = line.quantity
        limits: list[tuple[Rule, Decimal]] = []
        if rules is not None:
            if rules.gender is not None and person.gender is Gender.UNKNOWN:
                findings.append(
                    ExpectedFinding(Rule.R01, line.line_no, FindingAction.WARNING, _ZERO)
                )
            elif rules.gender is not None and person.gender is not rules.gender:
                limits.append((Rule.R01, Decimal(0)))
            too_young = rules.age_min is not None and age < rules.age_min
            too_old = rules.age_max is not None and age > rules.age_max
            if too_young or too_old:
                limits.append((Rule.R02, Decimal(0)))
            if rules.per_day:
                limits.append((Rule.R03, per_day_left.get(code, days)))
            if rules.max_quantity_units is not None:
                most = Decimal(rules.max_quantity_units).scaleb(-4)
                limits.append((Rule.R04, most_left.get(code, most)))
        for rule, limit in limits:
            # A rule acts only when it lowers the allowed quantity.
            if allowed > limit:
                amount = line_amount(allowed, price) - line_amount(limit, price)
                findings.append(ExpectedFinding(rule, line.line_no, FindingAction.REFUSED, amount))
                allowed = limit
        if rules is not None and rules.per_day:
            per_day_left[code] = per_day_left.get(code, days) - allowed
        if rules is not None and rules.max_quantity_units is not None:
            most = Decimal(rules.max_quantity_units).scaleb(-4)
            most_left[code] = most_left.get(code, most) - allowed
        allowed_by_line[line.line_no] = allowed
    return allowed_by_line, findings


def expected_line(line: ClaimLine, item: CatalogItem, allowed: Decimal) -> ExpectedLine:
    """§14's refusal, then step 1 (§4) on the allowed quantity, with the item's class, cap and
    class-B ratio (the treatment region's catalog)."""
    price = line.unit_price.amount
    kept = line_amount(allowed, price) if allowed < line.quantity else line.amount.amount
    refused = line.amount.amount - kept
    if item.item_class is ItemClass.C:
        return ExpectedLine(allowed, refused, kept, _ZERO, _ZERO, _ZERO)
    over_cap = _ZERO
    if item.unit_price_cap_micro is not None:
        cap = Decimal(item.unit_price_cap_micro).scaleb(-6)
        if price > cap:
            over_cap = rounded((price - cap) * allowed)
    base = kept - over_cap
    first = (
        _ZERO if item.selfpay_ratio_ppm is None else rounded(base * ratio(item.selfpay_ratio_ppm))
    )
    return ExpectedLine(allowed, refused, _ZERO, over_cap, first, base - first)


def expected_lines(case: AdditionsInput, catalog_tariff: Tariff) -> dict[int, ExpectedLine]:
    catalog = catalog_tariff.catalog
    allowed, _ = expected_rule_checks(case.claim, case.person, catalog)
    return {
        line.line_no: expected_line(line, catalog[line.item_code], allowed[line.line_no])
        for line in case.claim.lines
    }


class ExpectedBasic(NamedTuple):
    deductible: Decimal
    rate: Decimal
    payable: Decimal
    paid: Decimal


def expected_basic(
    policy: Tariff,
    group: Group | None,
    level: int,
    admissions_before: int,
    basic_paid: Decimal,
    in_scope: Decimal,
    filing: Filing | None,
) -> ExpectedBasic:
    """§5 with §12's reduction: r' = min(1, max(0, r + bonus − reduction[filing]))."""
    basic = policy.basic
    deductible = yuan(basic.levels[level].deductible_fen)
    rate = ratio(basic.levels[level].rate_ppm)
    tilt = None if group is None else basic.tilt.get(group)
    if tilt is not None:
        deductible *= ratio(tilt.deductible_factor_ppm)
        rate += ratio(tilt.rate_bonus_ppm)
    if admissions_before >= 1:
        deductible *= ratio(basic.subsequent_admission_factor_ppm)
    if filing is not None:
        assert policy.cross_region is not None
        rate -= ratio(policy.cross_region.rate_reduction_ppm[filing])
    rate = min(_ONE, max(Decimal(0), rate))
    deductible = rounded(deductible)
    payable = rounded(max(Decimal(0), in_scope - deductible) * rate)
    cap_left = max(Decimal(0), yuan(basic.annual_cap_fen) - basic_paid)
    return ExpectedBasic(deductible, rate, payable, min(payable, cap_left))


# --- helpers -------------------------------------------------------------------------------


class Tariffs(NamedTuple):
    policy: Tariff
    catalog: Tariff


def tariffs_of(case: AdditionsInput, book: TariffBook = RULE_BOOK) -> Tariffs:
    """The policy tariff (insured region) and the catalog tariff (treatment region)."""
    day = case.claim.discharge_date
    policy = book.select(case.person.insured_region, day)
    catalog = book.select(case.treatment_region, day)
    assert policy is not None
    assert catalog is not None
    return Tariffs(policy, catalog)


def settled(case: AdditionsInput, book: TariffBook = RULE_BOOK) -> Settlement:
    """Settle a generated (valid) input; a rejection fails the property."""
    result = settle(
        case.claim,
        case.person,
        case.hospital_level,
        case.accumulators,
        book,
        case.hospital_region,
    )
    assert not isinstance(result, Rejection), result.problems
    return result


def in_region(case: AdditionsInput) -> bool:
    return case.treatment_region == case.person.insured_region


def paid(settlement: Settlement) -> list[Decimal]:
    """P1 … P5 in yuan, in cascade order."""
    return [yuan(step.paid_fen) for step in settlement.funds]


# --- §10 with §13–14: conservation, from the result's fields --------------------------------


@ADDITIONS_SETTINGS
@example(case=X1)
@example(case=H1)
@example(case=R1)
@given(case=additions_inputs())
def test_every_line_and_the_claim_balance_with_refused_self_pay_and_five_funds(
    case: AdditionsInput,
) -> None:
    settlement = settled(case)
    assert [line.line_no for line in settlement.lines] == [
        line.line_no for line in case.claim.lines
    ]
    columns: dict[str, int] = {}
    for claim_line, line in zip(case.claim.lines, settlement.lines, strict=True):
        assert line.amount == claim_line.amount
        assert line.amount_fen == (
            line.refused_selfpay_fen
            + line.full_selfpay_fen
            + line.over_cap_selfpay_fen
            + line.first_selfpay_fen
            + line.in_scope_fen
        ), line
        shares = [line.fund_fen(fund) for fund in Fund]
        assert line.amount_fen == sum(shares) + line.patient_pay_fen, line
        assert sum(shares) <= line.in_scope_fen, line
        assert min(*shares, line.patient_pay_fen, line.refused_selfpay_fen) >= 0, line
        for name in (
            "amount",
            "refused_selfpay",
            "full_selfpay",
            "over_cap_selfpay",
            "first_selfpay",
            "in_scope",
            "patient_pay",
            *(fund.value for fund in Fund),
        ):
            columns[name] = columns.get(name, 0) + getattr(line, f"{name}_fen")
    totals = settlement.totals
    assert totals.total == sum((line.amount for line in case.claim.lines), money("0"))
    assert totals.total_fen == columns["amount"]
    assert totals.refused_selfpay_fen == columns["refused_selfpay"]
    assert totals.full_selfpay_fen == columns["full_selfpay"]
    assert totals.over_cap_selfpay_fen == columns["over_cap_selfpay"]
    assert totals.first_selfpay_fen == columns["first_selfpay"]
    assert totals.in_scope_fen == columns["in_scope"]
    assert totals.patient_pay_fen == columns["patient_pay"]
    assert totals.total_fen == (
        totals.refused_selfpay_fen
        + totals.full_selfpay_fen
        + totals.over_cap_selfpay_fen
        + totals.first_selfpay_fen
        + totals.in_scope_fen
    )
    assert [step.fund for step in settlement.funds] == list(FUND_ORDER)
    assert len(settlement.funds) == 5
    for step in settlement.funds:
        assert columns[step.fund.value] == step.paid_fen, step
        assert totals.fund_fen(step.fund) == step.paid_fen, step
    assert totals.fund_total_fen == sum(step.paid_fen for step in settlement.funds)
    assert totals.total_fen == totals.fund_total_fen + totals.patient_pay_fen


# --- §14: findings ---------------------------------------------------------------------------


@ADDITIONS_SETTINGS
@example(case=R1)
@example(case=R1_UNKNOWN_GENDER)
@given(case=additions_inputs())
def test_findings_add_up_to_each_lines_refused_self_pay_in_line_then_rule_order(
    case: AdditionsInput,
) -> None:
    settlement = settled(case)
    refused_by_line = {line.line_no: line.refused_selfpay_fen for line in settlement.lines}
    found_by_line: dict[int, int] = {}
    for finding in settlement.findings:
        assert finding.line_no in refused_by_line, finding
        found_by_line[finding.line_no] = found_by_line.get(finding.line_no, 0) + finding.amount_fen
        assert (
            finding.name
            == {"R01": "超性别", "R02": "超年龄", "R03": "超住院天数", "R04": "超限量"}[
                finding.rule
            ]
        )
        if finding.action is FindingAction.WARNING:
            assert finding.amount_fen == 0, finding
            assert finding.rule is Rule.R01, finding
            assert case.person.gender is Gender.UNKNOWN, finding
        else:
            assert finding.amount_fen >= 0, finding
    for line_no, refused_fen in refused_by_line.items():
        assert found_by_line.get(line_no, 0) == refused_fen, line_no
    order = [(finding.line_no, finding.rule) for finding in settlement.findings]
    assert order == sorted(order)
    assert len(set(order)) == len(order), "a rule acts at most once on a line"
    assert settlement.totals.refused_selfpay_fen == sum(
        finding.amount_fen for finding in settlement.findings
    )


@ADDITIONS_SETTINGS
@example(case=X1)
@example(case=R1)
@example(case=R1_UNKNOWN_GENDER)
@given(case=additions_inputs())
def test_the_rule_checks_and_step_one_agree_with_a_reference_on_the_treatment_regions_catalog(
    case: AdditionsInput,
) -> None:
    """§14 recomputed in Decimal (allowed quantities, findings, refused amounts), then §4 on
    the allowed quantity with the catalog tariff's classes, caps and ratios."""
    settlement = settled(case)
    catalog = tariffs_of(case).catalog.catalog
    _, expected_findings = expected_rule_checks(case.claim, case.person, catalog)
    assert [
        ExpectedFinding(f.rule, f.line_no, f.action, f.amount.amount) for f in settlement.findings
    ] == expected_findings
    expected = expected_lines(case, tariffs_of(case).catalog)
    for line in settlement.lines:
        want = expected[line.line_no]
        assert line.refused_selfpay == money(want.refused), (line, want)
        assert line.full_selfpay == money(want.full_selfpay), (line, want)
        assert line.over_cap_selfpay == money(want.over_cap), (line, want)
        assert line.first_selfpay == money(want.first_selfpay), (line, want)
        assert line.in_scope == money(want.in_scope), (line, want)
        assert line.item_class is catalog[line.item_code].item_class


def cut_to_allowance(case: AdditionsInput) -> AdditionsInput | None:
    """The input with every line cut to its allowed quantity (§14, by the reference) and the
    lines allowed nothing dropped; None when no line is left."""
    catalog = tariffs_of(case).catalog.catalog
    allowed, _ = expected_rule_checks(case.claim, case.person, catalog)
    cut = tuple(
        line._replace(
            quantity=allowed[line.line_no],
            amount=money(line_amount(allowed[line.line_no], line.unit_price.amount)),
        )
        if allowed[line.line_no] < line.quantity
        else line
        for line in case.claim.lines
        if allowed[line.line_no] > 0
    )
    if not cut:
        return None
    return case._replace(claim=replace(case.claim, lines=cut))


@ADDITIONS_SETTINGS
@example(case=R1)
@given(case=additions_inputs())
def test_refused_amounts_are_the_patients_the_funds_pay_as_for_the_claim_cut_to_its_allowance(
    case: AdditionsInput,
) -> None:
    """The claim cut to its allowed quantities breaks no rule (warnings aside), and its funds
    pay exactly what they paid on the original: refused amounts only add to the patient's."""
    settlement = settled(case)
    cut_case = cut_to_allowance(case)
    if cut_case is None:
        assert settlement.totals.in_scope_fen == 0
        assert settlement.totals.fund_total_fen == 0
        return
    cut = settled(cut_case)
    assert all(f.action is FindingAction.WARNING for f in cut.findings), cut.findings
    assert cut.totals.refused_selfpay_fen == 0
    assert cut.funds == settlement.funds
    refused_fen = settlement.totals.refused_selfpay_fen
    # The funds' accumulators are the same; the patient's year paid the refused amount more.
    assert cut.accumulators_after_fen == settlement.accumulators_after_fen._replace(
        patient_paid=settlement.accumulators_after_fen.patient_paid - refused_fen
    )
    assert cut.totals.total_fen == settlement.totals.total_fen - refused_fen
    assert cut.totals.patient_pay_fen == settlement.totals.patient_pay_fen - refused_fen


# --- §12: basic insurance of the insured region on the treatment region's catalog ---------------


@ADDITIONS_SETTINGS
@example(case=X1)
@example(case=H1)
@given(case=additions_inputs())
def test_basic_insurance_applies_the_policy_tariff_with_the_filings_reduction_to_the_catalog_split(
    case: AdditionsInput,
) -> None:
    settlement = settled(case)
    policy, catalog = tariffs_of(case)
    assert settlement.tariff_version == policy.version
    assert settlement.catalog_version == catalog.version
    assert settlement.insured_region == case.person.insured_region
    assert settlement.treatment_region == case.treatment_region
    assert settlement.filing == case.claim.filing
    assert (case.claim.filing is None) == in_region(case)
    group = group_of(case.person, policy, case.claim.discharge_date)
    assert settlement.group == group
    in_scope = sum((line.in_scope for line in expected_lines(case, catalog).values()), _ZERO)
    assert settlement.totals.in_scope == money(in_scope)
    want = expected_basic(
        policy,
        group,
        case.hospital_level,
        case.accumulators.admissions,
        case.accumulators.basic_paid.amount,
        in_scope,
        case.claim.filing,
    )
    step = settlement.fund(Fund.BASIC_INSURANCE)
    assert step.payable == money(want.payable), (step, want)
    assert step.paid == money(want.paid), (step, want)
    assert settlement.totals.deductible_applied == money(min(in_scope, want.deductible))
    if case.claim.filing is not None:
        assert policy.cross_region is not None
        reduction = format_ppm(policy.cross_region.rate_reduction_ppm[case.claim.filing])
        named = [text for text in step.explanation if f"filing {case.claim.filing}" in text]
        assert named, step.explanation
        assert f"rate − {reduction} = {format_ppm(int(want.rate * 1_000_000))}" in named[0]


# --- §13: the health fund -----------------------------------------------------------------------


HEALTH_FUND_INPUTS = st.one_of(
    additions_inputs(),
    additions_inputs(
        insured_region="220000",
        year=2019,
        group=Group.REGISTERED_POOR,
        hospital_levels=(1, 2, 3),
        health_paid_max_fen=600_00,
    ),
    additions_inputs(
        insured_region="220000",
        year=2019,
        cross_region=False,
        group=Group.REGISTERED_POOR,
        hospital_levels=(1, 2),
        health_paid_max_fen=600_00,
    ),
)
"""Any input, and inputs leaning toward the health fund's groups, region, year and levels."""


@settings(ADDITIONS_SETTINGS, max_examples=100)
@example(case=H1, cap_fen=None)
@example(case=H1, cap_fen=50_00)
@example(case=H1_CROSS_REGION, cap_fen=None)
@given(case=HEALTH_FUND_INPUTS, cap_fen=st.sampled_from((None, *HEALTH_CAPPED_BOOKS)))
def test_the_health_fund_pays_in_region_eligible_claims_the_rest_above_a_tenth_of_s_within_its_cap(
    case: AdditionsInput, cap_fen: int | None
) -> None:
    book = RULE_BOOK if cap_fen is None else HEALTH_CAPPED_BOOKS[cap_fen]
    settlement = settled(case, book)
    policy = tariffs_of(case, book).policy
    health = policy.health_fund
    group = group_of(case.person, policy, case.claim.discharge_date)
    eligible = (
        health is not None
        and group in health.groups
        and case.hospital_level in health.hospital_levels
        and in_region(case)
    )
    p1, p2, p3, p4, p5 = paid(settlement)
    if not in_region(case):
        assert p5 == 0
    if not eligible:
        assert p5 == 0
        assert (
            settlement.accumulators_after_fen.health_paid == case.accumulators.to_fen().health_paid
        )
        return
    assert health is not None
    in_scope = settlement.totals.in_scope.amount
    left = in_scope - p1 - p2 - p3 - p4
    patient_share = rounded(in_scope * ratio(health.selfpay_ratio_max_ppm))
    payable = max(_ZERO, left - patient_share)
    if health.annual_cap_fen is not None:
        cap_left = max(_ZERO, yuan(health.annual_cap_fen) - case.accumulators.health_paid.amount)
        payable = min(payable, cap_left)
    assert p5 == payable, (settlement.fund(Fund.HEALTH_FUND).explanation, payable)
    assert settlement.fund(Fund.HEALTH_FUND).fund_code == policy.fund_codes[Fund.HEALTH_FUND]


# --- sections 12–14 change nothing where they do not apply ---------------------------------------


def assert_settles_as_without_rule_data(case: AdditionsInput) -> None:
    """Against `BOOK` (the same tariffs without rule data) the settlement is the very same if
    no rule acted; if rules acted but refused nothing (warnings, or a quantity lowered on a
    line priced 0.00), the same but for the findings."""
    with_rules = settled(case)
    without_rules = settled(case, BOOK)
    assert without_rules.findings == ()
    if not with_rules.findings:
        assert with_rules == without_rules
    else:
        assert all(f.amount_fen == 0 for f in with_rules.findings)
        assert replace(with_rules, findings=()) == without_rules


@ADDITIONS_SETTINGS
@example(case=X1)
@example(case=H1)
@example(case=R1_UNKNOWN_GENDER)
@given(case=additions_inputs())
def test_a_claim_without_refusals_settles_exactly_as_it_does_without_rule_data(
    case: AdditionsInput,
) -> None:
    """Drawn claims where no rule refused anything, and every drawn claim cut to its allowed
    quantities (which no rule refuses anything of)."""
    if settled(case).totals.refused_selfpay_fen == 0:
        assert_settles_as_without_rule_data(case)
    cut_case = cut_to_allowance(case)
    if cut_case is not None:
        assert_settles_as_without_rule_data(cut_case)


# --- §9–10: no annual cap exceeded, over settlements and reversals -------------------------------


def contributions(settlement: Settlement) -> AccumulatorsFen:
    """What a settlement added to the accumulators, as the service subtracts it on reversal."""
    p1, p2, p3, p4, p5 = (step.paid_fen for step in settlement.funds)
    s = settlement.totals.in_scope_fen
    patient = settlement.totals.patient_pay_fen
    return AccumulatorsFen(settlement.policy_year, 1, p1, s - p1, p2, p3, p4, p5, patient)


def minus(before: AccumulatorsFen, taken: AccumulatorsFen) -> AccumulatorsFen:
    assert before.year == taken.year
    return AccumulatorsFen(
        before.year, *(left - right for left, right in zip(before[1:], taken[1:], strict=True))
    )


def plus(before: AccumulatorsFen, added: AccumulatorsFen) -> AccumulatorsFen:
    assert before.year == added.year
    return AccumulatorsFen(
        before.year, *(left + right for left, right in zip(before[1:], added[1:], strict=True))
    )


def assert_within_caps(
    after: AccumulatorsFen, policy: Tariff, group: Group | None, health_cap_fen: int
) -> None:
    assert min(after[1:]) >= 0, after
    assert after.basic_paid <= policy.basic.annual_cap_fen, after
    tilt = None if group is None else policy.critical_illness.tilt.get(group)
    if tilt is None or not tilt.no_cap:
        assert after.ci_paid <= policy.critical_illness.annual_cap_fen, after
    if group is not None:
        assistance_cap_fen = policy.assistance[group].annual_cap_fen
        if assistance_cap_fen is not None:
            assert after.assistance_paid <= assistance_cap_fen, after
    if policy.charity.annual_cap_fen is not None:
        assert after.charity_paid <= policy.charity.annual_cap_fen, after
    if policy.health_fund is not None:
        assert after.health_paid <= health_cap_fen, after


def _year_reaching_the_health_cap() -> YearOfAdditions:
    """H1 three times at a 150.00 cap with 60.00 already paid: 90.00, then 0.00; H1 reversed
    frees 90.00 again for the third."""
    start = AccumulatorsFen(2019, 0, 0, 0, 0, 0, 0, 60_00, 0).to_money()
    h1 = h1_claim()
    steps = (
        YearStep(h1, 2, None, 0),
        YearStep(replace(h1, claim_id="ZY20190511H02"), 1, None, 0),
        YearStep(None, 0, None, 0),
        YearStep(replace(h1, claim_id="ZY20190511H03"), 2, None, 0),
    )
    return YearOfAdditions(h1_person(), Group.REGISTERED_POOR, start, 150_00, steps)


@settings(ADDITIONS_SETTINGS, max_examples=60)
@example(year=_year_reaching_the_health_cap())
@given(year=years_of_additions())
def test_no_annual_cap_is_exceeded_over_a_year_of_settlements_and_reversals(
    year: YearOfAdditions,
) -> None:
    book = HEALTH_CAPPED_BOOKS[year.health_cap_fen]
    policy = book.select(year.person.insured_region, date(year.accumulators.year, 6, 30))
    assert policy is not None
    state = year.accumulators.to_fen()
    assert_within_caps(state, policy, year.group, year.health_cap_fen)
    in_force: list[Settlement] = []
    for step in year.steps:
        if step.claim is None:
            if not in_force:
                continue
            reversed_settlement = in_force.pop(step.reverse_pick % len(in_force))
            state = minus(state, contributions(reversed_settlement))
        else:
            result = settle(
                step.claim,
                year.person,
                step.hospital_level,
                state.to_money(),
                book,
                step.hospital_region,
            )
            assert isinstance(result, Settlement), result
            assert result.group == year.group
            health = result.fund(Fund.HEALTH_FUND)
            if policy.health_fund is not None and health.cap_remaining_fen is not None:
                assert health.cap_remaining_fen == max(0, year.health_cap_fen - state.health_paid)
            assert result.accumulators_after_fen == plus(state, contributions(result))
            state = result.accumulators_after_fen
            in_force.append(result)
        assert_within_caps(state, policy, year.group, year.health_cap_fen)
    start = year.accumulators.to_fen()
    expected = start
    for settlement in in_force:
        expected = plus(expected, contributions(settlement))
    assert state == expected
