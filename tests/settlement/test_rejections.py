"""Every rejection is a value naming each problem and where it is, all reported at once.

The claims are the worked-example claim of SETTLEMENT_RULES.md §11 with one thing broken
(or several), so any problem reported comes from the broken part alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from moneyed import Money

from settlement.engine import settle
from settlement.limits import CLAIM_LINES_MAX
from settlement.model import Accumulators, Claim, ClaimLine
from settlement.money import money
from settlement.rejection import Problem, ProblemCode, Rejection
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import example_claim, example_lines, person


def line(
    line_no: int, code: str, quantity: str, price: str | Money, amount: str | Money
) -> ClaimLine:
    unit_price = price if isinstance(price, Money) else money(price)
    total = amount if isinstance(amount, Money) else money(amount)
    return ClaimLine(line_no, code, Decimal(quantity), unit_price, total)


def with_line(index: int, replacement: ClaimLine) -> Claim:
    """The example claim with the line at `index` replaced."""
    lines = list(example_lines())
    lines[index] = replacement
    return example_claim(lines=tuple(lines))


def rejected(claim: Claim, book: TariffBook, year: int = 2018) -> Rejection:
    result = settle(claim, person(), 3, Accumulators(year=year), book)
    assert isinstance(result, Rejection), result
    return result


def where(rejection: Rejection) -> list[tuple[ProblemCode, tuple[str | int, ...]]]:
    return [(problem.code, problem.loc) for problem in rejection.problems]


def only(rejection: Rejection) -> Problem:
    assert len(rejection.problems) == 1, rejection.problems
    return rejection.problems[0]


# -------------------------------------------------------------------------- items


def test_every_unknown_item_code_is_listed(book: TariffBook) -> None:
    lines = list(example_lines())
    lines[1] = line(2, "X9999", "1", "12000.00", "12000.00")
    lines[6] = line(7, "Z0001", "30", "3.50", "105.00")
    rejection = rejected(example_claim(lines=tuple(lines)), book)
    assert where(rejection) == [
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", 1, "item_code")),
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", 6, "item_code")),
    ]
    assert "X9999" in rejection.problems[0].msg
    assert "Z0001" in rejection.problems[1].msg


def test_an_amount_that_is_not_quantity_times_unit_price_is_rejected(book: TariffBook) -> None:
    # 11 × 45.00 = 495.00, not 495.01.
    rejection = rejected(with_line(0, line(1, "S0001", "11", "45.00", "495.01")), book)
    problem = only(rejection)
    assert (problem.code, problem.loc) == (ProblemCode.AMOUNT_MISMATCH, ("items", 0, "amount"))
    assert "495.00" in problem.msg


def test_an_amount_rounded_half_up_from_quantity_times_price_is_accepted(
    book: TariffBook,
) -> None:
    # 1.5 × 0.03 = 0.045 → round half up = 0.05.
    claim = with_line(6, line(7, "A0002", "1.5", "0.03", "0.05"))
    result = settle(claim, person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    assert result.lines[6].amount_fen == 5


def test_an_amount_rounded_down_from_a_half_fen_is_rejected(book: TariffBook) -> None:
    # 1.5 × 0.03 = 0.045 is 0.05 half up, so 0.04 does not match.
    rejection = rejected(with_line(6, line(7, "A0002", "1.5", "0.03", "0.04")), book)
    assert where(rejection) == [(ProblemCode.AMOUNT_MISMATCH, ("items", 6, "amount"))]


def test_an_amount_with_three_decimals_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(3, line(4, "B0001", "1", "1.001", "1.001")), book)
    assert where(rejection) == [(ProblemCode.TOO_MANY_DECIMALS, ("items", 3, "amount"))]


def test_a_quantity_with_five_decimals_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(3, line(4, "B0001", "1.00001", "1.00", "1.00")), book)
    assert where(rejection) == [(ProblemCode.TOO_MANY_DECIMALS, ("items", 3, "quantity"))]


def test_a_unit_price_with_seven_decimals_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(3, line(4, "B0001", "1", "1.0000001", "1.00")), book)
    assert where(rejection) == [(ProblemCode.TOO_MANY_DECIMALS, ("items", 3, "unit_price"))]


def test_a_unit_price_with_six_decimals_and_a_quantity_with_four_are_accepted(
    book: TariffBook,
) -> None:
    # 1.2345 × 2.000001 = 2.4690012345 → 2.47.
    claim = with_line(6, line(7, "A0002", "1.2345", "2.000001", "2.47"))
    result = settle(claim, person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result


def test_a_zero_quantity_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(2, line(3, "B0002", "0", "1230.50", "0.00")), book)
    assert where(rejection) == [(ProblemCode.QUANTITY_NOT_POSITIVE, ("items", 2, "quantity"))]


def test_a_negative_quantity_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(2, line(3, "B0002", "-4", "1230.50", "4922.00")), book)
    assert where(rejection) == [(ProblemCode.QUANTITY_NOT_POSITIVE, ("items", 2, "quantity"))]


def test_a_negative_amount_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(2, line(3, "B0002", "4", "1230.50", "-4922.00")), book)
    assert where(rejection) == [(ProblemCode.NEGATIVE_AMOUNT, ("items", 2, "amount"))]


def test_a_negative_unit_price_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(2, line(3, "B0002", "4", "-1230.50", "4922.00")), book)
    assert where(rejection) == [(ProblemCode.NEGATIVE_AMOUNT, ("items", 2, "unit_price"))]


def test_a_quantity_that_is_not_a_number_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(4, line(5, "C0001", "NaN", "388.00", "2328.00")), book)
    assert where(rejection) == [(ProblemCode.NOT_A_NUMBER, ("items", 4, "quantity"))]


def test_an_infinite_unit_price_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(4, line(5, "C0001", "6", "Infinity", "2328.00")), book)
    assert where(rejection) == [(ProblemCode.NOT_A_NUMBER, ("items", 4, "unit_price"))]


def test_an_amount_that_is_not_a_number_is_rejected(book: TariffBook) -> None:
    rejection = rejected(with_line(4, line(5, "C0001", "6", "388.00", "NaN")), book)
    assert where(rejection) == [(ProblemCode.NOT_A_NUMBER, ("items", 4, "amount"))]


def test_amounts_in_another_currency_are_rejected(book: TariffBook) -> None:
    usd = line(1, "S0001", "11", Money("45.00", "USD"), Money("495.00", "USD"))
    rejection = rejected(with_line(0, usd), book)
    assert where(rejection) == [
        (ProblemCode.WRONG_CURRENCY, ("items", 0, "unit_price")),
        (ProblemCode.WRONG_CURRENCY, ("items", 0, "amount")),
    ]
    assert "USD" in rejection.problems[0].msg


def test_a_line_number_used_twice_is_rejected_at_its_second_use(book: TariffBook) -> None:
    rejection = rejected(with_line(3, line(3, "B0001", "20", "18.75", "375.00")), book)
    assert where(rejection) == [(ProblemCode.DUPLICATE_LINE_NO, ("items", 3, "line_no"))]


# ------------------------------------------------------------------- claim as a whole


def test_a_claim_without_lines_is_rejected(book: TariffBook) -> None:
    rejection = rejected(example_claim(lines=()), book)
    assert where(rejection) == [(ProblemCode.NO_LINES, ("items",))]


def many_lines(count: int) -> tuple[ClaimLine, ...]:
    return tuple(line(number, "A0002", "1", "3.50", "3.50") for number in range(1, count + 1))


def test_a_claim_with_5001_lines_is_rejected(book: TariffBook) -> None:
    assert CLAIM_LINES_MAX == 5000
    rejection = rejected(example_claim(lines=many_lines(5001)), book)
    assert where(rejection) == [(ProblemCode.TOO_MANY_LINES, ("items",))]


def test_a_claim_with_exactly_5000_lines_settles(book: TariffBook) -> None:
    # 5000 × 3.50 = 17500.00, all class A in scope; no group, level 3:
    # P1 = round((17500.00 − 900.00) × 0.60) = 9960.00.
    result = settle(
        example_claim(lines=many_lines(5000)), person(), 3, Accumulators(year=2018), book
    )
    assert isinstance(result, Settlement), result
    assert len(result.lines) == 5000
    assert str(result.totals.total.amount) == "17500.00"
    assert str(result.totals.basic_insurance.amount) == "9960.00"


def test_a_discharge_before_the_admission_is_rejected(book: TariffBook) -> None:
    claim = example_claim(admission=date(2018, 3, 12), discharge=date(2018, 3, 11))
    rejection = rejected(claim, book)
    assert where(rejection) == [(ProblemCode.DISCHARGE_BEFORE_ADMISSION, ("discharge_date",))]


def test_a_discharge_on_the_admission_day_is_accepted(book: TariffBook) -> None:
    claim = example_claim(admission=date(2018, 3, 12), discharge=date(2018, 3, 12))
    result = settle(claim, person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result


@pytest.mark.parametrize("code", ["c34.1", "C341", "34.1", "C34.", "C34.12345", "肺癌"])
def test_an_invalid_icd10_code_is_rejected_at_its_position(code: str, book: TariffBook) -> None:
    broken = replace(example_claim(), diagnoses=("C34.1", code))
    rejection = rejected(broken, book)
    assert where(rejection) == [(ProblemCode.INVALID_DIAGNOSIS, ("diagnoses", 1))]


@pytest.mark.parametrize("code", ["C34", "C34.1", "Q21.0", "N18.5"])
def test_a_valid_icd10_code_is_accepted(code: str, book: TariffBook) -> None:
    claim = replace(example_claim(), diagnoses=(code,))
    result = settle(claim, person(), 3, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result


def test_a_claim_without_a_diagnosis_is_rejected(book: TariffBook) -> None:
    rejection = rejected(replace(example_claim(), diagnoses=()), book)
    assert where(rejection) == [(ProblemCode.NO_DIAGNOSIS, ("diagnoses",))]


def test_accumulators_for_another_year_are_rejected(book: TariffBook) -> None:
    rejection = rejected(example_claim(), book, year=2017)
    assert where(rejection) == [(ProblemCode.ACCUMULATORS_YEAR_MISMATCH, ("accumulators", "year"))]


# ---------------------------------------------------------------- all problems at once


def test_three_different_bad_lines_are_all_reported(book: TariffBook) -> None:
    lines = list(example_lines())
    lines[1] = line(2, "X9999", "1", "12000.00", "12000.00")  # unknown code
    lines[3] = line(4, "B0001", "20", "18.75", "375.01")  # 20 × 18.75 = 375.00
    lines[5] = line(6, "M0001", "-2", "1800.00", "3600.00")  # negative quantity
    rejection = rejected(example_claim(lines=tuple(lines)), book)
    assert where(rejection) == [
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", 1, "item_code")),
        (ProblemCode.AMOUNT_MISMATCH, ("items", 3, "amount")),
        (ProblemCode.QUANTITY_NOT_POSITIVE, ("items", 5, "quantity")),
    ]


def test_claim_problems_and_line_problems_are_reported_together(book: TariffBook) -> None:
    lines = list(example_lines())
    lines[0] = line(1, "X9999", "11", "45.00", "495.00")
    claim = example_claim(admission=date(2018, 3, 12), discharge=date(2018, 3, 1))
    broken = replace(claim, diagnoses=("lung",), lines=tuple(lines))
    rejection = rejected(broken, book)
    assert rejection.codes == {
        ProblemCode.DISCHARGE_BEFORE_ADMISSION,
        ProblemCode.INVALID_DIAGNOSIS,
        ProblemCode.UNKNOWN_ITEM_CODE,
    }
    assert len(rejection.problems) == 3


def test_a_rejection_is_returned_not_raised(book: TariffBook) -> None:
    result = settle(example_claim(lines=()), person(), 3, Accumulators(year=2017), book)
    assert isinstance(result, Rejection)
    assert result.codes == {ProblemCode.NO_LINES, ProblemCode.ACCUMULATORS_YEAR_MISMATCH}
