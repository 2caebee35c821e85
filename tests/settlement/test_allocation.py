"""Sharing a fund's total over lines by largest remainder (SETTLEMENT_RULES.md §9).

Each line gets floor(P × w_i / Σw) fen; the fen left over go one each to the largest
remainders, ties to the lower line number. Every expected share is worked out by hand.
"""

from __future__ import annotations

import pytest

from settlement.allocation import allocate


def test_a_worked_three_line_example_gives_the_left_over_fen_to_the_largest_remainder() -> None:
    # P = 100 fen over weights 70, 50, 30 (Σ 150):
    #   7000 / 150 = 46 r 100;  5000 / 150 = 33 r 50;  3000 / 150 = 20 r 0.
    # Floors sum to 99: the one fen left goes to line 1 (remainder 100) → 47, 33, 20.
    assert allocate(100, [70, 50, 30], [1, 2, 3]) == [47, 33, 20]


def test_the_largest_remainder_wins_over_the_largest_weight() -> None:
    # P = 5 over 3, 3, 1 (Σ 7): 15 / 7 = 2 r 1; 15 / 7 = 2 r 1; 5 / 7 = 0 r 5.
    # Floors sum to 4: the fen goes to line 3 (remainder 5) → 2, 2, 1.
    assert allocate(5, [3, 3, 1], [1, 2, 3]) == [2, 2, 1]


def test_ties_between_equal_remainders_go_to_the_lower_line_number() -> None:
    # P = 10 over 10, 10, 10 (Σ 30): 100 / 30 = 3 r 10 each; one fen left goes to line 1.
    assert allocate(10, [10, 10, 10], [1, 2, 3]) == [4, 3, 3]


def test_ties_follow_the_line_number_not_the_position_in_the_list() -> None:
    # P = 2 over 1, 1, 1 on lines 30, 10, 20: 0 r 2 each; two fen go to lines 10 and 20.
    assert allocate(2, [1, 1, 1], [30, 10, 20]) == [0, 1, 1]


def test_two_left_over_fen_go_to_the_two_largest_remainders() -> None:
    # P = 10 over 10, 20, 20, 10 (Σ 60): 100/60 = 1 r 40; 200/60 = 3 r 20; 3 r 20; 1 r 40.
    # Floors sum to 8: the two fen go to lines 1 and 4 (remainder 40) → 2, 3, 3, 2.
    assert allocate(10, [10, 20, 20, 10], [1, 2, 3, 4]) == [2, 3, 3, 2]


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (1, [1]),
        (1, [1, 1, 1, 1, 1]),
        (4, [1, 1, 1, 1, 1]),
        (997, [1, 0, 500, 499, 0, 3]),
        (1097706, [44000, 1200000, 393760, 33750, 0, 210000, 10500, 27500]),
        (12345, [12345]),
        (9999, [3333, 3333, 3334]),
    ],
)
def test_shares_sum_to_the_total_and_none_exceeds_its_weight(
    total: int, weights: list[int]
) -> None:
    shares = allocate(total, weights, list(range(1, len(weights) + 1)))
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        assert 0 <= share <= weight


def test_a_line_without_weight_gets_nothing() -> None:
    # P = 5 over 0, 2, 0, 3 (Σ 5): shares equal the weights.
    assert allocate(5, [0, 2, 0, 3], [1, 2, 3, 4]) == [0, 2, 0, 3]


def test_a_total_equal_to_the_weights_gives_every_line_its_whole_weight() -> None:
    assert allocate(1244000, [44000, 1200000, 0], [1, 2, 3]) == [44000, 1200000, 0]


def test_a_zero_total_gives_zero_to_every_line() -> None:
    assert allocate(0, [5, 0, 7], [1, 2, 3]) == [0, 0, 0]


def test_a_zero_total_over_zero_weights_gives_zeros() -> None:
    assert allocate(0, [0, 0], [1, 2]) == [0, 0]


def test_the_worked_example_e1_basic_insurance_shares_by_line() -> None:
    # E1: P1 = 10977.06 over the in-scope amounts of §11 (fen); shares from the rules page.
    weights = [44000, 1200000, 393760, 33750, 0, 210000, 10500, 27500]
    expected = [25162, 686241, 225179, 19301, 0, 120092, 6005, 15726]
    assert allocate(1097706, weights, list(range(1, 9))) == expected
