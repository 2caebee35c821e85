"""Worked examples of sections 12–14, computed by hand here and reproduced exactly.

X1 (§12): a Jilin dibao patient, lung cancer surgery at a Liaoning level-3 hospital, referral.
H1 (§13): a registered-poor 2019 claim at a Jilin level-2 hospital, reaching the health fund.
R1 (§14): a bill breaking each of R01–R04.
The same three are reproduced through the workbench (tests/api/cli) and HTTP (tests/api/routes).
"""

from __future__ import annotations

import dataclasses

from settlement.engine import settle
from settlement.model import Accumulators, Filing, Fund, Gender
from settlement.money import format_fen
from settlement.result import FindingAction, Rule, Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import (
    h1_claim,
    h1_person,
    r1_claim,
    r1_person,
    x1_claim,
    x1_person,
)


def _settled(result: object) -> Settlement:
    assert isinstance(result, Settlement), result
    return result


def _paid(settlement: Settlement) -> list[str]:
    return [format_fen(step.paid_fen) for step in settlement.funds]


def _column(settlement: Settlement, name: str) -> list[str]:
    return [format_fen(getattr(line, f"{name}_fen")) for line in settlement.lines]


def test_x1_cross_region_reads_liaonings_catalog_and_jilins_policy_less_the_referral_points(
    book: TariffBook,
) -> None:
    """Step 1 on the 210000 catalog (B0001 class A, S0001 cap 50.00, B0002 15%, M0001 20%
    capped at 1600.00):
      1 S0001 11 × 45.00 = 495.00, under the 50.00 cap: in scope 495.00
      3 B0002 4922.00 × 0.15 = 738.30 first self-pay: in scope 4183.70
      4 B0001 375.00 class A: in scope 375.00
      6 M0001 2 × 1800.00: over cap (1800 − 1600) × 2 = 400.00; base 3200.00 × 0.20 = 640.00
        first self-pay: in scope 2560.00
      S = 495.00 + 12000.00 + 4183.70 + 375.00 + 2560.00 + 105.00 + 275.00 = 19993.70
    Basic (220000-2018, dibao, level 3): D1 = 900 × 0.5 = 450.00; rate 0.60 + 0.05 − 0.10
      (referral) = 0.55: P1 = round(19543.70 × 0.55 = 10749.035) = 10749.04
    Critical illness: b = 9244.66, D2 = 5000.00, above = 4244.66 at 0.55: 2334.563 → 2334.56
    Assistance: below 5000.00 × 0.50 + above_rest 1910.10 × 0.75 = 3932.575 → 3932.58
    Charity (肺癌, dibao, surgery): 19993.70 − 10749.04 − 2334.56 − 3932.58 = 2977.52
    Health fund: none in 220000-2018, and never cross-region: 0.00
    Patient: 24100.00 − 19993.70 = 4106.30 (= C0001 2328.00 + over cap 400.00 + first 1378.30)
    """
    settlement = _settled(
        settle(x1_claim(), x1_person(), 3, Accumulators(year=2018), book, "210000")
    )
    assert (settlement.insured_region, settlement.treatment_region) == ("220000", "210000")
    assert settlement.filing is Filing.REFERRAL
    assert (settlement.tariff_version, settlement.catalog_version) == ("220000-2018", "210000-2018")
    assert _column(settlement, "over_cap_selfpay") == [
        "0.00", "0.00", "0.00", "0.00", "0.00", "400.00", "0.00", "0.00",
    ]  # fmt: skip
    assert _column(settlement, "first_selfpay") == [
        "0.00", "0.00", "738.30", "0.00", "0.00", "640.00", "0.00", "0.00",
    ]  # fmt: skip
    assert _column(settlement, "in_scope") == [
        "495.00", "12000.00", "4183.70", "375.00", "0.00", "2560.00", "105.00", "275.00",
    ]  # fmt: skip
    totals = settlement.totals
    assert format_fen(totals.in_scope_fen) == "19993.70"
    assert format_fen(totals.deductible_applied_fen) == "450.00"
    assert _paid(settlement) == ["10749.04", "2334.56", "3932.58", "2977.52", "0.00"]
    assert format_fen(totals.fund_total_fen) == "19993.70"
    assert format_fen(totals.patient_pay_fen) == "4106.30"
    assert settlement.charity_disease == "肺癌"
    assert settlement.findings == ()
    basic = settlement.fund(Fund.BASIC_INSURANCE)
    assert "cross-region claim, filing referral: rate − 0.10 = 0.55" in basic.explanation
    assert "异地就医（转诊转院）：报销比例 − 0.10 = 0.55" in basic.explanation_zh
    health = settlement.fund(Fund.HEALTH_FUND)
    assert health.fund_code == "610103"
    assert health.explanation == ("no health fund under tariff 220000-2018: pays 0.00",)


