"""Rules §15–16, after the bill: who may pay later (先诊疗后付费) and the year's personal burden
(高额医疗费用预警), in the engine.

Worked examples of our own, computed by hand from examples of §11 whose patient pay the rules
give (E2: 4904.90; E4: 5436.67) and the sample sections of DEFAULT_TARIFF.md (pay later for
destitute, dibao and registered_poor at levels 1–2 in 220000; thresholds 5000.00 in 2018,
5500.00 in 2019, 6000.00 in 210000):

- P1, E4 (registered_poor, level 2, in-region, 2018, nothing paid before): eligible; the year
  reaches 5436.67 from 0.00 and crosses 5000.00.
- P2, E2 (dibao, level 3): not eligible (level 3 > 2); 4904.90 < 5000.00, not crossed.
- B1, E2 with 95.10 paid before: 95.10 + 4904.90 = 5000.00, exactly the threshold: crossed.
- B2, E2 with 95.09 paid before: 4999.99, a fen below: not crossed.
- B3, E2 with 5000.00 paid before: 9904.90, already at the threshold before: not crossed.

Then properties on generated years with reversals: `patient_paid` is the net sum of the
year's `patient_pay`, and a crossing is reported exactly once per upward pass.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import example, given, settings

from settlement.engine import pay_later_eligible, select_group, settle
from settlement.model import Accumulators, Claim, Group, Person
from settlement.money import money
from settlement.result import Burden, Settlement
from settlement.tariff import PayLaterPolicy, Tariff
from tests.settlement.test_additions_properties import (
    ADDITIONS_SETTINGS,
    contributions,
    minus,
)
from tests.strategies import BOOK, YearOfAdditions, YearStep, years_of_additions
from tests.worked_examples import e4_accumulators, example_claim, person, x1_claim, x1_person


def settled(claim_person: tuple[Claim, Person], level: int, before: Accumulators) -> Settlement:
    claim, someone = claim_person
    result = settle(claim, someone, level, before, BOOK)
    assert isinstance(result, Settlement), result
    return result


def tariff(version: str) -> Tariff:
    found = BOOK.by_version(version)
    assert found is not None
    return found


E2 = (example_claim(), person(Group.DIBAO))
E4 = (example_claim("K80.1"), person(Group.REGISTERED_POOR))


def with_paid(accumulators: Accumulators, paid: str) -> Accumulators:
    return replace(accumulators, patient_paid=money(paid))


# --- the worked examples ----------------------------------------------------------------------


def test_p1_a_registered_poor_stay_at_a_county_hospital_may_pay_later_and_crosses() -> None:
    bill = settled(E4, 2, e4_accumulators())
    assert bill.totals.patient_pay == money("5436.67")
    assert bill.pay_later_eligible is True
    assert bill.burden == Burden(year_to_date_fen=5436_67, threshold_fen=5000_00, crossed=True)
    assert bill.accumulators_after_fen.patient_paid == 5436_67


def test_p2_a_dibao_stay_at_a_level_3_hospital_may_not_pay_later() -> None:
    bill = settled(E2, 3, Accumulators(year=2018))
    assert bill.totals.patient_pay == money("4904.90")
    assert bill.pay_later_eligible is False
    assert bill.burden == Burden(year_to_date_fen=4904_90, threshold_fen=5000_00, crossed=False)


def test_the_same_dibao_stay_at_level_2_and_level_1_may_pay_later() -> None:
    for level in (1, 2):
        assert settled(E2, level, Accumulators(year=2018)).pay_later_eligible is True


def test_a_stay_of_no_group_may_not_pay_later_at_any_level() -> None:
    for level in (1, 2, 3):
        assert (
            settled((example_claim(), person()), level, Accumulators(year=2018)).pay_later_eligible
            is False
        )


@pytest.mark.parametrize(
    ("paid_before", "year_to_date", "crossed"),
    [
        ("95.10", 5000_00, True),  # B1: exactly at the threshold after
        ("95.09", 4999_99, False),  # B2: a fen below
        ("95.11", 5000_01, True),  # a fen above
        ("4999.99", 9904_89, True),  # a fen below before
        ("5000.00", 9904_90, False),  # B3: already at the threshold before
        ("0.00", 4904_90, False),
    ],
)
def test_a_crossing_is_from_below_the_threshold_to_at_or_above_it(
    paid_before: str, year_to_date: int, crossed: bool
) -> None:
    bill = settled(E2, 3, with_paid(Accumulators(year=2018), paid_before))
    assert bill.burden == Burden(year_to_date, 5000_00, crossed)
    assert bill.accumulators_after_fen.patient_paid == year_to_date


def test_each_year_uses_its_own_tariffs_threshold() -> None:
    """2019's sample threshold is 5500.00: E2 moved to 2019 is judged against it, not 5000.00."""
    claim = replace(
        example_claim(), admission_date=date(2019, 3, 1), discharge_date=date(2019, 3, 12)
    )
    paid = 5500_00 - 4904_90  # E2's patient pay in 2018; 2019's bands may differ
    bill = settled((claim, person(Group.DIBAO)), 3, with_paid(Accumulators(year=2019), "595.10"))
    assert bill.tariff_version == "220000-2019"
    after = paid + bill.totals.patient_pay_fen
    assert bill.burden == Burden(after, 5500_00, after >= 5500_00)
    below_2018s = settled(E2, 3, with_paid(Accumulators(year=2018), "595.10"))
    assert below_2018s.burden.crossed is True  # the same start crosses 2018's 5000.00


