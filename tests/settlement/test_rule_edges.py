"""Golden cases for the edges of SETTLEMENT_RULES.md §3–§9, each figure worked out by hand.

The arithmetic behind every expected amount is written in a comment beside it, with the
default tariff's parameters (DEFAULT_TARIFF.md). `round` is half up to the fen.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from moneyed import Money

from settlement.engine import settle
from settlement.model import Accumulators, Claim, ClaimLine, Fund, Group, Person, Status
from settlement.money import money
from settlement.rejection import ProblemCode, Rejection
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import example_claim, person

DISCHARGE = date(2018, 3, 12)


def text(amount: Money) -> str:
    """A `Money` amount as the contract's string ("251.62")."""
    return str(amount.amount)


def line(line_no: int, code: str, quantity: str, price: str, amount: str) -> ClaimLine:
    return ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))


def one_line_claim(
    code: str, quantity: str, price: str, amount: str, diagnosis: str = "K80.1"
) -> Claim:
    return example_claim(diagnosis, lines=(line(1, code, quantity, price, amount),))


def settled(
    claim: Claim,
    who: Person,
    level: int,
    accumulators: Accumulators,
    book: TariffBook,
) -> Settlement:
    result = settle(claim, who, level, accumulators, book)
    assert isinstance(result, Settlement), result
    return result


def fund_totals(settlement: Settlement) -> tuple[str, str, str, str, str]:
    """basic / critical illness / assistance / charity / patient, as strings."""
    totals = settlement.totals
    return (
        text(totals.basic_insurance),
        text(totals.critical_illness),
        text(totals.medical_assistance),
        text(totals.charity),
        text(totals.patient_pay),
    )


# ---------------------------------------------------------------- basic insurance (§5)


def test_basic_insurance_pays_nothing_when_in_scope_exactly_meets_the_deductible(
    book: TariffBook,
) -> None:
    # 75 × 12.00 = 900.00, class A: in scope 900.00 = the level-3 deductible 900.00.
    # payable = round(max(0, 900.00 − 900.00) × 0.60) = 0.00; deductible_applied = 900.00.
    claim = one_line_claim("A0001", "75", "12.00", "900.00")
    settlement = settled(claim, person(), 3, Accumulators(year=2018), book)
    assert text(settlement.totals.in_scope) == "900.00"
    assert text(settlement.totals.deductible_applied) == "900.00"
    assert fund_totals(settlement) == ("0.00", "0.00", "0.00", "0.00", "900.00")


def test_basic_insurance_applies_only_the_in_scope_amount_when_below_the_deductible(
    book: TariffBook,
) -> None:
    # 50 × 12.00 = 600.00 in scope < 900.00: deductible_applied = min(600.00, 900.00) = 600.00.
    claim = one_line_claim("A0001", "50", "12.00", "600.00")
    settlement = settled(claim, person(), 3, Accumulators(year=2018), book)
    assert text(settlement.totals.deductible_applied) == "600.00"
    assert fund_totals(settlement) == ("0.00", "0.00", "0.00", "0.00", "600.00")


def test_a_later_admission_in_the_year_halves_the_basic_deductible(book: TariffBook) -> None:
    # No group, level 3, one admission already in 2018: D1 = round(900.00 × 0.5) = 450.00.
    # P1 = round((19195.10 − 450.00) × 0.60) = round(11247.06) = 11247.06.
    # b = 19195.10 − 11247.06 = 7948.04; year's base 1000.00 + 7948.04 < 10000.00 → P2 = 0.
    # patient = 24100.00 − 11247.06 = 12852.94.
    before = Accumulators(
        year=2018, admissions=1, basic_paid=money("600.00"), ci_base=money("1000.00")
    )
    settlement = settled(example_claim(), person(), 3, before, book)
    assert text(settlement.totals.deductible_applied) == "450.00"
    assert fund_totals(settlement) == ("11247.06", "0.00", "0.00", "0.00", "12852.94")
    assert settlement.accumulators_after.admissions == 2


