"""Named maxima the engine enforces, each with a clear rejection rather than a silent limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

CLAIM_LINES_MAX: Final[int] = 5_000
"""Most lines one claim may carry (a long stay bills a few hundred; 5,000 is generous)."""
DIAGNOSES_MAX: Final[int] = 50
QUANTITY_MAX: Final[Decimal] = Decimal("1000000")
"""Quantities must be below this (a million units of anything on one line is an error)."""
UNIT_PRICE_MAX: Final[Decimal] = Decimal("100000000")
"""Unit prices must be below a hundred million yuan."""
LINE_AMOUNT_MAX: Final[Decimal] = Decimal("1000000000")
"""A line's amount must be below a billion yuan; with the maxima above, arithmetic stays exact."""
