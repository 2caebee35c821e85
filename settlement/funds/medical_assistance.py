"""Medical assistance (医疗救助), rules §7: assistance groups only, by the CI deductible line.

Below the critical-illness deductible line the group's `rate_below_line` applies; above it, to
what critical-illness insurance left, `rate_above_line` (at least 70%, enforced by the tariff).
"""

from __future__ import annotations

from settlement.funds import Cascade, Case, cap_sentence, capped
from settlement.model import Fund
from settlement.money import SCALE, round_half_up_div
from settlement.result import Exact, Fen, FundStep, Rate, Sentence


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    fund_code = case.tariff.fund_codes[Fund.MEDICAL_ASSISTANCE]
    base_fen = cascade.in_scope_left_fen
    rates = case.tariff.assistance.get(case.group) if case.group is not None else None
    if rates is None:
        reason: Sentence = (
            ("no assistance group: pays 0.00", ())
            if case.group is None
            else ("{} has no assistance rates: pays 0.00", (case.group,))
        )
        step = FundStep(Fund.MEDICAL_ASSISTANCE, fund_code, base_fen, 0, None, 0, (reason,))
        return step, cascade
    above_rest_fen = cascade.above_line_left_fen
    below_fen = base_fen - above_rest_fen
    assert below_fen >= 0, (base_fen, above_rest_fen)
    exact = below_fen * rates.rate_below_line_ppm + above_rest_fen * rates.rate_above_line_ppm
    payable_fen = round_half_up_div(exact, SCALE)
    paid_fen, cap_remaining_fen = capped(
        payable_fen, rates.annual_cap_fen, case.accumulators.assistance_paid
    )
    sentences: list[Sentence] = [
        (
            "{}: below the critical-illness deductible line {} × {} + above it, left by "
            "critical illness, {} × {} = {} → {}",
            (
                case.group,
                Fen(below_fen),
                Rate(rates.rate_below_line_ppm),
                Fen(above_rest_fen),
                Rate(rates.rate_above_line_ppm),
                Exact(exact),
                Fen(payable_fen),
            ),
        )
    ]
    if rates.annual_cap_fen is None or cap_remaining_fen is None:
        sentences.append(("no annual cap: pays {}", (Fen(paid_fen),)))
    else:
        sentences.append(
            cap_sentence(
                rates.annual_cap_fen, case.accumulators.assistance_paid, cap_remaining_fen, paid_fen
            )
        )
    step = FundStep(
        fund=Fund.MEDICAL_ASSISTANCE,
        fund_code=fund_code,
        base_fen=base_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        sentences=tuple(sentences),
    )
    return step, cascade.after_paying(paid_fen)
