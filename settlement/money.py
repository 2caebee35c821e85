"""The one money module: constructors, rounding and formatting for CNY amounts.

Money at the engine's edges is py-moneyed `Money` in CNY. Inside, amounts are integer fen and
every rate, ratio and factor is an integer in parts per million (`SCALE`), so the cascade is
exact integer arithmetic: a product is rounded only where SETTLEMENT_RULES.md says `round`,
and always half up (ROUND_HALF_UP) to the fen. Floats never appear.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, Overflow
from functools import lru_cache
from typing import Final

from moneyed import Currency, Money, get_currency

CNY: Final[Currency] = get_currency("CNY")
FEN_PER_YUAN: Final[int] = 100
SCALE: Final[int] = 1_000_000
"""Rates, ratios and factors are held as integer parts per million (six decimals)."""
SCALE_DECIMALS: Final[int] = 6
MONEY_DECIMALS: Final[int] = 2
QUANTITY_DECIMALS: Final[int] = 4
UNIT_PRICE_DECIMALS: Final[int] = 6
ROUNDING: Final[str] = ROUND_HALF_UP
ZERO: Final[Money] = Money(Decimal("0.00"), CNY)
_CENT: Final[Decimal] = Decimal("0.01")
EXACT: Final[Context] = Context(prec=60, traps=[Inexact, InvalidOperation, Overflow])
"""A decimal context in which any rounding raises: scaling by it is exact or fails loudly."""


def round_half_up_div(numerator: int, denominator: int) -> int:
    """Return numerator / denominator rounded half up to an integer (both non-negative).

    This is `round` of SETTLEMENT_RULES.md section 2 when the numerator is an exact amount in
    fen times a scale and the denominator is that scale.
    """
    assert numerator >= 0, numerator
    assert denominator > 0, denominator
    return (2 * numerator + denominator) // (2 * denominator)


def decimal_places(value: Decimal) -> int:
    """Digits after the point that the value needs: "1.50" needs 1, "495.000" needs 0.

    Counted on the value, not on how it was written (trailing zeros change nothing), and
    exactly: no decimal context is involved. The contract counts written decimals on its
    strings; the engine judges values.
    """
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), value  # NaN and Infinity are refused before this
    places = -exponent
    for digit in reversed(digits):
        if places <= 0 or digit != 0:
            break
        places -= 1
    if not any(digits):
        return 0
    return max(0, places)


def scaled_int(value: Decimal, decimals: int) -> int:
    """The exact integer value × 10**decimals; the value must have at most that many places."""
    scaled = value.scaleb(decimals, EXACT)
    units = int(scaled)
    assert units == scaled, (value, decimals)
    return units


def ppm(value: Decimal) -> int:
    """A rate, ratio or factor as integer parts per million (at most six decimals)."""
    return scaled_int(value, SCALE_DECIMALS)


def fen_to_money(fen: int) -> Money:
    """Integer fen to CNY `Money` with exactly two decimals."""
    return Money(Decimal(fen).scaleb(-MONEY_DECIMALS), CNY)


def money_to_fen(amount: Money) -> int:
    """CNY `Money` with at most two decimals to integer fen."""
    assert amount.currency == CNY, amount.currency
    return scaled_int(amount.amount, MONEY_DECIMALS)


def money(text: str | Decimal) -> Money:
    """The one constructor for CNY amounts from a decimal string or Decimal (never a float)."""
    assert not isinstance(text, float), text
    return Money(Decimal(text), CNY)


def format_fen(fen: int) -> str:
    """Integer fen as the contract's money string with exactly two decimals ("-12.05")."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


@lru_cache(maxsize=4096)
def format_ppm(value_ppm: int) -> str:
    """A rate in parts per million with two to six decimals ("0.60", "1.00", "0.055").

    Cached: a tariff has a few dozen rates, and each explanation names several."""
    exact = Decimal(value_ppm).scaleb(-SCALE_DECIMALS).normalize()
    if decimal_places(exact) < MONEY_DECIMALS:
        exact = exact.quantize(_CENT)
    return format(exact, "f")


def format_exact(numerator: int, scale: int) -> str:
    """An exact intermediate amount (fen × scale) in yuan, before rounding ("12184.315")."""
    exact = Decimal(numerator) / Decimal(scale * FEN_PER_YUAN)
    text = format(exact.normalize(), "f")
    if "." not in text or len(text.split(".")[1]) < MONEY_DECIMALS:
        text = format(exact.quantize(_CENT, rounding=ROUNDING), "f")
    return text
