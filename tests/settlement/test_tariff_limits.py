"""The tariff model's own checks accept every value at the edge of what is allowed.

A tariff is checked when its dataclasses are built (`settlement/tariff.py`): a ratio from 0 to
1, an age from 0, a cap of 0.00. The shipped tariffs are loaded once per test session, before
`make mutate` (docs/mutation.md) puts a bug into a check, so a check tightened by one (`>=`
made `>`) went unnoticed: these build the edge values themselves. Each value here is one a
province may write (a 0.00 cap for a fund it has closed, a rule for newborns of age 0 only).
"""

from __future__ import annotations

from settlement.model import AccumulatorsFen, Filing, Group, ItemClass, ItemKind
from settlement.money import SCALE, money
from settlement.tariff import (
    AssistanceRates,
    Band,
    BurdenAlertPolicy,
    CatalogItem,
    CriticalIllnessPolicy,
    CrossRegionPolicy,
    HealthFundPolicy,
    ItemRules,
    PayLaterPolicy,
)


def test_item_rules_take_age_zero_one_age_only_and_a_limit_of_one_unit() -> None:
    assert ItemRules(age_min=0).age_min == 0
    assert ItemRules(age_max=0).age_max == 0
    assert ItemRules(age_min=60, age_max=60).age_max == 60
    assert ItemRules(max_quantity_units=1).max_quantity_units == 1


def test_a_b_class_item_takes_a_self_pay_ratio_of_zero_or_one_and_a_zero_price_cap() -> None:
    for ratio_ppm in (0, SCALE):
        item = CatalogItem("B0001", "乙类", ItemKind.DRUG, ItemClass.B, ratio_ppm, 0)
        assert (item.selfpay_ratio_ppm, item.unit_price_cap_micro) == (ratio_ppm, 0)


def test_fund_policies_take_rates_of_zero_and_one_and_caps_of_zero() -> None:
    assert AssistanceRates(0, SCALE, 0).rate_below_line_ppm == 0
    for ratio_ppm in (0, SCALE):
        policy = HealthFundPolicy(frozenset({Group.DIBAO}), frozenset({1, 2, 3}), ratio_ppm, 0)
        assert (policy.selfpay_ratio_max_ppm, policy.annual_cap_fen) == (ratio_ppm, 0)
    reductions = dict.fromkeys(Filing, SCALE)
    assert CrossRegionPolicy(reductions).rate_reduction_ppm == reductions


def test_critical_illness_takes_one_band_or_bands_of_one_fen() -> None:
    one = CriticalIllnessPolicy(1_000_000, (Band(0, None, 500_000),), 0, {})
    assert len(one.bands) == 1
    narrow = (Band(0, 1, 500_000), Band(1, None, 600_000))
    assert CriticalIllnessPolicy(1_000_000, narrow, 0, {}).bands == narrow


def test_empty_accumulators_are_zero_for_their_year_and_read_as_money() -> None:
    empty = AccumulatorsFen.empty(2019)
    assert empty == AccumulatorsFen(2019, 0, 0, 0, 0, 0, 0, 0, 0)
    spent = AccumulatorsFen(2019, 1, 2, 3, 4, 5, 6, 7, 8).to_money()
    assert (spent.year, spent.admissions) == (2019, 1)
    assert (spent.basic_paid, spent.ci_base, spent.ci_paid) == (
        money("0.02"), money("0.03"), money("0.04"),
    )  # fmt: skip
    assert (spent.assistance_paid, spent.charity_paid, spent.health_paid) == (
        money("0.05"), money("0.06"), money("0.07"),
    )  # fmt: skip
    assert spent.patient_paid == money("0.08")
    assert spent.to_fen() == AccumulatorsFen(2019, 1, 2, 3, 4, 5, 6, 7, 8)


def test_the_after_the_bill_sections_take_their_edges_and_refuse_beyond_them() -> None:
    """Rules §15–16: a level 1..3, at least one installment and one month, a 0.00 threshold;
    no group, level 0 or 4, zero installments or months, or a negative threshold is refused
    (the loader refuses them first, by field; the model holds whatever else builds one)."""
    import pytest

    groups = frozenset({Group.DIBAO})
    for level in (1, 3):
        assert PayLaterPolicy(groups, level, 1, 1).hospital_level_max == level
    assert (
        PayLaterPolicy(groups, 2, 1, 1).installments_max,
        PayLaterPolicy(groups, 2, 1, 1).months_max,
    ) == (1, 1)
    assert BurdenAlertPolicy(0).threshold_fen == 0
    for bad in (
        lambda: PayLaterPolicy(frozenset(), 2, 12, 12),
        lambda: PayLaterPolicy(groups, 0, 12, 12),
        lambda: PayLaterPolicy(groups, 4, 12, 12),
        lambda: PayLaterPolicy(groups, 2, 0, 12),
        lambda: PayLaterPolicy(groups, 2, 12, 0),
        lambda: BurdenAlertPolicy(-1),
    ):
        with pytest.raises(AssertionError):
            bad()
