"""Sharing a fund's total over the lines in whole fen by largest remainder (rules §9)."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total_fen: int, weights_fen: list[int], line_nos: Sequence[int]) -> list[int]:
    """Share `total_fen` over lines in proportion to `weights_fen`, in whole fen.

    Each line gets floor(total × w_i / Σw) fen; the fen left over go one each to the lines with
    the largest remainders, ties to the lower line number. No line ever gets more than its
    weight, so a fund never pays more on a line than the in-scope amount left on it.
    """
    count = len(weights_fen)
    if total_fen == 0:
        return [0] * count
    weight_sum = sum(weights_fen)
    assert total_fen > 0, total_fen
    assert total_fen <= weight_sum, (total_fen, weight_sum)
    products = [total_fen * weight for weight in weights_fen]
    shares = [product // weight_sum for product in products]
    left_over = total_fen - sum(shares)
    if left_over:
        # Largest remainder first, ties to the lower line number: sort (−remainder, line_no).
        remainders = [-(product % weight_sum) for product in products]
        order = sorted(zip(remainders, line_nos, range(count), strict=True))
        for negative_remainder, _, index in order[:left_over]:
            assert negative_remainder < 0, index
            shares[index] += 1
    return shares