def test_a_cross_region_stay_may_not_pay_later_and_uses_its_insured_regions_threshold() -> None:
    """X1 (insured in 220000, treated in 210000 with a filing): the policy tariff is the insured
    region's, so the threshold is 220000's; deferring is for stays in the county, never away."""
    claim, someone = x1_claim(), x1_person()
    result = settle(claim, someone, 2, Accumulators(year=claim.policy_year), BOOK, "210000")
    assert isinstance(result, Settlement), result
    assert result.insured_region != result.treatment_region
    assert result.pay_later_eligible is False
    alert = tariff(result.tariff_version).burden_alert
    assert alert is not None
    assert result.tariff_version.startswith("220000")
    assert result.burden.threshold_fen == alert.threshold_fen


def test_a_tariff_without_the_sections_makes_nobody_eligible_and_raises_no_alert() -> None:
    bare = replace(
        BOOK, tariffs=tuple(replace(t, pay_later=None, burden_alert=None) for t in BOOK.tariffs)
    )
    result = settle(E4[0], E4[1], 2, e4_accumulators(), bare)
    assert isinstance(result, Settlement)
    assert result.pay_later_eligible is False
    assert result.burden == Burden(5436_67, None, False)
    assert result.totals == settled(E4, 2, e4_accumulators()).totals  # no amount changes


# --- pay_later_eligible, each condition alone ---------------------------------------------------


POLICY = PayLaterPolicy(
    frozenset({Group.DIBAO}), hospital_level_max=2, installments_max=12, months_max=12
)


@pytest.mark.parametrize(
    ("group", "level", "in_region", "eligible"),
    [
        (Group.DIBAO, 2, True, True),
        (Group.DIBAO, 1, True, True),
        (
            Group.DIBAO,
            3,
            True,
            False,
        ),  # above hospital_level_max (< for <= would pass level 2 only)
        (Group.DIBAO, 2, False, False),  # cross-region
        (Group.DESTITUTE, 2, True, False),  # not one of the section's groups
        (None, 1, True, False),  # no group
    ],
)
def test_each_condition_of_section_15_alone(
    group: Group | None, level: int, in_region: bool, eligible: bool
) -> None:
    with_policy = replace(tariff("220000-2018"), pay_later=POLICY)
    assert pay_later_eligible(with_policy, group, level, in_region=in_region) is eligible
    without = replace(with_policy, pay_later=None)
    assert pay_later_eligible(without, group, level, in_region=in_region) is False


