"""The worked examples E1, E2 and E4 of SETTLEMENT_RULES.md §11, reproduced to the fen.

Every expected figure below is copied from the rules page, not computed: the tables are the
golden bills. Amounts are compared as the two-decimal strings the contract prints.
"""

from __future__ import annotations

import pytest
from moneyed import Money

from settlement.engine import settle
from settlement.model import Group, ItemClass
from settlement.result import LineSettlement, Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import e4_accumulators, example_claim, person


def text(amount: Money) -> str:
    """A `Money` amount as the contract's string ("251.62")."""
    return str(amount.amount)


def split(line: LineSettlement) -> tuple[str, ...]:
    """A line's step-1 split: amount, full self-pay, over cap, first self-pay, in scope."""
    return (
        text(line.amount),
        text(line.full_selfpay),
        text(line.over_cap_selfpay),
        text(line.first_selfpay),
        text(line.in_scope),
    )


def funds(line: LineSettlement) -> tuple[str, ...]:
    """A line's shares: basic / critical illness / assistance / charity / patient."""
    return (
        text(line.basic_insurance),
        text(line.critical_illness),
        text(line.medical_assistance),
        text(line.charity),
        text(line.patient_pay),
    )


# The line classification table of §11, the same for all three examples.
#            line  code     class        amount     full     over cap  first     in scope
LINE_CLASSIFICATION = [
    (1, "S0001", ItemClass.A, ("495.00", "0.00", "55.00", "0.00", "440.00")),
    (2, "S0002", ItemClass.A, ("12000.00", "0.00", "0.00", "0.00", "12000.00")),
    (3, "B0002", ItemClass.B, ("4922.00", "0.00", "0.00", "984.40", "3937.60")),
    (4, "B0001", ItemClass.B, ("375.00", "0.00", "0.00", "37.50", "337.50")),
    (5, "C0001", ItemClass.C, ("2328.00", "2328.00", "0.00", "0.00", "0.00")),
    (6, "M0001", ItemClass.B, ("3600.00", "0.00", "600.00", "900.00", "2100.00")),
    (7, "A0002", ItemClass.A, ("105.00", "0.00", "0.00", "0.00", "105.00")),
    (8, "S0003", ItemClass.A, ("275.00", "0.00", "0.00", "0.00", "275.00")),
]

# Claim totals before any fund (§11 "Totals").
CLAIM_TOTALS = {
    "total": "24100.00",
    "full_selfpay": "2328.00",
    "over_cap_selfpay": "655.00",
    "first_selfpay": "1921.90",
    "in_scope": "19195.10",
}

E1_TOTALS = {
    **CLAIM_TOTALS,
    "deductible_applied": "900.00",
    "basic_insurance": "10977.06",
    "critical_illness": "0.00",
    "medical_assistance": "0.00",
    "charity": "0.00",
    "fund_total": "10977.06",
    "patient_pay": "13122.94",
}
E1_BASIC_SHARES = [
    "251.62", "6862.41", "2251.79", "193.01", "0.00", "1200.92", "60.05", "157.26",
]  # fmt: skip

E2_TOTALS = {
    **CLAIM_TOTALS,
    "deductible_applied": "450.00",
    "basic_insurance": "12184.32",
    "critical_illness": "1105.93",
    "medical_assistance": "3178.64",
    "charity": "2726.21",
    "fund_total": "19195.10",
    "patient_pay": "4904.90",
}
#          line   basic       ci        assistance  charity    patient
E2_LINES = [
    (1, ("279.30", "25.35", "72.86", "62.49", "55.00")),
    (2, ("7617.14", "691.38", "1987.16", "1704.32", "0.00")),
    (3, ("2499.44", "226.87", "652.05", "559.24", "984.40")),
    (4, ("214.23", "19.45", "55.89", "47.93", "37.50")),
    (5, ("0.00", "0.00", "0.00", "0.00", "2328.00")),
    (6, ("1333.00", "120.99", "347.75", "298.26", "1500.00")),
    (7, ("66.65", "6.05", "17.39", "14.91", "0.00")),
    (8, ("174.56", "15.84", "45.54", "39.06", "0.00")),
]

E4_TOTALS = {
    **CLAIM_TOTALS,
    "deductible_applied": "125.00",
    "basic_insurance": "15256.08",
    "critical_illness": "2166.46",
    "medical_assistance": "1240.79",
    "charity": "0.00",
    "fund_total": "18663.33",
    "patient_pay": "5436.67",
}
E4_ACCUMULATORS_AFTER = {
    "admissions": 2,
    "basic_paid": "35256.08",
    "ci_base": "33939.02",
    "ci_paid": "14166.46",
    "assistance_paid": "6240.79",
    "charity_paid": "0.00",
}


def totals_as_text(settlement: Settlement, names: dict[str, str]) -> dict[str, str]:
    return {name: text(getattr(settlement.totals, name)) for name in names}


@pytest.fixture(scope="module")
def e4(book: TariffBook) -> Settlement:
    """E4: registered_poor, level 2, second admission of 2018, K80.1 (not a listed disease)."""
    poor = person(Group.REGISTERED_POOR)
    result = settle(example_claim("K80.1"), poor, 2, e4_accumulators(), book)
    assert isinstance(result, Settlement), result
    return result


