"""Critical-illness insurance (大病保险), rules §6: annual deductible, bands on the year's total.

The claim's base is what basic insurance left of the in-scope amount. The year's cumulative
base (`ci_base` of the accumulators) decides where this claim falls among the bands, so a
claim may cross a band edge and be paid at two rates.
"""

from __future__ import annotations

from settlement.funds import Cascade, Case, cap_sentence, capped
from settlement.model import Fund
from settlement.money import SCALE, round_half_up_div
from settlement.result import Exact, Fen, FundStep, Rate, Sentence
from settlement.tariff import Band


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
    sentences: list[Sentence] = [
        (
            "base {} (in scope left after basic insurance); annual deductible {}; "
            "year's base before this claim {}",
            (Fen(base_fen), Fen(deductible_fen), Fen(year_base_fen)),
        )
    ]
    if tilt is not None:
        sentences.append(
            (
                "{} tilt: deductible × {}, every band's rate + {}",
                (case.group, Rate(deductible_factor_ppm), Rate(rate_bonus_ppm)),
            )
        )
    sentences.append(
        (
            "above the deductible line this year: {} → {}, this claim {}",
            (Fen(low_fen), Fen(high_fen), Fen(above_fen)),
        )
    )
    exact, band_sentences = _walk_bands(policy.bands, low_fen, high_fen, rate_bonus_ppm)
    sentences += band_sentences
    payable_fen = round_half_up_div(exact, SCALE)
    sentences.append(("exact {} → {}", (Exact(exact), Fen(payable_fen))))
    cap_fen = None if tilt is not None and tilt.no_cap else policy.annual_cap_fen
    paid_fen, cap_remaining_fen = capped(payable_fen, cap_fen, case.accumulators.ci_paid)
    if cap_remaining_fen is None:
        sentences.append(("no annual cap for {}: pays {}", (case.group, Fen(paid_fen))))
    else:
        sentences.append(
            cap_sentence(
                policy.annual_cap_fen, case.accumulators.ci_paid, cap_remaining_fen, paid_fen
            )
        )
    assert paid_fen <= above_fen, (paid_fen, above_fen)
    step = FundStep(
        fund=Fund.CRITICAL_ILLNESS,
        fund_code=case.tariff.fund_codes[Fund.CRITICAL_ILLNESS],
        base_fen=base_fen,
        payable_fen=payable_fen,
        cap_remaining_fen=cap_remaining_fen,
        paid_fen=paid_fen,
        sentences=tuple(sentences),
    )
    # Critical illness pays only above the line, so what it pays comes off that part.
    return step, Cascade(cascade.in_scope_left_fen, above_fen - paid_fen).after_paying(paid_fen)


def _walk_bands(
    bands: tuple[Band, ...], low_fen: int, high_fen: int, rate_bonus_ppm: int
) -> tuple[int, list[Sentence]]:
    """The exact amount (fen × SCALE) the bands give this claim, and a sentence per band.

    The claim covers the stretch from `low_fen` to `high_fen` above the deductible line; each
    band it crosses pays its rate, plus the group's bonus, on the part of the stretch inside.
    """
    exact = 0
    sentences: list[Sentence] = []
    for band in bands:
        band_high_fen = high_fen if band.to_fen is None else min(high_fen, band.to_fen)
        length_fen = band_high_fen - max(low_fen, band.from_fen)
        if length_fen <= 0:
            continue
        rate_ppm = min(SCALE, band.rate_ppm + rate_bonus_ppm)
        exact += length_fen * rate_ppm
        upper = "∞" if band.to_fen is None else Fen(band.to_fen)
        sentences.append(
            (
                "band [{}, {}): {} × {}",
                (Fen(band.from_fen), upper, Fen(length_fen), Rate(rate_ppm)),
            )
        )
    return exact, sentences
