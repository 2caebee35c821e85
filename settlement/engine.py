"""The driver: checks a claim, runs the five fund stages in order, itemizes and balances.

`settle` is the engine's one entry point. It returns a `Settlement` or a `Rejection` (every
problem found); it never returns a settlement that fails the conservation check.
"""

from __future__ import annotations

import re
from datetime import date
from functools import partial
from typing import Final, NamedTuple

from settlement.allocation import allocate
from settlement.conservation import check_conservation
from settlement.funds import (
    Cascade,
    Case,
    Stage,
    basic_insurance,
    charity,
    critical_illness,
    health_fund,
    medical_assistance,
)
from settlement.limits import CLAIM_LINES_MAX, DIAGNOSES_MAX
from settlement.lines import SplitLines, check_lines, classify_lines
from settlement.model import (
    FUND_ORDER,
    Accumulators,
    AccumulatorsFen,
    Claim,
    Filing,
    Group,
    Person,
)
from settlement.rejection import Problem, ProblemCode, Rejection
from settlement.result import Burden, FundStep, LineSettlement, Settlement, Totals
from settlement.rules import RuleContext
from settlement.tariff import Tariff, TariffBook

STAGES: Final[tuple[Stage, ...]] = (
    basic_insurance.pay,
    critical_illness.pay,
    medical_assistance.pay,
    charity.pay,
    health_fund.pay,
)
"""The cascade (保险在先、救助在后): the order is policy and is fixed here, not in the tariff."""
assert len(STAGES) == len(FUND_ORDER)

FILINGS: Final[frozenset[str]] = frozenset(Filing)
ICD10_PATTERN: Final[re.Pattern[str]] = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?")


def diagnosis_problem(code: str) -> str | None:
    """Why `code` is no diagnosis a claim may name, or None. The one rule: the claim check
    below, and the platform's admission (2401, 2403) before any line is taken."""
    if ICD10_PATTERN.fullmatch(code):
        return None
    return f"{code!r} is not an ICD-10 code (like C34 or C34.1)"


def select_group(person: Person, tariff: Tariff, day: date) -> Group | None:
    """The first group, in the tariff's precedence order, with a status valid on `day`."""
    held = {status.group for status in person.statuses if status.covers(day)}
    for group in tariff.group_precedence:
        if group in held:
            return group
    return None


def _check_claim(
    claim: Claim, person: Person, hospital_level: int, accumulators: Accumulators
) -> list[Problem]:
    """Problems of the claim as a whole; line problems are `lines.check_lines`'."""
    problems = []
    if claim.discharge_date < claim.admission_date:
        problems.append(
            Problem(
                ProblemCode.DISCHARGE_BEFORE_ADMISSION,
                ("discharge_date",),
                f"discharge {claim.discharge_date} is before admission {claim.admission_date}",
            )
        )
    if claim.admission_date < person.birth_date:
        problems.append(
            Problem(
                ProblemCode.ADMISSION_BEFORE_BIRTH,
                ("admission_date",),
                f"admission {claim.admission_date} is before the person's birth",
            )
        )
    if not claim.diagnoses:
        problems.append(
            Problem(ProblemCode.NO_DIAGNOSIS, ("diagnoses",), "at least one diagnosis is needed")
        )
    if len(claim.diagnoses) > DIAGNOSES_MAX:
        problems.append(
            Problem(
                ProblemCode.OUT_OF_RANGE,
                ("diagnoses",),
                f"{len(claim.diagnoses)} diagnoses; at most {DIAGNOSES_MAX} are allowed",
            )
        )
    for index, code in enumerate(claim.diagnoses[:DIAGNOSES_MAX]):
        wrong = diagnosis_problem(code)
        if wrong is not None:
            problems.append(Problem(ProblemCode.INVALID_DIAGNOSIS, ("diagnoses", index), wrong))
    if not claim.lines:
        problems.append(Problem(ProblemCode.NO_LINES, ("items",), "the claim has no lines"))
    if len(claim.lines) > CLAIM_LINES_MAX:
        problems.append(
            Problem(
                ProblemCode.TOO_MANY_LINES,
                ("items",),
                f"{len(claim.lines)} lines; at most {CLAIM_LINES_MAX} are allowed",
            )
        )
    if accumulators.year != claim.policy_year:
        problems.append(
            Problem(
                ProblemCode.ACCUMULATORS_YEAR_MISMATCH,
                ("accumulators", "year"),
                f"accumulators are for {accumulators.year}; the claim's policy year is "
                f"{claim.policy_year}",
            )
        )
    if hospital_level not in (1, 2, 3):
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_HOSPITAL_LEVEL,
                ("hospital_level",),
                f"hospital level {hospital_level} is not 1, 2 or 3",
            )
        )
    return problems