@pytest.mark.parametrize("example", ["e1", "e2", "e4"])
def test_every_example_line_is_classified_as_the_rules_table_says(
    example: str, request: pytest.FixtureRequest
) -> None:
    settlement: Settlement = request.getfixturevalue(example)
    got = [
        (line.line_no, line.item_code, line.item_class, split(line)) for line in settlement.lines
    ]
    assert got == LINE_CLASSIFICATION


@pytest.mark.parametrize("example", ["e1", "e2", "e4"])
def test_every_example_settles_under_the_2018_tariff_in_policy_year_2018(
    example: str, request: pytest.FixtureRequest
) -> None:
    settlement: Settlement = request.getfixturevalue(example)
    assert settlement.tariff_version == "220000-2018"
    assert settlement.policy_year == 2018


def test_e1_totals_match_the_rules_to_the_fen(e1: Settlement) -> None:
    assert totals_as_text(e1, E1_TOTALS) == E1_TOTALS


def test_e1_basic_insurance_shares_by_line_match_the_rules(e1: Settlement) -> None:
    assert [text(line.basic_insurance) for line in e1.lines] == E1_BASIC_SHARES


def test_e1_no_later_fund_pays_anything_for_a_person_without_a_group(e1: Settlement) -> None:
    later_funds = [
        (line.critical_illness_fen, line.medical_assistance_fen, line.charity_fen)
        for line in e1.lines
    ]
    assert later_funds == [(0, 0, 0)] * 8
    # Each line's patient share is its amount less basic insurance's share.
    patient = ["243.38", "5137.59", "2670.21", "181.99", "2328.00", "2399.08", "44.95", "117.74"]
    assert [text(line.patient_pay) for line in e1.lines] == patient


def test_e1_has_no_group_and_no_charity_disease(e1: Settlement) -> None:
    assert e1.group is None
    assert e1.charity_disease is None


def test_e1_accumulators_after_add_one_admission_and_what_the_claim_paid(e1: Settlement) -> None:
    after = e1.accumulators_after
    assert after.year == 2018
    assert after.admissions == 1
    assert text(after.basic_paid) == "10977.06"
    # b = 19195.10 − 10977.06 = 8218.04
    assert text(after.ci_base) == "8218.04"
    assert text(after.ci_paid) == "0.00"
    assert text(after.assistance_paid) == "0.00"
    assert text(after.charity_paid) == "0.00"


def test_e2_totals_match_the_rules_to_the_fen(e2: Settlement) -> None:
    assert totals_as_text(e2, E2_TOTALS) == E2_TOTALS


def test_e2_every_line_splits_over_the_four_funds_as_the_rules_say(e2: Settlement) -> None:
    assert [(line.line_no, funds(line)) for line in e2.lines] == E2_LINES


def test_e2_applies_the_dibao_group_and_reports_lung_cancer_for_charity(e2: Settlement) -> None:
    assert e2.group is Group.DIBAO
    assert e2.charity_disease == "肺癌"


def test_e2_accumulators_after_add_one_admission_and_what_each_fund_paid(e2: Settlement) -> None:
    after = e2.accumulators_after
    assert after.year == 2018
    assert after.admissions == 1
    assert text(after.basic_paid) == "12184.32"
    # b = 19195.10 − 12184.32 = 7010.78
    assert text(after.ci_base) == "7010.78"
    assert text(after.ci_paid) == "1105.93"
    assert text(after.assistance_paid) == "3178.64"
    assert text(after.charity_paid) == "2726.21"


def test_e4_totals_match_the_rules_to_the_fen(e4: Settlement) -> None:
    assert totals_as_text(e4, E4_TOTALS) == E4_TOTALS


def test_e4_accumulators_after_match_the_rules(e4: Settlement) -> None:
    after = e4.accumulators_after
    got = {
        "admissions": after.admissions,
        "basic_paid": text(after.basic_paid),
        "ci_base": text(after.ci_base),
        "ci_paid": text(after.ci_paid),
        "assistance_paid": text(after.assistance_paid),
        "charity_paid": text(after.charity_paid),
    }
    assert after.year == 2018
    assert got == E4_ACCUMULATORS_AFTER


def test_e4_line_shares_add_up_to_each_fund_total_and_each_line_amount(e4: Settlement) -> None:
    fund_sums = [
        sum(line.basic_insurance_fen for line in e4.lines),
        sum(line.critical_illness_fen for line in e4.lines),
        sum(line.medical_assistance_fen for line in e4.lines),
        sum(line.charity_fen for line in e4.lines),
        sum(line.patient_pay_fen for line in e4.lines),
    ]
    # 15256.08 / 2166.46 / 1240.79 / 0.00 / 5436.67, in fen.
    assert fund_sums == [1525608, 216646, 124079, 0, 543667]
    for line in e4.lines:
        shares = line.basic_insurance_fen + line.critical_illness_fen
        shares += line.medical_assistance_fen + line.charity_fen
        assert shares + line.patient_pay_fen == line.amount_fen
        assert shares <= line.in_scope_fen


def test_e4_applies_registered_poor_and_reports_no_charity_disease(e4: Settlement) -> None:
    assert e4.group is Group.REGISTERED_POOR
    assert e4.charity_disease is None
