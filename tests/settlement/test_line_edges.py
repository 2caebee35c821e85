"""Step 1 and the rule checks at their edges: free lines, prices and amounts exactly at their
maxima, numbers longer than a decimal context holds, decimals hidden behind a trailing zero,
a claim of exactly and one more than the most lines, a same-day stay's one inpatient day, an
item with two rules that both apply, and a full-self-pay item a rule cuts.

`make mutate` (docs/mutation.md) found these unpinned. Step 1 has a fast path for the clean
claim and a slow path that names every problem; the two must accept exactly the same lines
(the engine asserts so), and a bound moved by one in the fast path (`0 <` for `0 <=`, `<=` for
`<`), or its exact decimal context dropped for the default one (28 digits, rounding quietly),
went through the example tests.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from settlement.engine import settle
from settlement.limits import CLAIM_LINES_MAX
from settlement.lines import classify_lines
from settlement.model import Accumulators, ClaimLine, Gender
from settlement.money import money
from settlement.rejection import Problem, ProblemCode, Rejection
from settlement.result import Settlement
from settlement.rules import RuleContext
from settlement.tariff import ItemRules, Tariff, TariffBook
from tests.worked_examples import example_claim, person, r1_claim, r1_person, x1_claim, x1_person


def line(line_no: int, code: str, quantity: str, price: str, amount: str) -> ClaimLine:
    return ClaimLine(line_no, code, Decimal(quantity), money(price), money(amount))


def settled_lines(book: TariffBook, *lines: ClaimLine) -> Settlement | Rejection:
    claim = dataclasses.replace(example_claim(), lines=lines)
    return settle(claim, person(), 3, Accumulators(year=2018), book)


def problems(result: Settlement | Rejection) -> list[tuple[ProblemCode, tuple[str | int, ...]]]:
    assert isinstance(result, Rejection), result
    return [(problem.code, problem.loc) for problem in result.problems]


def test_a_free_line_and_a_line_that_rounds_to_nothing_are_settled(book: TariffBook) -> None:
    """0.00 a unit, and 0.0001 × 0.01 = 0.000001, which rounds to 0.00: both are lines."""
    result = settled_lines(
        book,
        line(1, "S0001", "11", "45.00", "495.00"),
        line(2, "A0001", "1", "0.00", "0.00"),
        line(3, "A0002", "0.0001", "0.01", "0.00"),
    )
    assert isinstance(result, Settlement), result
    assert [settled.amount_fen for settled in result.lines] == [49500, 0, 0]


@pytest.mark.parametrize(
    ("quantity", "price", "amount", "field"),
    [
        ("1", "100000000.00", "100000000.00", "unit_price"),
        ("20", "50000000.00", "1000000000.00", "amount"),
    ],
    ids=["a price of exactly the maximum", "an amount of exactly the maximum"],
)
def test_a_number_exactly_at_its_maximum_is_refused(
    book: TariffBook, quantity: str, price: str, amount: str, field: str
) -> None:
    """The maxima are exclusive (a unit price below 100,000,000, a line below 1,000,000,000)."""
    result = settled_lines(book, line(1, "A0001", quantity, price, amount))
    assert problems(result) == [(ProblemCode.OUT_OF_RANGE, ("items", 0, field))]


TINY = "0" * 29 + "1"
"""30 decimals: with the integer part, more digits than the default decimal context's 28."""


@pytest.mark.parametrize(
    ("quantity", "price", "amount", "field"),
    [
        (f"1.{TINY}", "12.00", "12.00", "quantity"),
        ("1", f"12.{TINY}", "12.00", "unit_price"),
        ("1", "12.00", f"12.{TINY}", "amount"),
    ],
)
def test_a_number_too_long_for_a_decimal_context_is_refused_for_its_decimals(
    book: TariffBook, quantity: str, price: str, amount: str, field: str
) -> None:
    """Rounded to 28 digits, 1.000…0001 would be 1: it is refused, never read as 1."""
    result = settled_lines(book, line(1, "A0001", quantity, price, amount))
    assert problems(result) == [(ProblemCode.TOO_MANY_DECIMALS, ("items", 0, field))]


def test_decimals_behind_a_trailing_zero_are_counted(book: TariffBook) -> None:
    """495.0010 is 495.001: three decimals, whatever the zero after them."""
    result = settled_lines(book, line(1, "S0001", "11", "45.00", "495.0010"))
    assert isinstance(result, Rejection), result
    assert [problem.msg for problem in result.problems] == [
        "amount 495.0010 has 3 decimals; at most 2 are allowed"
    ]