def test_a_level_one_hospital_uses_its_own_deductible_and_rate_rounding_half_up(
    book: TariffBook,
) -> None:
    # Level 1: D1 = 200.00, rate 0.85. P1 = round(18995.10 × 0.85) = round(16145.835) = 16145.84.
    # b = 19195.10 − 16145.84 = 3049.26 < 10000.00 → P2 = 0; patient 24100.00 − 16145.84.
    settlement = settled(example_claim("K80.1"), person(), 1, Accumulators(year=2018), book)
    assert text(settlement.totals.deductible_applied) == "200.00"
    assert fund_totals(settlement) == ("16145.84", "0.00", "0.00", "0.00", "7954.16")


def test_basic_insurance_stops_at_its_annual_cap_in_the_middle_of_a_claim(
    book: TariffBook,
) -> None:
    # No group, level 3, later admission: D1 = 450.00. One line S0002 12000.00 (class A).
    # payable = round((12000.00 − 450.00) × 0.60) = 6930.00; cap left 150000.00 − 149000.00
    # = 1000.00 → P1 = 1000.00. b = 12000.00 − 1000.00 = 11000.00.
    # CI: lo = 80000.00 − 10000.00 = 70000.00, hi = 81000.00, all in [50000, 100000) at 0.60:
    # P2 = 11000.00 × 0.60 = 6600.00. patient = 12000.00 − 1000.00 − 6600.00 = 4400.00.
    before = Accumulators(
        year=2018,
        admissions=3,
        basic_paid=money("149000.00"),
        ci_base=money("80000.00"),
        ci_paid=money("37000.00"),
    )
    claim = one_line_claim("S0002", "1", "12000.00", "12000.00")
    settlement = settled(claim, person(), 3, before, book)
    basic = settlement.fund(Fund.BASIC_INSURANCE)
    assert text(basic.payable) == "6930.00"
    assert basic.cap_remaining_fen == 100000
    assert fund_totals(settlement) == ("1000.00", "6600.00", "0.00", "0.00", "4400.00")
    after = settlement.accumulators_after
    assert text(after.basic_paid) == "150000.00"
    assert text(after.ci_base) == "91000.00"
    assert text(after.ci_paid) == "43600.00"


# ------------------------------------------------------ critical-illness insurance (§6)


def test_critical_illness_pays_nothing_when_the_year_reaches_exactly_its_deductible(
    book: TariffBook,
) -> None:
    # Later admission, level 3: D1 = 450.00, P1 = round(550.00 × 0.60) = 330.00, b = 670.00.
    # Year's base 9330.00 + 670.00 = 10000.00 = D2 → hi = 0, above = 0 → P2 = 0.
    before = Accumulators(year=2018, admissions=1, ci_base=money("9330.00"))
    claim = one_line_claim("A0001", "1", "1000.00", "1000.00")
    settlement = settled(claim, person(), 3, before, book)
    assert fund_totals(settlement) == ("330.00", "0.00", "0.00", "0.00", "670.00")


def test_critical_illness_rounds_half_a_fen_above_its_deductible_up_to_one_fen(
    book: TariffBook,
) -> None:
    # As above with the year's base one fen higher: hi = 9330.01 + 670.00 − 10000.00 = 0.01.
    # exact = 0.01 × 0.50 = 0.005 → round half up = 0.01.
    before = Accumulators(year=2018, admissions=1, ci_base=money("9330.01"))
    claim = one_line_claim("A0001", "1", "1000.00", "1000.00")
    settlement = settled(claim, person(), 3, before, book)
    assert fund_totals(settlement) == ("330.00", "0.01", "0.00", "0.00", "669.99")


def test_a_claim_crossing_two_critical_illness_bands_is_paid_at_both_rates_rounded_once(
    book: TariffBook,
) -> None:
    # No group, level 3, later admission: D1 = 450.00. One class-A line of 10000.05.
    # P1 = round((10000.05 − 450.00) × 0.60) = round(5730.03) = 5730.03; b = 4270.02.
    # lo = 57999.99 − 10000.00 = 47999.99; hi = 47999.99 + 4270.02 = 52270.01.
    # [0, 50000) at 0.50: 2000.01 × 0.50 = 1000.005
    # [50000, 100000) at 0.60: 2270.01 × 0.60 = 1362.006
    # exact = 2362.011 → 2362.01 (rounding each band first would give 1000.01 + 1362.01 = 2362.02).
    # patient = 10000.05 − 5730.03 − 2362.01 = 1908.01.
    before = Accumulators(
        year=2018,
        admissions=2,
        basic_paid=money("30000.00"),
        ci_base=money("57999.99"),
        ci_paid=money("24000.00"),
    )
    claim = one_line_claim("A0001", "1", "10000.05", "10000.05")
    settlement = settled(claim, person(), 3, before, book)
    assert fund_totals(settlement) == ("5730.03", "2362.01", "0.00", "0.00", "1908.01")
    after = settlement.accumulators_after
    assert text(after.ci_base) == "62270.01"
    assert text(after.ci_paid) == "26362.01"


