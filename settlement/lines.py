"""Step 1 of the rules (§4): check every line and split it into self-pay parts and in scope.

Every problem of every line is collected; nothing stops at the first (`check_lines`). Clean
lines are split in one pass (`classify_lines`) into columns of integer fen: full self-pay
(全自费), over-cap self-pay (超限价自费), first self-pay (先行自付) and in scope (政策范围内).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from settlement.limits import LINE_AMOUNT_MAX, QUANTITY_MAX, UNIT_PRICE_MAX
from settlement.model import ClaimLine, ItemClass
from settlement.money import (
    CNY,
    EXACT,
    MONEY_DECIMALS,
    QUANTITY_DECIMALS,
    SCALE,
    UNIT_PRICE_DECIMALS,
    decimal_places,
    format_fen,
)
from settlement.rejection import Problem, ProblemCode
from settlement.result import Finding
from settlement.rules import RuleContext, RuledLine, amount_fen, check_rules
from settlement.tariff import CatalogItem

_QUANTITY_TIMES_PRICE_TO_FEN = 10 ** (QUANTITY_DECIMALS + UNIT_PRICE_DECIMALS - MONEY_DECIMALS)
_TO_FEN = _QUANTITY_TIMES_PRICE_TO_FEN
_TWICE_TO_FEN = 2 * _QUANTITY_TIMES_PRICE_TO_FEN
_TWICE_SCALE = 2 * SCALE
QUANTITY_MAX_UNITS = int(QUANTITY_MAX.scaleb(QUANTITY_DECIMALS))
UNIT_PRICE_MAX_UNITS = int(UNIT_PRICE_MAX.scaleb(UNIT_PRICE_DECIMALS))
LINE_AMOUNT_MAX_UNITS = int(LINE_AMOUNT_MAX.scaleb(MONEY_DECIMALS))


@dataclass(slots=True)
class SplitLines:
    """Step 1's result by column, one list per figure in claim order (cheap to sum and zip)."""

    items: list[CatalogItem] = field(default_factory=list)
    amount_fen: list[int] = field(default_factory=list)
    refused_fen: list[int] = field(default_factory=list)
    """违规自付: what the rule checks (§14) refused, before the rest was split."""
    findings: tuple[Finding, ...] = ()
    """The rule checks' findings, in line-number then rule order."""
    full_selfpay_fen: list[int] = field(default_factory=list)
    over_cap_fen: list[int] = field(default_factory=list)
    first_selfpay_fen: list[int] = field(default_factory=list)
    in_scope_fen: list[int] = field(default_factory=list)


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

    Decimals are counted on the value ("495.000" is 495.00), as `money.decimal_places` says.
    """
    if not value.is_finite():
        return [Problem(ProblemCode.NOT_A_NUMBER, loc, f"{what} is not a finite number")]
    problems = []
    if abs(value) >= maximum:
        problems.append(
            Problem(
                ProblemCode.OUT_OF_RANGE, loc, f"{what} {value} is out of range (below {maximum})"
            )
        )
    places = decimal_places(value)
    if places > decimals:
        problems.append(
            Problem(
                ProblemCode.TOO_MANY_DECIMALS,
                loc,
                f"{what} {value} has {places} decimals; at most {decimals} are allowed",
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
    for name, value, decimals, maximum in (
        ("unit_price", line.unit_price, UNIT_PRICE_DECIMALS, UNIT_PRICE_MAX),
        ("amount", line.amount, MONEY_DECIMALS, LINE_AMOUNT_MAX),
    ):
        if value.currency != CNY:
            problems.append(
                Problem(
                    ProblemCode.WRONG_CURRENCY,
                    (*loc, name),
                    f"{name} is in {value.currency.code}; only CNY is settled",
                )
            )
        problems += _check_decimal(value.amount, decimals, maximum, (*loc, name), name)
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
    return amount_fen(int(line.quantity.scaleb(QUANTITY_DECIMALS)), _micro(line.unit_price.amount))


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


def classify_lines(  # noqa: PLR0915 (one pass over the lines is the engine's hot loop)
    lines: tuple[ClaimLine, ...],
    catalog: Mapping[str, CatalogItem],
    context: RuleContext | None = None,
) -> SplitLines | None:
    """Check and split every line (§4) in one pass; None if any line has a problem.

    With a `context`, the rule checks (§14) run on the lines whose items carry rule data,
    after the pass (they read only the numbers it has checked): a line allowed less than it
    billed is split again as if billed with its allowed quantity, the rest of its amount its
    refused self-pay, and the findings are the split's. A claim without such items pays one
    `is not None` a line for them.

    The fast path for the common, clean claim: it builds no problem records. On None the
    caller runs `check_lines` to name every problem. It accepts exactly the lines
    `check_lines` accepts (tests hold the two to that on generated lines). Rounding is
    `round_half_up_div` written out, since every value here is non-negative.
    """
    if len({line.line_no for line in lines}) != len(lines):
        return None
    split = SplitLines()
    append_item = split.items.append
    append_amount = split.amount_fen.append
    append_full = split.full_selfpay_fen.append
    append_over = split.over_cap_fen.append
    append_first = split.first_selfpay_fen.append
    append_in_scope = split.in_scope_fen.append
    ruled: list[RuledLine] = []
    for line in lines:
        item = catalog.get(line.item_code)
        unit_price = line.unit_price
        amount = line.amount
        if item is None or unit_price.currency is not CNY or amount.currency is not CNY:
            return None  # a currency equal to CNY but not the registry's object takes the slow path
        # value × 10**decimals, exactly (the EXACT context traps any rounding): NaN, Infinity
        # and too many digits raise, fractions of the unit compare unequal to their int.
        try:
            quantity_scaled = line.quantity.scaleb(QUANTITY_DECIMALS, EXACT)
            price_scaled = unit_price.amount.scaleb(UNIT_PRICE_DECIMALS, EXACT)
            amount_scaled = amount.amount.scaleb(MONEY_DECIMALS, EXACT)
            quantity_units = int(quantity_scaled)
            price_micro = int(price_scaled)
            amount_fen = int(amount_scaled)
        except (ArithmeticError, ValueError):
            return None
        if (
            quantity_units != quantity_scaled
            or price_micro != price_scaled
            or amount_fen != amount_scaled
            or not 0 < quantity_units < QUANTITY_MAX_UNITS
            or not 0 <= price_micro < UNIT_PRICE_MAX_UNITS
            or not 0 <= amount_fen < LINE_AMOUNT_MAX_UNITS
        ):
            return None
        product = quantity_units * price_micro
        if amount_fen != (2 * product + _TO_FEN) // _TWICE_TO_FEN:
            return None
        if item.rules is not None:
            ruled.append(
                RuledLine(line.line_no, len(split.items), item, quantity_units, price_micro)
            )
        append_item(item)
        append_amount(amount_fen)
        if item.item_class is ItemClass.C:
            append_full(amount_fen)
            append_over(0)
            append_first(0)
            append_in_scope(0)
            continue
        over_cap_fen = 0
        cap_micro = item.unit_price_cap_micro
        if cap_micro is not None and price_micro > cap_micro:
            over_product = (price_micro - cap_micro) * quantity_units
            over_cap_fen = (2 * over_product + _TO_FEN) // _TWICE_TO_FEN
        base_fen = amount_fen - over_cap_fen
        first_selfpay_fen = 0
        ratio_ppm = item.selfpay_ratio_ppm
        if ratio_ppm is not None:
            first_selfpay_fen = (2 * base_fen * ratio_ppm + SCALE) // _TWICE_SCALE
        append_full(0)
        append_over(over_cap_fen)
        append_first(first_selfpay_fen)
        append_in_scope(base_fen - first_selfpay_fen)
    split.refused_fen = [0] * len(lines)
    if ruled and context is not None:
        _apply_rules(split, ruled, context)
    assert min(split.in_scope_fen, default=0) >= 0, split
    return split


def _apply_rules(split: SplitLines, ruled: list[RuledLine], context: RuleContext) -> None:
    """Run §14 on the ruled lines and split each line a rule lowered again, on its allowed
    quantity: its refused self-pay is the amount above round(allowed × unit price)."""
    outcome = check_rules(ruled, context)
    split.findings = outcome.findings
    for index, (quantity_units, price_micro) in outcome.allowed.items():
        item = split.items[index]
        kept_fen = amount_fen(quantity_units, price_micro)
        split.refused_fen[index] = split.amount_fen[index] - kept_fen
        if item.item_class is ItemClass.C:
            full, over, first, in_scope = kept_fen, 0, 0, 0
        else:
            full, over, first = 0, 0, 0
            cap_micro = item.unit_price_cap_micro
            if cap_micro is not None and price_micro > cap_micro:
                over_product = (price_micro - cap_micro) * quantity_units
                over = (2 * over_product + _TO_FEN) // _TWICE_TO_FEN
            base_fen = kept_fen - over
            if item.selfpay_ratio_ppm is not None:
                first = (2 * base_fen * item.selfpay_ratio_ppm + SCALE) // _TWICE_SCALE
            in_scope = base_fen - first
        split.full_selfpay_fen[index] = full
        split.over_cap_fen[index] = over
        split.first_selfpay_fen[index] = first
        split.in_scope_fen[index] = in_scope
