"""Medical assistance (医疗救助), rules §7: assistance groups only, by the CI deductible line.

Below the critical-illness deductible line the group's `rate_below_line` applies; above it, to
what critical-illness insurance left, `rate_above_line` (at least 70%, enforced by the tariff).
"""

from __future__ import annotations

from settlement.funds import Case, Cascade, capped
from settlement.model import Fund
from settlement.money import SCALE, format_exact, format_fen, format_ppm, round_half_up_div
from settlement.result import FundStep


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    fund_code = case.tariff.fund_codes[Fund.MEDICAL_ASSISTANCE]
    base_fen = cascade.in_scope_left_fen
    rates = case.tariff.assistance.get(case.group) if case.group is not None else None
    if rates is None:
        reason = "no assistance group" if case.group is None else f"{case.group} has no rates"
        step = FundStep(
            Fund.MEDICAL_ASSISTANCE, fund_code, base_fen, 0, None, 0, (f"{reason}: pays 0.00",)
        )
        return step, cascade
    above_rest_fen = cascade.above_line_left_fen
    below_fen = base_fen - above_rest_fen
    assert below_fen >= 0, (base_fen, above_rest_fen)
    exact = below_fen * rates.rate_below_line_ppm + above_rest_fen * rates.rate_above_line_ppm
    payable_fen = round_half_up_div(exact, SCALE)
    paid_fen, cap_remaining_fen = capped(
        payable_fen, rates.annual_cap_fen, case.accumulators.assistance_paid
    )
    explanation = [
        f"{case.group}: below the critical-illness deductible line {format_fen(below_fen)} × "
        f"{format_ppm(rates.rate_below_line_ppm)} + above it, left by critical illness, "
        f"{format_fen(above_rest_fen)} × {format_ppm(rates.rate_above_line_ppm)} = "
        f"{format_exact(exact, SCALE)} → {format_fen(payable_fen)}",
        "no annual cap: pays " + format_fen(paid_fen)
        if cap_remaining_fen is None or rates.annual_cap_fen is None
        else f"annual cap {format_fen(rates.annual_cap_fen)}, paid this year "
        f"{format_fen(case.accumulators.assistance_paid)}, left {format_fen(cap_remaining_fen)}: "
        f"pays {format_fen(paid_fen)}",
    ]
    step = FundStep(
        fund=Fund.MEDICAL_ASSISTANCE,
        fund_code=fund_code,
        base_fen=base_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        explanation=tuple(explanation),
    )
    return step, cascade.after_paying(paid_fen)