def test_critical_illness_stops_at_its_annual_cap_for_a_person_without_a_group(
    book: TariffBook,
) -> None:
    # No group, level 3, later admission: P1 = round(11550.00 × 0.60) = 6930.00 (cap not hit:
    # 150000.00 − 100000.00 left). b = 12000.00 − 6930.00 = 5070.00.
    # lo = 500000.00 − 10000.00 = 490000.00, in [100000, ∞) at 0.70: payable 5070.00 × 0.70
    # = 3549.00; cap left 300000.00 − 299000.00 = 1000.00 → P2 = 1000.00.
    # patient = 12000.00 − 6930.00 − 1000.00 = 4070.00.
    before = Accumulators(
        year=2018,
        admissions=5,
        basic_paid=money("100000.00"),
        ci_base=money("500000.00"),
        ci_paid=money("299000.00"),
    )
    claim = one_line_claim("S0002", "1", "12000.00", "12000.00")
    settlement = settled(claim, person(), 3, before, book)
    critical = settlement.fund(Fund.CRITICAL_ILLNESS)
    assert text(critical.payable) == "3549.00"
    assert critical.cap_remaining_fen == 100000
    assert fund_totals(settlement) == ("6930.00", "1000.00", "0.00", "0.00", "4070.00")
    assert text(settlement.accumulators_after.ci_paid) == "300000.00"


def test_critical_illness_has_no_annual_cap_for_an_assistance_group(book: TariffBook) -> None:
    # Dibao, level 3, later admission: D1 = round(900.00 × 0.5 × 0.5) = 225.00, rate 0.65.
    # P1 = round(11775.00 × 0.65) = 7653.75; b = 4346.25. D2 = 5000.00, lo = 495000.00,
    # in [100000, ∞) at 0.70 + 0.05: 4346.25 × 0.75 = 3259.6875 → 3259.69, no cap although
    # 299000.00 was already paid this year.
    # Assistance: below = 0, above_rest = 4346.25 − 3259.69 = 1086.56 × 0.75 = 814.92.
    # patient = 12000.00 − 7653.75 − 3259.69 − 814.92 = 271.64.
    before = Accumulators(
        year=2018,
        admissions=5,
        basic_paid=money("100000.00"),
        ci_base=money("500000.00"),
        ci_paid=money("299000.00"),
    )
    claim = one_line_claim("S0002", "1", "12000.00", "12000.00")
    settlement = settled(claim, person(Group.DIBAO), 3, before, book)
    assert settlement.fund(Fund.CRITICAL_ILLNESS).cap_remaining_fen is None
    assert fund_totals(settlement) == ("7653.75", "3259.69", "814.92", "0.00", "271.64")
    assert text(settlement.accumulators_after.ci_paid) == "302259.69"


# ----------------------------------------------------------- medical assistance (§7)


def test_medical_assistance_stops_at_the_dibao_annual_cap_and_says_so(book: TariffBook) -> None:
    # Dibao, level 3, later admission: D1 = 225.00, rate 0.65.
    # P1 = round((19195.10 − 225.00) × 0.65) = round(12330.565) = 12330.57; b = 6864.53.
    # CI: lo = 40000.00 − 5000.00 = 35000.00, hi = 41864.53, first band at 0.55:
    # 6864.53 × 0.55 = 3775.4915 → 3775.49.
    # Assistance: below = 0, above_rest = 6864.53 − 3775.49 = 3089.04; payable = 3089.04 × 0.75
    # = 2316.78; cap left 30000.00 − 29000.00 = 1000.00 → P3 = 1000.00. K80.1: no charity.
    # patient = 24100.00 − 12330.57 − 3775.49 − 1000.00 = 6993.94.
    before = Accumulators(
        year=2018,
        admissions=1,
        basic_paid=money("20000.00"),
        ci_base=money("40000.00"),
        ci_paid=money("19250.00"),
        assistance_paid=money("29000.00"),
    )
    settlement = settled(example_claim("K80.1"), person(Group.DIBAO), 3, before, book)
    assistance = settlement.fund(Fund.MEDICAL_ASSISTANCE)
    assert text(assistance.payable) == "2316.78"
    assert assistance.cap_remaining_fen == 100000
    assert fund_totals(settlement) == ("12330.57", "3775.49", "1000.00", "0.00", "6993.94")
    assert any("cap" in sentence and "1000.00" in sentence for sentence in assistance.explanation)
    assert text(settlement.accumulators_after.assistance_paid) == "30000.00"


