"""Basic medical insurance (基本医保统筹基金), rules §5: deductible per admission, rate by level."""

from __future__ import annotations

from settlement.funds import Cascade, Case, cap_sentence, capped
from settlement.model import Fund
from settlement.money import SCALE, round_half_up_div
from settlement.result import Exact, Fen, FundStep, Rate, Sentence


def pay(case: Case, cascade: Cascade) -> tuple[FundStep, Cascade]:
    policy = case.tariff.basic
    accumulators = case.accumulators
    in_scope_fen = cascade.in_scope_left_fen
    deductible_fen, rate_ppm, sentences = _deductible_and_rate(case)
    over_fen = max(0, in_scope_fen - deductible_fen)
    exact = over_fen * rate_ppm
    payable_fen = round_half_up_div(exact, SCALE)
    sentences.append(
        (
            "in scope {} − deductible {} = {} × {} = {} → {}",
            (
                Fen(in_scope_fen),
                Fen(deductible_fen),
                Fen(over_fen),
                Rate(rate_ppm),
                Exact(exact),
                Fen(payable_fen),
            ),
        )
    )
    paid_fen, cap_remaining_fen = capped(
        payable_fen, policy.annual_cap_fen, accumulators.basic_paid
    )
    assert cap_remaining_fen is not None
    sentences.append(
        cap_sentence(policy.annual_cap_fen, accumulators.basic_paid, cap_remaining_fen, paid_fen)
    )
    step = FundStep(
        fund=Fund.BASIC_INSURANCE,
        fund_code=case.tariff.fund_codes[Fund.BASIC_INSURANCE],
        base_fen=in_scope_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        sentences=tuple(sentences),
        deductible_applied_fen=min(in_scope_fen, deductible_fen),
        rate_ppm=rate_ppm,
    )
    return step, cascade.after_paying(paid_fen)


def _deductible_and_rate(case: Case) -> tuple[int, int, list[Sentence]]:
    """This admission's deductible and rate, with the sentences saying how they were found.

    The hospital level's deductible and rate, tilted for the person's group; the deductible
    lowered again for a later admission of the year.
    """
    policy = case.tariff.basic
    level = policy.levels[case.hospital_level]
    tilt = policy.tilt.get(case.group) if case.group is not None else None
    accumulators = case.accumulators
    sentences: list[Sentence] = [
        (
            "level-{} hospital: deductible (起付线) {}, rate {}",
            (case.hospital_level, Fen(level.deductible_fen), Rate(level.rate_ppm)),
        )
    ]
    deductible_factor_ppm = SCALE
    rate_ppm = level.rate_ppm
    bonus_ppm = 0
    if tilt is not None:
        deductible_factor_ppm = tilt.deductible_factor_ppm
        bonus_ppm = tilt.rate_bonus_ppm
        rate_ppm = min(SCALE, level.rate_ppm + bonus_ppm)
        sentences.append(
            (
                "{} tilt: deductible × {}, rate + {} = {}",
                (case.group, Rate(deductible_factor_ppm), Rate(bonus_ppm), Rate(rate_ppm)),
            )
        )
    if case.filing is not None:
        # Rules §12: the bonus and the reduction first, then the bounds [0, 1].
        assert case.tariff.cross_region is not None, case.tariff.version
        reduction_ppm = case.tariff.cross_region.rate_reduction_ppm[case.filing]
        rate_ppm = min(SCALE, max(0, level.rate_ppm + bonus_ppm - reduction_ppm))
        sentences.append(
            (
                "cross-region claim, filing {}: rate − {} = {}",
                (case.filing, Rate(reduction_ppm), Rate(rate_ppm)),
            )
        )
    subsequent_factor_ppm = SCALE
    if accumulators.admissions >= 1:
        subsequent_factor_ppm = policy.subsequent_admission_factor_ppm
        sentences.append(
            (
                "later admission of {} ({} before): deductible × {}",
                (accumulators.year, accumulators.admissions, Rate(subsequent_factor_ppm)),
            )
        )
    deductible_fen = round_half_up_div(
        level.deductible_fen * deductible_factor_ppm * subsequent_factor_ppm, SCALE * SCALE
    )
    return deductible_fen, rate_ppm, sentences
