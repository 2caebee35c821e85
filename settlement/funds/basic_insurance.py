"""Basic medical insurance (基本医保统筹基金), rules §5: deductible per admission, rate by level."""

from __future__ import annotations

from settlement.funds import Case, Cascade, capped
from settlement.model import Fund
from settlement.money import SCALE, format_exact, format_fen, format_ppm, round_half_up_div
from settlement.result import FundStep


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    policy = case.tariff.basic
    level = policy.levels[case.hospital_level]
    tilt = policy.tilt.get(case.group) if case.group is not None else None
    in_scope_fen = cascade.in_scope_left_fen
    explanation = [f"level-{case.hospital_level} hospital: deductible (起付线) "
                   f"{format_fen(level.deductible_fen)}, rate {format_ppm(level.rate_ppm)}"]
    deductible_factor_ppm = SCALE
    rate_ppm = level.rate_ppm
    if tilt is not None:
        deductible_factor_ppm = tilt.deductible_factor_ppm
        rate_ppm = min(SCALE, rate_ppm + tilt.rate_bonus_ppm)
        explanation.append(
            f"{case.group} tilt: deductible × {format_ppm(tilt.deductible_factor_ppm)}, "
            f"rate + {format_ppm(tilt.rate_bonus_ppm)} = {format_ppm(rate_ppm)}"
        )
    subsequent_factor_ppm = SCALE
    if case.accumulators.admissions >= 1:
        subsequent_factor_ppm = policy.subsequent_admission_factor_ppm
        explanation.append(
            f"later admission of {case.accumulators.year} "
            f"({case.accumulators.admissions} before): "
            f"deductible × {format_ppm(subsequent_factor_ppm)}"
        )
    deductible_fen = round_half_up_div(
        level.deductible_fen * deductible_factor_ppm * subsequent_factor_ppm, SCALE * SCALE
    )
    deductible_applied_fen = min(in_scope_fen, deductible_fen)
    over_fen = max(0, in_scope_fen - deductible_fen)
    exact = over_fen * rate_ppm
    payable_fen = round_half_up_div(exact, SCALE)
    explanation.append(
        f"in scope {format_fen(in_scope_fen)} − deductible {format_fen(deductible_fen)} = "
        f"{format_fen(over_fen)} × {format_ppm(rate_ppm)} = {format_exact(exact, SCALE)} "
        f"→ {format_fen(payable_fen)}"
    )
    paid_fen, cap_remaining_fen = capped(
        payable_fen, policy.annual_cap_fen, case.accumulators.basic_paid
    )
    explanation.append(
        f"annual cap {format_fen(policy.annual_cap_fen)}, paid this year "
        f"{format_fen(case.accumulators.basic_paid)}, left {format_fen(cap_remaining_fen or 0)}: "
        f"pays {format_fen(paid_fen)}"
    )
    step = FundStep(
        fund=Fund.BASIC_INSURANCE,
        fund_code=case.tariff.fund_codes[Fund.BASIC_INSURANCE],
        base_fen=in_scope_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        explanation=tuple(explanation),
        deductible_applied_fen=deductible_applied_fen,
    )
    return step, cascade.after_paying(paid_fen)