def test_a_destitute_person_pays_only_the_self_pay_parts(book: TariffBook) -> None:
    # Destitute, level 3, first admission, K80.1: P1 = 12184.32 and P2 = 1105.93 as in E2
    # (same tilt). P3 = round(5000.00 × 1.00 + 904.85 × 1.00) = 5904.85.
    # 12184.32 + 1105.93 + 5904.85 = 19195.10 = in scope: the patient pays
    # full 2328.00 + over cap 655.00 + first 1921.90 = 4904.90.
    settlement = settled(
        example_claim("K80.1"), person(Group.DESTITUTE), 3, Accumulators(year=2018), book
    )
    assert fund_totals(settlement) == ("12184.32", "1105.93", "5904.85", "0.00", "4904.90")
    # Line by line, what is left is exactly each line's self-pay parts (§11 table).
    patient = ["55.00", "0.00", "984.40", "37.50", "2328.00", "1500.00", "0.00", "0.00"]
    assert [text(item.patient_pay) for item in settlement.lines] == patient


# --------------------------------------------------------------------- charity (§8)


def test_charity_pays_nothing_for_a_listed_disease_treated_without_surgery(
    book: TariffBook,
) -> None:
    # Dibao, C34.1 without surgery: funds as E2 up to assistance, no charity.
    # patient = 24100.00 − 12184.32 − 1105.93 − 3178.64 = 7631.11.
    claim = example_claim("C34.1", surgery=False)
    settlement = settled(claim, person(Group.DIBAO), 3, Accumulators(year=2018), book)
    assert settlement.charity_disease is None
    assert fund_totals(settlement) == ("12184.32", "1105.93", "3178.64", "0.00", "7631.11")


def child(birth_date: date) -> Person:
    return person(Group.DIBAO, birth_date=birth_date)


def test_charity_covers_a_child_who_turns_14_on_the_admission_day(book: TariffBook) -> None:
    # Born 2004-03-01, admitted 2018-03-01: 14 that day, age_max 14 → eligible.
    # P4 = 19195.10 − 12184.32 − 1105.93 − 3178.64 = 2726.21 (the E2 cascade).
    claim = example_claim("Q21.0")
    settlement = settled(claim, child(date(2004, 3, 1)), 3, Accumulators(year=2018), book)
    assert settlement.charity_disease == "儿童先天性心脏病"
    assert fund_totals(settlement) == ("12184.32", "1105.93", "3178.64", "2726.21", "4904.90")


def test_charity_covers_a_child_aged_14_the_day_before_turning_15(book: TariffBook) -> None:
    # Born 2003-03-02, admitted 2018-03-01: still 14 → eligible.
    claim = example_claim("Q21.0")
    settlement = settled(claim, child(date(2003, 3, 2)), 3, Accumulators(year=2018), book)
    assert settlement.charity_disease == "儿童先天性心脏病"
    assert text(settlement.totals.charity) == "2726.21"


def test_charity_does_not_cover_a_child_who_turns_15_on_the_admission_day(
    book: TariffBook,
) -> None:
    # Born 2003-03-01, admitted 2018-03-01: 15 that day > age_max 14 → no charity.
    claim = example_claim("Q21.0")
    settlement = settled(claim, child(date(2003, 3, 1)), 3, Accumulators(year=2018), book)
    assert settlement.charity_disease is None
    assert fund_totals(settlement) == ("12184.32", "1105.93", "3178.64", "0.00", "7631.11")