def settle(
    claim: Claim,
    person: Person,
    hospital_level: int,
    accumulators: Accumulators,
    tariffs: TariffBook,
    hospital_region: str | None = None,
) -> Settlement | Rejection:
    """Settle one discharge claim against the tariffs in force on its discharge date.

    `hospital_region` is the treatment region (the hospital's; the person's insured region
    when None): where it differs from the insured region the claim is cross-region (§12),
    read against the treatment region's catalog and the insured region's policy.
    `accumulators` are the person's year-to-date figures for the claim's policy year as they
    stand before this claim. Same inputs, same output, byte for byte.
    """
    problems = _check_claim(claim, person, hospital_level, accumulators)
    insured_region = person.insured_region
    treatment_region = insured_region if hospital_region is None else hospital_region
    in_region = treatment_region == insured_region
    policy = tariffs.select(insured_region, claim.discharge_date)
    catalog_tariff = policy if in_region else tariffs.select(treatment_region, claim.discharge_date)
    if policy is None:
        problems.append(
            Problem(
                ProblemCode.NO_TARIFF,
                ("discharge_date",),
                f"no tariff of region {insured_region} is in force on {claim.discharge_date}",
            )
        )
    elif hospital_level in (1, 2, 3) and hospital_level not in policy.basic.levels:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_HOSPITAL_LEVEL,
                ("hospital_level",),
                f"tariff {policy.version} has no rates for hospital level {hospital_level}",
            )
        )
    if not in_region and catalog_tariff is None:
        problems.append(
            Problem(
                ProblemCode.NO_TARIFF,
                ("discharge_date",),
                f"no tariff of treatment region {treatment_region} is in force on "
                f"{claim.discharge_date}: its catalog cannot be read",
            )
        )
    problems += _check_filing(claim, policy, in_region, insured_region, treatment_region)
    split = None
    if catalog_tariff is not None and len(claim.lines) <= CLAIM_LINES_MAX:
        context = RuleContext.of(person, claim.admission_date, claim.discharge_date)
        split = classify_lines(claim.lines, catalog_tariff.catalog, context)
    if split is None and len(claim.lines) <= CLAIM_LINES_MAX:
        # Without a tariff there is no catalog: the lines' numbers are still checked.
        catalog = None if catalog_tariff is None else catalog_tariff.catalog
        problems += check_lines(claim.lines, catalog)
    if problems:
        return Rejection(tuple(problems))
    assert policy is not None
    assert catalog_tariff is not None
    assert split is not None
    return _settle_checked(
        claim,
        person,
        hospital_level,
        accumulators.to_fen(),
        _Tariffs(policy, catalog_tariff, treatment_region),
        split,
    )