def bad_at(count: int, position: int) -> tuple[ClaimLine, ...]:
    lines = [line(n, "A0002", "1", "3.50", "3.50") for n in range(1, count + 1)]
    lines[position] = line(position + 1, "Z9999", "1", "3.50", "3.50")
    return tuple(lines)


def test_a_claim_of_the_most_lines_has_each_line_checked(book: TariffBook) -> None:
    result = settled_lines(book, *bad_at(CLAIM_LINES_MAX, CLAIM_LINES_MAX - 1))
    assert problems(result) == [
        (ProblemCode.UNKNOWN_ITEM_CODE, ("items", CLAIM_LINES_MAX - 1, "item_code"))
    ]


def test_a_claim_of_one_line_too_many_is_refused_for_that_alone_in_words(
    book: TariffBook,
) -> None:
    """Its lines are not read one by one: the count is the whole answer."""
    result = settled_lines(book, *bad_at(CLAIM_LINES_MAX + 1, 0))
    assert result == Rejection(
        (
            Problem(
                ProblemCode.TOO_MANY_LINES,
                ("items",),
                f"{CLAIM_LINES_MAX + 1} lines; at most {CLAIM_LINES_MAX} are allowed",
            ),
        )
    )


def test_an_unknown_filing_is_named_in_words(book: TariffBook) -> None:
    claim = dataclasses.replace(x1_claim(), filing="abroad")  # type: ignore[arg-type]
    result = settle(claim, x1_person(), 3, Accumulators(year=2018), book, "210000")
    assert result == Rejection(
        (
            Problem(
                ProblemCode.UNKNOWN_FILING,
                ("filing",),
                "filing 'abroad' is not resident, referral, emergency or temporary",
            ),
        )
    )


@pytest.mark.parametrize(
    ("discharge", "days"),
    [(date(2018, 3, 1), 1), (date(2018, 3, 2), 1), (date(2018, 3, 3), 2)],
)
def test_a_stay_has_its_nights_as_inpatient_days_and_a_same_day_stay_one(
    discharge: date, days: int
) -> None:
    assert RuleContext.of(r1_person(), date(2018, 3, 1), discharge).days == days


def with_item_rules(book: TariffBook, code: str, rules: ItemRules) -> TariffBook:
    """The book with item `code` carrying `rules` in 220000-2018's catalog."""

    def ruled(tariff: Tariff) -> Tariff:
        if tariff.version != "220000-2018":
            return tariff
        item = dataclasses.replace(tariff.catalog[code], rules=rules)
        return dataclasses.replace(tariff, catalog={**tariff.catalog, code: item})

    return TariffBook(tuple(map(ruled, book.tariffs)))


def r1_with(book: TariffBook, *lines: ClaimLine) -> Settlement:
    claim = dataclasses.replace(r1_claim(), lines=lines)
    result = settle(claim, r1_person(), 2, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    return result


def test_an_item_refused_by_gender_is_not_refused_again_by_age(book: TariffBook) -> None:
    """For girls up to 14, billed for R1's man of 59: R01 refuses the whole line; R02, which
    would too, finds nothing left to refuse and says nothing."""
    ruled = with_item_rules(book, "A0001", ItemRules(gender=Gender.FEMALE, age_max=14))
    result = r1_with(ruled, line(1, "A0001", "2", "12.00", "24.00"))
    assert [(found.rule.value, found.line_no, found.amount_fen) for found in result.findings] == [
        ("R01", 1, 2400)
    ]


def test_a_full_self_pay_item_cut_by_a_rule_stays_full_self_pay_for_what_is_kept(
    book: TariffBook,
) -> None:
    """C0001 (class C) limited to 4 an admission, billed 6 × 388.00: 1552.00 kept, all of it
    the patient's (full self-pay), and 776.00 refused; nothing in scope."""
    ruled = with_item_rules(book, "C0001", ItemRules(max_quantity_units=40000))
    (settled,) = r1_with(ruled, line(1, "C0001", "6", "388.00", "2328.00")).lines
    assert (
        settled.amount_fen,
        settled.full_selfpay_fen,
        settled.over_cap_selfpay_fen,
        settled.first_selfpay_fen,
        settled.in_scope_fen,
        settled.refused_selfpay_fen,
    ) == (232800, 155200, 0, 0, 0, 77600)


def test_without_a_rule_context_step_1_splits_ruled_items_without_the_rules(
    book: TariffBook,
) -> None:
    """`classify_lines` alone (no person, no stay) splits S0001 (once a day) as billed."""
    catalog = next(t for t in book.tariffs if t.version == "220000-2018").catalog
    split = classify_lines((line(1, "S0001", "30", "40.00", "1200.00"),), catalog)
    assert split is not None
    assert (split.amount_fen, split.refused_fen, split.findings) == ([120000], [0], ())