# ----------------------------------------------------------- nothing in scope (§4)


def test_a_claim_with_only_class_c_lines_gets_nothing_from_any_fund(book: TariffBook) -> None:
    # C0001 2 × 388.00 = 776.00 and M0002 1 × 3500.00, both class C: S = 0.
    # Every fund pays 0 (deductible_applied = min(0, 225.00) = 0); the patient pays 4276.00.
    lines = (
        line(1, "C0001", "2", "388.00", "776.00"),
        line(2, "M0002", "1", "3500.00", "3500.00"),
    )
    claim = example_claim("C34.1", lines=lines)
    settlement = settled(claim, person(Group.DIBAO), 3, Accumulators(year=2018), book)
    totals = settlement.totals
    assert text(totals.full_selfpay) == "4276.00"
    assert text(totals.in_scope) == "0.00"
    assert text(totals.deductible_applied) == "0.00"
    assert fund_totals(settlement) == ("0.00", "0.00", "0.00", "0.00", "4276.00")
    assert [text(item.patient_pay) for item in settlement.lines] == ["776.00", "3500.00"]
    after = settlement.accumulators_after
    assert (after.admissions, text(after.ci_base)) == (1, "0.00")


# ------------------------------------------------------- tariff and policy year (§3)


def dibao_claim_ending(discharge: date) -> Claim:
    return example_claim("K80.1", admission=date(2018, 12, 20), discharge=discharge)


def test_a_claim_discharged_on_2_january_2019_uses_the_2019_band_rates(book: TariffBook) -> None:
    # Dibao, level 3, first admission of 2019: P1 = 12184.32, b = 7010.78 (as E2).
    # 2019 band [0, 50000) at 0.60 + 0.05: above 2010.78 × 0.65 = 1307.007 → 1307.01.
    # P3 = round(5000.00 × 0.50 + (2010.78 − 1307.01) × 0.75) = round(2500.00 + 527.8275)
    # = 3027.83. patient = 24100.00 − 12184.32 − 1307.01 − 3027.83 = 7580.84.
    claim = dibao_claim_ending(date(2019, 1, 2))
    settlement = settled(claim, person(Group.DIBAO), 3, Accumulators(year=2019), book)
    assert settlement.tariff_version == "220000-2019"
    assert settlement.policy_year == 2019
    assert settlement.accumulators_after.year == 2019
    assert fund_totals(settlement) == ("12184.32", "1307.01", "3027.83", "0.00", "7580.84")


def test_a_claim_discharged_on_31_december_2018_uses_the_2018_band_rates(
    book: TariffBook,
) -> None:
    # Same claim under 220000-2018: above 2010.78 × 0.55 = 1105.929 → 1105.93;
    # P3 = round(2500.00 + 904.85 × 0.75) = round(3178.6375) = 3178.64;
    # patient = 24100.00 − 12184.32 − 1105.93 − 3178.64 = 7631.11.
    claim = dibao_claim_ending(date(2018, 12, 31))
    settlement = settled(claim, person(Group.DIBAO), 3, Accumulators(year=2018), book)
    assert settlement.tariff_version == "220000-2018"
    assert settlement.policy_year == 2018
    assert fund_totals(settlement) == ("12184.32", "1105.93", "3178.64", "0.00", "7631.11")


def test_the_policy_year_is_the_discharge_year_not_the_admission_year(book: TariffBook) -> None:
    # Admitted in 2018, discharged in 2019: accumulators of 2018 are the wrong year.
    claim = dibao_claim_ending(date(2019, 1, 2))
    result = settle(claim, person(Group.DIBAO), 3, Accumulators(year=2018), book)
    assert isinstance(result, Rejection)
    assert result.codes == {ProblemCode.ACCUMULATORS_YEAR_MISMATCH}


def test_a_claim_discharged_when_no_tariff_is_in_force_is_rejected(book: TariffBook) -> None:
    claim = example_claim(admission=date(2020, 5, 20), discharge=date(2020, 6, 1))
    result = settle(claim, person(), 3, Accumulators(year=2020), book)
    assert isinstance(result, Rejection)
    assert result.codes == {ProblemCode.NO_TARIFF}
    assert result.problems[0].loc == ("discharge_date",)


