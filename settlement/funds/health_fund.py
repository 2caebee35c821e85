"""Health poverty fund (健康扶贫基金), rules §13: the fifth fund, after charity.

For the tariff's groups at the tariff's hospital levels, in-region only, it pays what the
patient would keep of the in-scope amount above a share of it (`selfpay_ratio_max` of S),
within its annual cap where it has one.
"""

from __future__ import annotations

from settlement.funds import Cascade, Case, cap_sentence, capped
from settlement.model import Fund
from settlement.money import SCALE, round_half_up_div
from settlement.result import Exact, Fen, FundStep, Phrase, Rate, Sentence


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    policy = case.tariff.health_fund
    fund_code = case.tariff.fund_codes[Fund.HEALTH_FUND]
    left_fen = cascade.in_scope_left_fen
    reason = _not_eligible(case)
    if policy is None or reason is not None:
        sentence: Sentence = (
            ("no health fund under tariff {}: pays 0.00", (case.tariff.version,))
            if reason is None
            else ("not eligible: {}: pays 0.00", (reason,))
        )
        return FundStep(Fund.HEALTH_FUND, fund_code, left_fen, 0, None, 0, (sentence,)), cascade
    exact = case.in_scope_fen * policy.selfpay_ratio_max_ppm
    share_fen = round_half_up_div(exact, SCALE)
    payable_fen = max(0, left_fen - share_fen)
    paid_fen, cap_remaining_fen = capped(
        payable_fen, policy.annual_cap_fen, case.accumulators.health_paid
    )
    sentences: list[Sentence] = [
        (
            "in scope left {} − patient's share at most {} × {} = {} → {}",
            (
                Fen(left_fen),
                Fen(case.in_scope_fen),
                Rate(policy.selfpay_ratio_max_ppm),
                Exact(exact),
                Fen(payable_fen),
            ),
        )
    ]
    if cap_remaining_fen is None:
        sentences.append(("no annual cap: pays {}", (Fen(paid_fen),)))
    else:
        assert policy.annual_cap_fen is not None
        sentences.append(
            cap_sentence(
                policy.annual_cap_fen, case.accumulators.health_paid, cap_remaining_fen, paid_fen
            )
        )
    step = FundStep(
        Fund.HEALTH_FUND,
        fund_code,
        left_fen,
        payable_fen,
        cap_remaining_fen,
        paid_fen,
        tuple(sentences),
    )
    return step, cascade.after_paying(paid_fen)


def _not_eligible(case: Case) -> Phrase | None:
    """Why the fund does not pay this claim, or None when it does (or has no fund at all)."""
    policy = case.tariff.health_fund
    if policy is None:
        return None
    if case.group is None:
        return Phrase("no assistance group", ())
    if case.group not in policy.groups:
        return Phrase("group {} is not covered", (case.group,))
    if case.hospital_level not in policy.hospital_levels:
        return Phrase("level-{} hospital is not covered", (case.hospital_level,))
    if not case.in_region:
        return Phrase("cross-region claim", ())
    return None