def _check_filing(
    claim: Claim,
    policy: Tariff | None,
    in_region: bool,
    insured_region: str,
    treatment_region: str,
) -> list[Problem]:
    """A cross-region claim names its filing (§12) and its policy has cross-region rates;
    an in-region claim has none."""
    if in_region:
        if claim.filing is None:
            return []
        return [
            Problem(
                ProblemCode.FILING_NOT_ALLOWED,
                ("filing",),
                f"filing {claim.filing} is only for a cross-region claim; the hospital and the "
                f"person are both of region {insured_region}",
            )
        ]
    if claim.filing is not None and claim.filing not in FILINGS:
        return [
            Problem(
                ProblemCode.UNKNOWN_FILING,
                ("filing",),
                f"filing {claim.filing!r} is not resident, referral, emergency or temporary",
            )
        ]
    if claim.filing is None:
        return [
            Problem(
                ProblemCode.FILING_REQUIRED,
                ("filing",),
                f"the claim is cross-region (insured in {insured_region}, treated in "
                f"{treatment_region}): filing must be resident, referral, emergency or temporary",
            )
        ]
    if policy is not None and policy.cross_region is None:
        return [
            Problem(
                ProblemCode.NO_CROSS_REGION_POLICY,
                ("filing",),
                f"tariff {policy.version} has no cross-region rates: its insured cannot settle "
                f"a claim treated in {treatment_region}",
            )
        ]
    return []


class _Tariffs(NamedTuple):
    policy: Tariff
    """The insured region's (参保地政策): groups, funds and their rates."""
    catalog: Tariff
    """The treatment region's (就医地目录): classes, caps, ratios and rule data."""
    treatment_region: str


def _settle_checked(
    claim: Claim,
    person: Person,
    hospital_level: int,
    before: AccumulatorsFen,
    tariffs: _Tariffs,
    split: SplitLines,
) -> Settlement:
    """Settle a claim already found valid: run the cascade, itemize, total and balance."""
    tariff = tariffs.policy
    in_scope_fen = sum(split.in_scope_fen)
    group = select_group(person, tariff, claim.discharge_date)
    age_at_admission = person.age_on(claim.admission_date)
    disease, charity_reason = charity.eligibility(tariff.charity, group, claim, age_at_admission)
    in_region = tariffs.treatment_region == person.insured_region
    case = Case(
        tariff,
        group,
        hospital_level,
        before,
        in_scope_fen,
        disease,
        charity_reason,
        filing=claim.filing,
        in_region=in_region,
    )
    steps = _run_cascade(case)
    totals = _totals(split, in_scope_fen, steps)
    settlement = Settlement(
        claim_id=claim.claim_id,
        hospital_id=claim.hospital_id,
        person_id=claim.person_id,
        admission_date=claim.admission_date,
        discharge_date=claim.discharge_date,
        policy_year=claim.policy_year,
        tariff_version=tariff.version,
        group=group,
        charity_disease=None if disease is None else disease.name,
        totals=totals,
        lines=_line_settlements(claim, split, steps),
        funds=tuple(steps),
        accumulators_after_fen=_accumulators_after(
            before, in_scope_fen, steps, totals.patient_pay_fen
        ),
        insured_region=person.insured_region,
        treatment_region=tariffs.treatment_region,
        filing=claim.filing,
        catalog_version=tariffs.catalog.version,
        findings=split.findings,
        pay_later_eligible=pay_later_eligible(tariff, group, hospital_level, in_region=in_region),
        burden=_burden(tariff, before, totals.patient_pay_fen),
    )
    check_conservation(settlement)
    return settlement


def pay_later_eligible(
    tariff: Tariff, group: Group | None, hospital_level: int, *, in_region: bool
) -> bool:
    """Whether the person may defer their share to after discharge (rules §15): the policy
    tariff has a `pay_later` section, the person's group is one of its groups, the hospital's
    level is at most its `hospital_level_max`, and the claim is in-region. The group is the one
    on the day asked about: the discharge date for a settlement, the admission date for a
    deposit. It changes no amount."""
    policy = tariff.pay_later
    return (
        policy is not None
        and group is not None
        and group in policy.groups
        and hospital_level <= policy.hospital_level_max
        and in_region
    )


def _burden(tariff: Tariff, before: AccumulatorsFen, patient_pay_fen: int) -> Burden:
    """The year's burden after this claim and whether it crossed the threshold (rules §16)."""
    after = before.patient_paid + patient_pay_fen
    threshold = None if tariff.burden_alert is None else tariff.burden_alert.threshold_fen
    crossed = threshold is not None and before.patient_paid < threshold <= after
    return Burden(year_to_date_fen=after, threshold_fen=threshold, crossed=crossed)