def test_a_claim_discharged_before_the_first_tariff_is_rejected(book: TariffBook) -> None:
    claim = example_claim(admission=date(2017, 12, 20), discharge=date(2017, 12, 31))
    result = settle(claim, person(), 3, Accumulators(year=2017), book)
    assert isinstance(result, Rejection)
    assert result.codes == {ProblemCode.NO_TARIFF}


def test_a_person_insured_in_a_region_without_a_tariff_is_rejected(book: TariffBook) -> None:
    beijing = Person("P0001", date(1960, 5, 1), "110000")
    result = settle(example_claim(), beijing, 3, Accumulators(year=2018), book)
    assert isinstance(result, Rejection)
    assert result.codes == {ProblemCode.NO_TARIFF}


# --------------------------------------------------------------- the group (§3)


def test_a_status_that_ended_the_day_before_discharge_gives_no_group(book: TariffBook) -> None:
    # Dibao until 2018-03-11, discharged 2018-03-12: no group, so E1's figures.
    lapsed = person(Group.DIBAO, valid_to=date(2018, 3, 11))
    settlement = settled(example_claim(), lapsed, 3, Accumulators(year=2018), book)
    assert settlement.group is None
    assert settlement.charity_disease is None
    assert fund_totals(settlement) == ("10977.06", "0.00", "0.00", "0.00", "13122.94")


def test_a_status_that_ends_on_the_discharge_day_still_applies(book: TariffBook) -> None:
    # Dibao until 2018-03-12 = discharge day (both ends included): E2's figures.
    current = person(Group.DIBAO, valid_to=DISCHARGE)
    settlement = settled(example_claim(), current, 3, Accumulators(year=2018), book)
    assert settlement.group is Group.DIBAO
    assert fund_totals(settlement) == ("12184.32", "1105.93", "3178.64", "2726.21", "4904.90")


def test_a_status_that_starts_on_the_discharge_day_applies(book: TariffBook) -> None:
    # Dibao from 2018-03-12 = discharge day: the group is chosen on the discharge date.
    new = person(Group.DIBAO, valid_from=DISCHARGE)
    settlement = settled(example_claim(), new, 3, Accumulators(year=2018), book)
    assert settlement.group is Group.DIBAO
    assert text(settlement.totals.medical_assistance) == "3178.64"


def statuses(*groups: Group) -> Person:
    held = tuple(Status(group, date(2017, 1, 1), None) for group in groups)
    return Person("P0001", date(1960, 5, 1), "220000", held)


def test_destitute_takes_precedence_over_dibao(book: TariffBook) -> None:
    # Both valid, dibao listed first: destitute wins. Its P3 = 5000.00 + 904.85 = 5904.85
    # (dibao would give 3178.64).
    both = statuses(Group.DIBAO, Group.DESTITUTE)
    settlement = settled(example_claim("K80.1"), both, 3, Accumulators(year=2018), book)
    assert settlement.group is Group.DESTITUTE
    assert text(settlement.totals.medical_assistance) == "5904.85"


def test_dibao_takes_precedence_over_registered_poor(book: TariffBook) -> None:
    # registered_poor would pay round(2500.00 + 904.85 × 0.70) = round(3133.395) = 3133.40;
    # dibao pays 3178.64.
    both = statuses(Group.REGISTERED_POOR, Group.DIBAO)
    settlement = settled(example_claim("K80.1"), both, 3, Accumulators(year=2018), book)
    assert settlement.group is Group.DIBAO
    assert text(settlement.totals.medical_assistance) == "3178.64"


def test_an_expired_higher_status_gives_way_to_a_valid_lower_one(book: TariffBook) -> None:
    held = (
        Status(Group.DESTITUTE, date(2017, 1, 1), date(2017, 12, 31)),
        Status(Group.REGISTERED_POOR, date(2017, 1, 1), None),
    )
    who = Person("P0001", date(1960, 5, 1), "220000", held)
    settlement = settled(example_claim("K80.1"), who, 3, Accumulators(year=2018), book)
    assert settlement.group is Group.REGISTERED_POOR
    # round(5000.00 × 0.50 + 904.85 × 0.70) = round(3133.395) = 3133.40.
    assert text(settlement.totals.medical_assistance) == "3133.40"