def test_x1_the_same_claim_in_region_pays_the_jilin_rate_and_catalog_as_e2(
    book: TariffBook,
) -> None:
    """Without the move, X1's bill is E2's: basic 12184.32 at rate 0.65 (SETTLEMENT_RULES §11)."""
    in_region = dataclasses.replace(x1_claim(), filing=None)
    settlement = _settled(settle(in_region, x1_person(), 3, Accumulators(year=2018), book))
    assert _paid(settlement)[:4] == ["12184.32", "1105.93", "3178.64", "2726.21"]


def test_h1_the_health_fund_pays_what_the_patient_keeps_above_a_tenth_of_the_in_scope_amount(
    book: TariffBook,
) -> None:
    """Step 1: S0001 400.00, B0002 2461.00 − 492.20 = 1968.80, A0001 240.00, S0003 250.00:
      S = 2858.80, first self-pay 492.20, total 3351.00
    Basic (220000-2019, registered poor, level 2): D1 = 500 × 0.5 = 250.00, rate 0.80:
      P1 = round(2608.80 × 0.80) = 2087.04
    Critical illness: b = 771.76, under D2 5000.00: 0.00
    Assistance: below 771.76 × 0.50 = 385.88
    Charity: K80.1 is not listed: 0.00
    Health fund (registered poor, level 2, in-region): R = 2858.80 − 2087.04 − 385.88 = 385.88,
      L = round(2858.80 × 0.10) = 285.88, P5 = 385.88 − 285.88 = 100.00 (no cap)
    Patient: 3351.00 − 2572.92 = 778.08 (= first self-pay 492.20 + L 285.88)
    """
    settlement = _settled(settle(h1_claim(), h1_person(), 2, Accumulators(year=2019), book))
    assert settlement.tariff_version == "220000-2019"
    assert format_fen(settlement.totals.in_scope_fen) == "2858.80"
    assert _paid(settlement) == ["2087.04", "0.00", "385.88", "0.00", "100.00"]
    assert format_fen(settlement.totals.health_fund_fen) == "100.00"
    assert format_fen(settlement.totals.fund_total_fen) == "2572.92"
    assert format_fen(settlement.totals.patient_pay_fen) == "778.08"
    assert settlement.accumulators_after_fen.health_paid == 100_00
    # Allocated over the lines by what funds 1–4 left on each (largest remainder).
    assert sum(line.health_fund_fen for line in settlement.lines) == 100_00
    health = settlement.fund(Fund.HEALTH_FUND)
    assert health.explanation == (
        "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00",
        "no annual cap: pays 100.00",
    )
    assert health.explanation_zh[0] == (
        "政策范围内剩余 385.88 − 个人自付上限 2858.80 × 0.10 = 285.88 → 100.00"
    )


def test_h1_at_a_level_3_hospital_or_for_dibao_or_in_2018_gets_nothing_from_the_health_fund(
    book: TariffBook,
) -> None:
    level_3 = _settled(settle(h1_claim(), h1_person(), 3, Accumulators(year=2019), book))
    assert level_3.fund(Fund.HEALTH_FUND).explanation == (
        "not eligible: level-3 hospital is not covered: pays 0.00",
    )
    assert level_3.totals.health_fund_fen == 0


