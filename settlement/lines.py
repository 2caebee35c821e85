"""Step 1 of the rules (§4): check every line and split it into self-pay parts and in scope.

Every problem of every line is collected; nothing stops at the first. A clean line becomes a
`ClassifiedLine` in integer fen: full self-pay (全自费), over-cap self-pay (超限价自费), first
self-pay (先行自付) and in scope (政策范围内).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from settlement.limits import LINE_AMOUNT_MAX, QUANTITY_MAX, UNIT_PRICE_MAX
from settlement.model import ClaimLine, ItemClass
from settlement.money import (
    MONEY_DECIMALS,
    QUANTITY_DECIMALS,
    SCALE,
    UNIT_PRICE_DECIMALS,
    format_fen,
    round_half_up_div,
)
from settlement.rejection import Problem, ProblemCode
from settlement.tariff import CatalogItem

_QUANTITY_TIMES_PRICE_TO_FEN = 10 ** (QUANTITY_DECIMALS + UNIT_PRICE_DECIMALS - MONEY_DECIMALS)


class ClassifiedLine(NamedTuple):
    line: ClaimLine
    item: CatalogItem
    amount_fen: int
    full_selfpay_fen: int
    over_cap_fen: int
    first_selfpay_fen: int
    in_scope_fen: int


def _check_decimal(
    value: Decimal,
    decimals: int,
    maximum: Decimal,
    loc: tuple[str | int, ...],
    what: str,
    *,
    check_sign: bool = True,
) -> list[Problem]:
    """Problems with one decimal input: not a number, out of range, too many places, negative.

    Decimals are counted as written: "1.500" has three, as the contract counts them.
    """
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        return [Problem(ProblemCode.NOT_A_NUMBER, loc, f"{what} is not a finite number")]
    problems = []
    if abs(value) >= maximum:
        problems.append(
            Problem(
                ProblemCode.OUT_OF_RANGE, loc, f"{what} {value} is out of range (below {maximum})"
            )
        )
    if -exponent > decimals:
        problems.append(
            Problem(
                ProblemCode.TOO_MANY_DECIMALS,
                loc,
                f"{what} {value} has {-exponent} decimals; at most {decimals} are allowed",
            )
        )
    if check_sign and value < 0:
        problems.append(Problem(ProblemCode.NEGATIVE_AMOUNT, loc, f"{what} {value} is negative"))
    return problems


def _check_line(
    index: int, line: ClaimLine, catalog: Mapping[str, CatalogItem] | None
) -> list[Problem]:
    """Every problem with one line, before any arithmetic is done on it."""
    loc: tuple[str | int, ...] = ("items", index)
    problems: list[Problem] = []
    if catalog is not None and line.item_code not in catalog:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_ITEM_CODE,
                (*loc, "item_code"),
                f"line {line.line_no}: item code {line.item_code!r} is not in the catalog",
            )
        )
    quantity = line.quantity
    problems += _check_decimal(
        quantity, QUANTITY_DECIMALS, QUANTITY_MAX, (*loc, "quantity"), "quantity", check_sign=False
    )
    if quantity.is_finite() and quantity <= 0:
        problems.append(
            Problem(
                ProblemCode.QUANTITY_NOT_POSITIVE,
                (*loc, "quantity"),
                f"line {line.line_no}: quantity must be positive",
            )
        )
    for field, value, decimals, maximum in (
        ("unit_price", line.unit_price, UNIT_PRICE_DECIMALS, UNIT_PRICE_MAX),
        ("amount", line.amount, MONEY_DECIMALS, LINE_AMOUNT_MAX),
    ):
        if value.currency.code != "CNY":
            problems.append(
                Problem(
                    ProblemCode.WRONG_CURRENCY,
                    (*loc, field),
                    f"{field} is in {value.currency.code}; only CNY is settled",
                )
            )
        problems += _check_decimal(value.amount, decimals, maximum, (*loc, field), field)
    if not problems:
        expected_fen = _amount_fen(line)
        if _fen(line.amount.amount) != expected_fen:
            problems.append(
                Problem(
                    ProblemCode.AMOUNT_MISMATCH,
                    (*loc, "amount"),
                    f"line {line.line_no}: amount {line.amount.amount} is not quantity "
                    f"{quantity} × unit price {line.unit_price.amount} rounded to the fen "
                    f"({format_fen(expected_fen)})",
                )
            )
    return problems


def _fen(amount: Decimal) -> int:
    return int(amount.scaleb(MONEY_DECIMALS))


def _micro(price: Decimal) -> int:
    return int(price.scaleb(UNIT_PRICE_DECIMALS))


def _amount_fen(line: ClaimLine) -> int:
    """round(quantity × unit_price), exact: both are scaled to integers first."""
    quantity_units = int(line.quantity.scaleb(QUANTITY_DECIMALS))
    return round_half_up_div(
        quantity_units * _micro(line.unit_price.amount), _QUANTITY_TIMES_PRICE_TO_FEN
    )


def check_lines(
    lines: tuple[ClaimLine, ...], catalog: Mapping[str, CatalogItem] | None
) -> list[Problem]:
    """Every problem of every line, including line numbers used twice.

    Without a catalog (no tariff in force) item codes cannot be looked up and are not checked.
    """
    problems: list[Problem] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if line.line_no in seen:
            problems.append(
                Problem(
                    ProblemCode.DUPLICATE_LINE_NO,
                    ("items", index, "line_no"),
                    f"line number {line.line_no} is used more than once",
                )
            )
        seen.add(line.line_no)
        problems += _check_line(index, line, catalog)
    return problems


def classify(line: ClaimLine, item: CatalogItem) -> ClassifiedLine:
    """Split one checked line (§4). Only called on lines `check_lines` passed."""
    amount_fen = _fen(line.amount.amount)
    if item.item_class is ItemClass.C:
        return ClassifiedLine(line, item, amount_fen, amount_fen, 0, 0, 0)
    over_cap_fen = 0
    cap_micro = item.unit_price_cap_micro
    if cap_micro is not None:
        price_micro = _micro(line.unit_price.amount)
        if price_micro > cap_micro:
            quantity_units = int(line.quantity.scaleb(QUANTITY_DECIMALS))
            over_cap_fen = round_half_up_div(
                (price_micro - cap_micro) * quantity_units, _QUANTITY_TIMES_PRICE_TO_FEN
            )
    base_fen = amount_fen - over_cap_fen
    first_selfpay_fen = 0
    if item.selfpay_ratio_ppm is not None:
        first_selfpay_fen = round_half_up_div(base_fen * item.selfpay_ratio_ppm, SCALE)
    in_scope_fen = base_fen - first_selfpay_fen
    assert in_scope_fen >= 0, line
    return ClassifiedLine(line, item, amount_fen, 0, over_cap_fen, first_selfpay_fen, in_scope_fen)
