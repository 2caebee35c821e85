"""The fast path for clean lines accepts exactly what the full check accepts."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st
from moneyed import Money

from settlement.lines import check_lines, classify_lines
from settlement.model import ClaimLine
from tariffs import load_default

CATALOG = load_default().book.by_version("220000-2018").catalog  # type: ignore[union-attr]
CODES = sorted(CATALOG)

decimal_texts = st.one_of(
    st.decimals(min_value=Decimal("-5"), max_value=Decimal("2000"), places=2).map(str),
    st.decimals(min_value=Decimal(0), max_value=Decimal("100"), places=6).map(str),
    st.sampled_from(
        ["0", "1", "1.5", "1.500", "495.000", "0.00001", "1E+3", "1e-7", "NaN", "Infinity",
         "-0", "99999999.999999", "1000000", "1000000000.00", "1.0000000000000000000000000000001"]
    ),
)  # fmt: skip


@st.composite
def lines(draw: st.DrawFn) -> tuple[ClaimLine, ...]:
    count = draw(st.integers(min_value=1, max_value=6))
    result = []
    for index in range(count):
        quantity = Decimal(draw(decimal_texts))
        price = Decimal(draw(decimal_texts))
        if draw(st.booleans()) and quantity.is_finite() and price.is_finite():
            amount = (quantity * price).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        else:
            amount = Decimal(draw(decimal_texts))
        code = draw(st.sampled_from([*CODES[:20], "Z9999"]))
        currency = draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"]))
        line_no = draw(st.sampled_from([index + 1, index + 1, 1]))
        result.append(
            ClaimLine(line_no, code, quantity, Money(price, currency), Money(amount, currency))
        )
    return tuple(result)


@settings(max_examples=400, deadline=None)
@given(lines())
@example(
    (
        ClaimLine(
            1,
            "A0002",
            Decimal("1.0000000000000000000000000000001"),
            Money(Decimal("3.50"), "CNY"),
            Money(Decimal("3.50"), "CNY"),
        ),
    )
)
def test_the_fast_path_refuses_a_line_exactly_when_the_full_check_finds_a_problem(
    claim_lines: tuple[ClaimLine, ...],
) -> None:
    split = classify_lines(claim_lines, CATALOG)
    problems = check_lines(claim_lines, CATALOG)
    assert (split is None) == bool(problems), problems