def test_r1_breaks_each_rule_once_and_the_refused_amounts_are_the_patients(
    book: TariffBook,
) -> None:
    """Stay 2018-03-01 to 03-06: 5 days; male, 59 at admission; no group, level 2.
      1 S0001 7 × 45.00: R03 allows 5 → refused 315.00 − 225.00 = 90.00; then 225.00 with
        over cap (45 − 40) × 5 = 25.00: in scope 200.00
      2 G0002 (female only) for a man: R01 → 0, refused 120.00
      3 P0002 (60 and over) at 59: R02 → 0, refused 80.00
      4 M0001 5 × 1500.00: R04 allows 3 → refused 7500.00 − 4500.00 = 3000.00; then 4500.00,
        at the cap, first self-pay × 0.30 = 1350.00: in scope 3150.00
      5 S0001 1 × 40.00: the 5 bed days are spent on line 1: R03 → 0, refused 40.00
      6 A0002 35.00 in scope
    Totals: total 8090.00 = refused 3330.00 + over cap 25.00 + first 1350.00 + in scope 3385.00
    Basic (2018, level 2): D1 500.00, rate 0.75: round(2885.00 × 0.75) = 2163.75; nothing else.
    Patient: 8090.00 − 2163.75 = 5926.25
    """
    settlement = _settled(settle(r1_claim(), r1_person(), 2, Accumulators(year=2018), book))
    assert _column(settlement, "refused_selfpay") == [
        "90.00", "120.00", "80.00", "3000.00", "40.00", "0.00",
    ]  # fmt: skip
    assert _column(settlement, "in_scope") == [
        "200.00", "0.00", "0.00", "3150.00", "0.00", "35.00",
    ]  # fmt: skip
    totals = settlement.totals
    assert format_fen(totals.refused_selfpay_fen) == "3330.00"
    assert format_fen(totals.over_cap_selfpay_fen) == "25.00"
    assert format_fen(totals.first_selfpay_fen) == "1350.00"
    assert format_fen(totals.in_scope_fen) == "3385.00"
    assert _paid(settlement) == ["2163.75", "0.00", "0.00", "0.00", "0.00"]
    assert format_fen(totals.total_fen) == "8090.00"
    assert format_fen(totals.patient_pay_fen) == "5926.25"
    found = [
        (f.rule, f.name, f.line_no, f.action, format_fen(f.amount_fen)) for f in settlement.findings
    ]
    assert found == [
        (Rule.R03, "超住院天数", 1, FindingAction.REFUSED, "90.00"),
        (Rule.R01, "超性别", 2, FindingAction.REFUSED, "120.00"),
        (Rule.R02, "超年龄", 3, FindingAction.REFUSED, "80.00"),
        (Rule.R04, "超限量", 4, FindingAction.REFUSED, "3000.00"),
        (Rule.R03, "超住院天数", 5, FindingAction.REFUSED, "40.00"),
    ]
    assert settlement.findings[0].message == (
        "line 1: S0001 普通病房床位费 is billed at most once per inpatient day; the stay has 5 "
        "days, 5 left for this code: quantity 7 → 5, 90.00 refused"
    )
    assert settlement.findings[1].message_zh == (
        "第2行 G0002 宫颈细胞学检查 限女性使用，患者为男性：数量 1 → 0，120.00 元不予支付"
    )


def test_r01_warns_for_a_patient_of_unknown_gender_and_pays(book: TariffBook) -> None:
    unknown = dataclasses.replace(r1_person(), gender=Gender.UNKNOWN)
    settlement = _settled(settle(r1_claim(), unknown, 2, Accumulators(year=2018), book))
    (warning,) = [f for f in settlement.findings if f.rule is Rule.R01]
    assert (warning.action, warning.amount_fen, warning.line_no) == (FindingAction.WARNING, 0, 2)
    assert settlement.lines[1].refused_selfpay_fen == 0
    assert settlement.lines[1].in_scope_fen == 120_00


def test_a_rule_that_finds_the_quantity_already_at_its_limit_does_not_act(
    book: TariffBook,
) -> None:
    """G0002 for a man is refused by R01; had it an age rule too, R02 would find 0 and stay
    silent. Here: line 5's S0001 is at 0 after R03, and one finding only is given for it."""
    settlement = _settled(settle(r1_claim(), r1_person(), 2, Accumulators(year=2018), book))
    assert [f.rule for f in settlement.findings if f.line_no == 5] == [Rule.R03]
