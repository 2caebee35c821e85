"""Critical-illness insurance (大病保险), rules §6: annual deductible, bands on the year's total.

The claim's base is what basic insurance left of the in-scope amount. The year's cumulative
base (`ci_base` of the accumulators) decides where this claim falls among the bands, so a
claim may cross a band edge and be paid at two rates.
"""

from __future__ import annotations

from dataclasses import replace

from settlement.funds import Case, Cascade, capped
from settlement.model import Fund
from settlement.money import SCALE, format_exact, format_fen, format_ppm, round_half_up_div
from settlement.result import FundStep


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    policy = case.tariff.critical_illness
    tilt = policy.tilt.get(case.group) if case.group is not None else None
    base_fen = cascade.in_scope_left_fen
    deductible_factor_ppm = SCALE if tilt is None else tilt.deductible_factor_ppm
    rate_bonus_ppm = 0 if tilt is None else tilt.rate_bonus_ppm
    deductible_fen = round_half_up_div(policy.deductible_fen * deductible_factor_ppm, SCALE)
    year_base_fen = case.accumulators.ci_base
    low_fen = max(0, year_base_fen - deductible_fen)
    high_fen = max(0, year_base_fen + base_fen - deductible_fen)
    above_fen = high_fen - low_fen
    explanation = [
        f"base {format_fen(base_fen)} (in scope left after basic insurance); "
        f"annual deductible {format_fen(deductible_fen)}"
        + ("" if tilt is None else f" ({case.group} tilt × {format_ppm(deductible_factor_ppm)})")
        + f"; year's base before this claim {format_fen(year_base_fen)}",
        f"above the deductible line this year: {format_fen(low_fen)} → {format_fen(high_fen)}, "
        f"this claim {format_fen(above_fen)}",
    ]
    exact = 0
    for band in policy.bands:
        band_high_fen = high_fen if band.to_fen is None else min(high_fen, band.to_fen)
        length_fen = band_high_fen - max(low_fen, band.from_fen)
        if length_fen <= 0:
            continue
        rate_ppm = min(SCALE, band.rate_ppm + rate_bonus_ppm)
        exact += length_fen * rate_ppm
        upper = "∞" if band.to_fen is None else format_fen(band.to_fen)
        explanation.append(
            f"band [{format_fen(band.from_fen)}, {upper}): {format_fen(length_fen)} × "
            f"{format_ppm(rate_ppm)}"
            + ("" if tilt is None else f" (+{format_ppm(rate_bonus_ppm)} {case.group} tilt)")
        )
    payable_fen = round_half_up_div(exact, SCALE)
    explanation.append(f"exact {format_exact(exact, SCALE)} → {format_fen(payable_fen)}")
    cap_fen = None if tilt is not None and tilt.no_cap else policy.annual_cap_fen
    paid_fen, cap_remaining_fen = capped(payable_fen, cap_fen, case.accumulators.ci_paid)
    if cap_remaining_fen is None:
        explanation.append(f"no annual cap for {case.group}: pays {format_fen(paid_fen)}")
    else:
        explanation.append(
            f"annual cap {format_fen(policy.annual_cap_fen)}, paid this year "
            f"{format_fen(case.accumulators.ci_paid)}, left {format_fen(cap_remaining_fen)}: "
            f"pays {format_fen(paid_fen)}"
        )
    assert paid_fen <= above_fen, (paid_fen, above_fen)
    step = FundStep(
        fund=Fund.CRITICAL_ILLNESS,
        fund_code=case.tariff.fund_codes[Fund.CRITICAL_ILLNESS],
        base_fen=base_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        explanation=tuple(explanation),
    )
    # Critical illness pays only above the line, so what it pays comes off that part.
    left = replace(cascade, above_line_left_fen=above_fen - paid_fen)
    return step, left.after_paying(paid_fen)