def _run_cascade(case: Case) -> list[FundStep]:
    """Every fund's step, in the fixed order, each on what the funds before it left."""
    cascade = Cascade(in_scope_left_fen=case.in_scope_fen)
    steps: list[FundStep] = []
    for stage in STAGES:
        step, cascade = stage(case, cascade)
        steps.append(step)
    return steps


def _line_settlements(
    claim: Claim, split: SplitLines, steps: list[FundStep]
) -> tuple[LineSettlement, ...]:
    """The bill's lines: each line's step-1 split, its share of every fund, and the rest."""
    line_nos, codes, quantities, unit_prices, _ = zip(*claim.lines, strict=True)
    basic, critical, assistance, charity_shares, health = _itemize(
        split.in_scope_fen, line_nos, steps
    )
    patient = [
        amount - b - c - m - h - f
        for amount, b, c, m, h, f in zip(
            split.amount_fen, basic, critical, assistance, charity_shares, health, strict=True
        )
    ]
    # tuple.__new__ over zipped columns builds the records in C, without a Python-level
    # __new__ call per line (the field order is LineSettlement's).
    return tuple(
        map(
            partial(tuple.__new__, LineSettlement),
            zip(
                line_nos,
                codes,
                [item.name for item in split.items],
                [item.item_class for item in split.items],
                quantities,
                unit_prices,
                split.amount_fen,
                split.full_selfpay_fen,
                split.over_cap_fen,
                split.first_selfpay_fen,
                split.in_scope_fen,
                basic,
                critical,
                assistance,
                charity_shares,
                patient,
                split.refused_fen,
                health,
                strict=True,
            ),
        )
    )


def _totals(split: SplitLines, in_scope_fen: int, steps: list[FundStep]) -> Totals:
    """The claim's totals: the step-1 columns summed, what each fund paid, the patient's rest."""
    total_fen = sum(split.amount_fen)
    paid = [step.paid_fen for step in steps]
    return Totals(
        total_fen=total_fen,
        full_selfpay_fen=sum(split.full_selfpay_fen),
        over_cap_selfpay_fen=sum(split.over_cap_fen),
        first_selfpay_fen=sum(split.first_selfpay_fen),
        in_scope_fen=in_scope_fen,
        deductible_applied_fen=steps[0].deductible_applied_fen,
        basic_insurance_fen=paid[0],
        critical_illness_fen=paid[1],
        medical_assistance_fen=paid[2],
        charity_fen=paid[3],
        fund_total_fen=sum(paid),
        patient_pay_fen=total_fen - sum(paid),
        refused_selfpay_fen=sum(split.refused_fen),
        health_fund_fen=paid[4],
    )


def _itemize(
    in_scope_fen: list[int], line_nos: tuple[int, ...], steps: list[FundStep]
) -> list[list[int]]:
    """Each fund's shares by line, fund by fund on the in-scope amount earlier funds left."""
    weights = in_scope_fen
    all_shares = []
    for step in steps:
        shares = allocate(step.paid_fen, weights, line_nos)
        if step.paid_fen:
            weights = [weight - share for weight, share in zip(weights, shares, strict=True)]
        all_shares.append(shares)
    return all_shares


def _accumulators_after(
    before: AccumulatorsFen, in_scope_fen: int, steps: list[FundStep], patient_pay_fen: int
) -> AccumulatorsFen:
    """The year-to-date figures after this claim (§9); a reversal subtracts the same."""
    basic, critical, assistance, charity_paid, health_paid = (step.paid_fen for step in steps)
    return AccumulatorsFen(
        year=before.year,
        admissions=before.admissions + 1,
        basic_paid=before.basic_paid + basic,
        ci_base=before.ci_base + in_scope_fen - basic,
        ci_paid=before.ci_paid + critical,
        assistance_paid=before.assistance_paid + assistance,
        charity_paid=before.charity_paid + charity_paid,
        health_paid=before.health_paid + health_paid,
        patient_paid=before.patient_paid + patient_pay_fen,
    )
