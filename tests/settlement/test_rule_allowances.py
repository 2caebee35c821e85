"""The rule checks (§14) at their edges: allowances spent over several lines of one code, ages
and quantities exactly at a limit, the smallest quantity a claim can bill, and the health
fund's step as the slip shows it.

`make mutate` (docs/mutation.md) found each of these unpinned by an example: the allowance left
for a code read afresh on a third line, a limit compared with `>=`, an age one year off, or a
fund step whose base or explanation is wrong all passed the engine's example tests.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from settlement.engine import settle
from settlement.model import Accumulators, ClaimLine, Fund, Gender, Person
from settlement.money import money
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import h1_claim, h1_person, r1_claim, r1_person


def line(line_no: int, code: str, quantity: str, price: str, amount: str) -> ClaimLine:
    return ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))


def findings(
    book: TariffBook, lines: list[ClaimLine], who: Person | None = None
) -> list[tuple[str, int, int, str]]:
    """R1's stay (5 days, level 2) billing `lines` for `who` (R1's man of 59 by default):
    each finding as (rule, line, refused fen, message)."""
    claim = dataclasses.replace(r1_claim(), lines=tuple(lines))
    result = settle(claim, who or r1_person(), 2, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    return [(f.rule.value, f.line_no, f.amount_fen, f.message) for f in result.findings]


def born(day: date, gender: Gender = Gender.MALE) -> Person:
    return dataclasses.replace(r1_person(), birth_date=day, gender=gender)


def test_bed_days_are_spent_over_every_line_of_the_code_not_just_the_last_two(
    book: TariffBook,
) -> None:
    """Three lines of 2 bed days in a 5-day stay: 5 left, then 3, then 1 for the third."""
    bed = [line(n, "S0001", "2", "45.00", "90.00") for n in (1, 2, 3)]
    assert findings(book, bed) == [
        ("R03", 3, 45_00, "line 3: S0001 普通病房床位费 is billed at most once per inpatient day; "
         "the stay has 5 days, 1 left for this code: quantity 2 → 1, 45.00 refused"),
    ]  # fmt: skip


def test_a_per_admission_limit_is_spent_over_every_line_of_the_code(book: TariffBook) -> None:
    """M0001 is limited to 3 an admission: four lines of 1, the fourth is refused."""
    staplers = [line(n, "M0001", "1", "1500.00", "1500.00") for n in (1, 2, 3, 4)]
    assert findings(book, staplers) == [
        ("R04", 4, 1500_00, "line 4: M0001 一次性使用吻合器 is limited to 3 per admission, 0 left "
         "for this code: quantity 1 → 0, 1500.00 refused"),
    ]  # fmt: skip
    spent_at_once = [
        line(1, "M0001", "3", "1500.00", "4500.00"),
        line(2, "M0001", "1", "1500.00", "1500.00"),
    ]
    assert [(rule, no, fen) for rule, no, fen, _ in findings(book, spent_at_once)] == [
        ("R04", 2, 1500_00)
    ]


def test_a_quantity_exactly_at_a_limit_is_paid_without_a_finding(book: TariffBook) -> None:
    assert findings(book, [line(1, "M0001", "3", "1500.00", "4500.00")]) == []
    assert findings(book, [line(1, "S0001", "5", "45.00", "225.00")]) == []


def test_the_smallest_quantity_billed_is_refused_by_gender_and_age_rules(
    book: TariffBook,
) -> None:
    """0.0001 of an item (one unit of the quantity's four decimals) still breaks its rule."""
    tiny = [
        line(1, "P0002", "0.0001", "80.00", "0.01"),
        line(2, "G0002", "0.0001", "120.00", "0.01"),
    ]
    assert [(rule, no, fen) for rule, no, fen, _ in findings(book, tiny)] == [
        ("R02", 1, 1),
        ("R01", 2, 1),
    ]


def test_an_item_for_the_patients_own_gender_is_paid(book: TariffBook) -> None:
    woman = born(date(1958, 6, 1), Gender.FEMALE)
    assert findings(book, [line(1, "G0002", "1", "120.00", "120.00")], woman) == []


def test_ages_at_a_limit_are_inside_it(book: TariffBook) -> None:
    """P0002 is for 60 and over: 60 on the day of admission is paid. P0001 is for up to 0: a
    baby of 11 months is paid, one turning 1 on the day of admission is refused."""
    assert findings(book, [line(1, "P0002", "1", "80.00", "80.00")], born(date(1958, 3, 1))) == []
    screening = [line(1, "P0001", "1", "60.00", "60.00")]
    assert findings(book, screening, born(date(2017, 3, 2))) == []
    assert findings(book, screening, born(date(2017, 3, 1))) == [
        ("R02", 1, 60_00, "line 1: P0001 新生儿听力筛查 is for ages up to 0; the patient was 1 at "
         "admission: quantity 1 → 0, 60.00 refused"),
    ]  # fmt: skip


# ---------------------------------------------------------------- the health fund's step


def test_h1s_health_fund_step_reads_as_the_slip_shows_it(book: TariffBook) -> None:
    """H1 (2019, level 2, registered poor): the fund looks at the 385.88 left in scope, the
    patient keeps at most a tenth of S = 2858.80, so it pays 100.00; it has no annual cap."""
    result = settle(h1_claim(), h1_person(), 2, Accumulators(year=2019), book)
    assert isinstance(result, Settlement), result
    step = result.fund(Fund.HEALTH_FUND)
    assert (step.fund_code, step.base_fen, step.payable_fen, step.cap_remaining_fen) == (
        "610103", 385_88, 100_00, None,
    )  # fmt: skip
    assert step.paid_fen == result.totals.health_fund_fen == 100_00
    assert step.explanation == (
        "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00",
        "no annual cap: pays 100.00",
    )
    assert step.explanation_zh == (
        "政策范围内剩余 385.88 − 个人自付上限 2858.80 × 0.10 = 285.88 → 100.00",
        "不设年度限额：支付 100.00",
    )


def test_a_health_fund_step_that_does_not_pay_says_why_and_what_it_looked_at(
    book: TariffBook,
) -> None:
    """H1 at a level-3 hospital: the fund is not for level 3; it still reports the in-scope
    amount left to it (646.54) as its base, and pays nothing."""
    result = settle(h1_claim(), h1_person(), 3, Accumulators(year=2019), book)
    assert isinstance(result, Settlement), result
    step = result.fund(Fund.HEALTH_FUND)
    assert (step.fund_code, step.base_fen, step.payable_fen, step.cap_remaining_fen) == (
        "610103", 646_54, 0, None,
    )  # fmt: skip
    assert step.paid_fen == 0
    assert step.explanation == ("not eligible: level-3 hospital is not covered: pays 0.00",)
    assert step.explanation_zh == ("不符合条件：3级医院不在保障范围：支付 0.00",)