def test_the_group_that_decides_is_the_one_on_the_day_asked_about() -> None:
    """A dibao status from 2018-03-05: on the admission date (03-01) no group, so the deposit is
    not waived; at discharge (03-12) the stay may be paid later (rules §15)."""
    someone = person(Group.DIBAO, valid_from=date(2018, 3, 5))
    policy_tariff = tariff("220000-2018")
    at_admission = select_group(someone, policy_tariff, date(2018, 3, 1))
    at_discharge = select_group(someone, policy_tariff, date(2018, 3, 12))
    assert pay_later_eligible(policy_tariff, at_admission, 2, in_region=True) is False
    assert pay_later_eligible(policy_tariff, at_discharge, 2, in_region=True) is True
    assert (
        settled((example_claim(), someone), 2, Accumulators(year=2018)).pay_later_eligible is True
    )


# --- properties over years with reversals -------------------------------------------------------


def _year_crossing_twice() -> YearOfAdditions:
    """E2 for a dibao person with 1000.00 paid: crosses 5000.00 (5904.90); reversed, back to
    1000.00; E2 again crosses again; a third E2, already above, does not."""
    e2 = example_claim()
    steps = (
        YearStep(e2, 3, None, 0),
        YearStep(None, 0, None, 0),
        YearStep(replace(e2, claim_id="ZY20180312002"), 3, None, 0),
        YearStep(replace(e2, claim_id="ZY20180312003"), 3, None, 0),
    )
    start = with_paid(Accumulators(year=2018), "1000.00")
    return YearOfAdditions(person(Group.DIBAO), Group.DIBAO, start, 0, steps)


@settings(ADDITIONS_SETTINGS, max_examples=80)
@example(year=_year_crossing_twice())
@given(year=years_of_additions())
def test_patient_paid_is_the_years_net_patient_pay_and_each_upward_pass_crosses_once(
    year: YearOfAdditions,
) -> None:
    """Settlements and reversals in any order: `patient_paid` is what the year started with plus
    the `patient_pay` of the settlements still in force; a settlement reports `crossed` exactly
    when it takes the running figure from below the threshold to at or above it, so the
    crossings counted on the trajectory of the running figure (computed here, independently of
    the flags) equal the flags reported."""
    state = year.accumulators.to_fen()
    start = state.patient_paid
    in_force: list[Settlement] = []
    trajectory = [state.patient_paid]
    flags: list[bool | None] = []
    threshold = None
    for step in year.steps:
        if step.claim is None:
            if not in_force:
                continue
            gone = in_force.pop(step.reverse_pick % len(in_force))
            state = minus(state, contributions(gone))
            trajectory.append(state.patient_paid)
            flags.append(None)
            continue
        result = settle(
            step.claim,
            year.person,
            step.hospital_level,
            state.to_money(),
            BOOK,
            step.hospital_region,
        )
        assert isinstance(result, Settlement), result
        assert result.burden.year_to_date_fen == result.accumulators_after_fen.patient_paid
        assert (
            result.accumulators_after_fen.patient_paid
            == state.patient_paid + result.totals.patient_pay_fen
        )
        threshold = result.burden.threshold_fen
        state = result.accumulators_after_fen
        in_force.append(result)
        trajectory.append(state.patient_paid)
        flags.append(result.burden.crossed)
    assert state.patient_paid == start + sum(s.totals.patient_pay_fen for s in in_force)
    if threshold is None:
        assert not any(flags)
        return
    upward_passes = [
        index
        for index in range(1, len(trajectory))
        if trajectory[index - 1] < threshold <= trajectory[index]
    ]
    reported = [index + 1 for index, flag in enumerate(flags) if flag]
    assert reported == upward_passes
