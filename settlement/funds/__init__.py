"""The five funds as same-shaped stages, run by `settlement.engine` in the fixed order.

Every stage is a pure function `(case, cascade) -> (step, cascade)`: it reads the claim's fixed
facts (`Case`), reads what earlier funds left (`Cascade`), and returns what it paid (`FundStep`)
with the cascade as it leaves it. The driver owns the loop and the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from settlement.model import AccumulatorsFen, Filing, Group
from settlement.result import Fen, FundStep, Phrase, Sentence
from settlement.tariff import CharityDisease, Tariff


@dataclass(frozen=True, slots=True)
class Case:
    """Everything about the claim a fund may look at, fixed before the cascade starts."""

    tariff: Tariff
    group: Group | None
    hospital_level: int
    accumulators: AccumulatorsFen
    in_scope_fen: int
    charity_disease: CharityDisease | None
    """The listed disease charity covers for this claim, decided once by `charity.eligibility`."""
    charity_reason: Phrase
    filing: Filing | None = None
    """Set on a cross-region claim only (rules §12): lowers the basic-insurance rate."""
    in_region: bool = True


class Cascade(NamedTuple):
    """What is left as the cascade goes down the funds."""

    in_scope_left_fen: int
    """In-scope amount no fund has paid yet."""
    above_line_left_fen: int = 0
    """Of what is left, the part above the critical-illness deductible line; set by that stage."""

    def after_paying(self, paid_fen: int) -> Cascade:
        assert paid_fen >= 0, paid_fen
        assert paid_fen <= self.in_scope_left_fen, (paid_fen, self.in_scope_left_fen)
        return Cascade(self.in_scope_left_fen - paid_fen, self.above_line_left_fen)


Stage = Callable[[Case, Cascade], tuple[FundStep, Cascade]]


def capped(payable_fen: int, cap_fen: int | None, paid_ytd_fen: int) -> tuple[int, int | None]:
    """(paid, cap left before this claim): the payable amount limited by the annual cap."""
    if cap_fen is None:
        return payable_fen, None
    cap_remaining_fen = max(0, cap_fen - paid_ytd_fen)
    return min(payable_fen, cap_remaining_fen), cap_remaining_fen


def cap_sentence(
    cap_fen: int, paid_ytd_fen: int, cap_remaining_fen: int, paid_fen: int
) -> Sentence:
    """The sentence every capped fund ends its explanation with."""
    return (
        "annual cap {}, paid this year {}, left {}: pays {}",
        (Fen(cap_fen), Fen(paid_ytd_fen), Fen(cap_remaining_fen), Fen(paid_fen)),
    )
