"""The simulation's report from partition results made here: percentiles by nearest rank, the
mean and the change % rounded half up, the threshold counted at or above, the ten largest
changes ordered by size then person, partitions adding up in any order, and a reversal taking
out exactly what its settlement added."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.core.chart import paired_bars
from api.services.simulation import (
    Burden,
    PartitionResult,
    _change_percent,
    _undone,
    nearest_rank,
    report,
)
from settlement.engine import settle
from settlement.model import AccumulatorsFen, Group
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import load_default
from tests.worked_examples import example_claim, person


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 90, 90),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
        ([10, 20, 30], 50, 20),  # rank ⌈1.5⌉ = 2
        ([10, 20, 30], 90, 30),  # rank ⌈2.7⌉ = 3
        ([10, 20, 30, 40], 50, 20),  # rank 2 exactly, not the mean of the middle two
        ([7], 1, 7),
    ],
)
def test_nearest_rank(values: list[int], percent: int, expected: int) -> None:
    assert nearest_rank(values, percent) == expected


@pytest.mark.parametrize(
    ("baseline", "candidate", "expected"),
    [
        (300, 400, "33.33"),
        (300, 500, "66.67"),
        (800, 700, "-12.50"),
        (600, 500, "-16.67"),  # half up, away from zero, as Decimal's ROUND_HALF_UP
        (200000, 200001, "0.00"),  # 0.0005 % rounds down
        (20000, 20001, "0.01"),  # 0.005 % rounds up
        (100, 100, "0.00"),
        (0, 100, None),
        (0, 0, None),
    ],
)
def test_change_percent(baseline: int, candidate: int, expected: str | None) -> None:
    assert _change_percent(baseline, candidate) == expected


def _partition(*burdens: tuple[str, str | None, int, int]) -> PartitionResult:
    result = PartitionResult()
    result.burdens = [Burden(*burden) for burden in burdens]
    return result


def test_burdens_mean_percentiles_threshold_and_the_largest_changes() -> None:
    book = load_default().book  # 220000-2018 alerts at 5000.00
    first = _partition(("P3", "dibao", 500000, 499999), ("P1", None, 1, 2))
    second = _partition(("P2", "dibao", 499999, 500000), ("P4", "destitute", 0, 3))
    second.funds["baseline"][0] = 5
    first.funds["candidate"][5] = 7
    total = PartitionResult()
    total.add(second)
    total.add(first)
    document = report(total, (book, book), 2018, "220000")
    burden = document["burden"]
    assert burden["person_years"] == 4
    # baseline 0.00, 0.01, 4999.99, 5000.00: mean 2500.00 exactly; candidate 0.02, 0.03,
    # 4999.99, 5000.00: mean 2500.01 (250001 fen after rounding 1000004/4 = 250001).
    assert burden["baseline"]["mean"] == "2500.00"
    assert burden["candidate"]["mean"] == "2500.01"
    assert burden["baseline"]["median"] == "0.01"
    assert burden["baseline"]["p90"] == burden["baseline"]["max"] == "5000.00"
    assert burden["baseline"]["threshold"] == "5000.00"
    assert burden["baseline"]["at_or_above_threshold"] == 1  # 5000.00 counts, 4999.99 does not
    assert burden["candidate"]["at_or_above_threshold"] == 1
    assert [c["person_id"] for c in document["largest_burden_changes"]] == ["P4", "P1", "P2", "P3"]
    assert document["largest_burden_changes"][0] == {
        "person_id": "P4", "group": "destitute", "before": "0.00", "after": "0.03",
        "change": "0.03",
    }  # fmt: skip
    assert document["largest_burden_changes"][3]["change"] == "-0.01"
    assert document["funds"][0]["baseline"] == "0.05"
    assert document["funds"][5]["candidate"] == "0.07"
    assert [row["figure"] for row in document["funds"]] == [
        "basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund",
        "patient_pay",
    ]  # fmt: skip


def test_the_mean_rounds_half_up_to_the_fen() -> None:
    book = load_default().book
    total = _partition(("P1", None, 1, 1), ("P2", None, 2, 2))  # 1.5 fen
    assert report(total, (book, book), 2018, "220000")["burden"]["baseline"]["mean"] == "0.02"
    total = _partition(("P1", None, 1, 1), ("P2", None, 1, 1), ("P3", None, 2, 2))  # 1.33
    assert report(total, (book, book), 2018, "220000")["burden"]["baseline"]["mean"] == "0.01"


def test_a_year_without_a_threshold_counts_none() -> None:
    shipped = load_default().book
    book = TariffBook(tuple(replace(tariff, burden_alert=None) for tariff in shipped.tariffs))
    document = report(_partition(("P1", None, 1, 1)), (book, book), 2018, "220000")
    assert document["burden"]["baseline"]["threshold"] is None
    assert document["burden"]["baseline"]["at_or_above_threshold"] is None


def test_a_reversal_takes_out_exactly_what_its_settlement_added() -> None:
    before = AccumulatorsFen(2018, 1, 12345, 1_500_000, 90, 12, 34, 56, 789)
    result = settle(example_claim(), person(Group.DIBAO), 3, before.to_money(), load_default().book)
    assert isinstance(result, Settlement)
    after = result.accumulators_after_fen
    moved = [name for name in after._fields if getattr(after, name) != getattr(before, name)]
    assert moved == [name for name in after._fields if name not in ("year", "health_paid")]
    assert _undone(result.accumulators_after_fen, result) == before


def test_the_paired_chart_puts_both_runs_of_each_figure_side_by_side() -> None:
    chart = paired_bars(
        [("a", 100_00, 50_00), ("b", 0, 200_00)], {"baseline": "B", "candidate": "C"}
    )
    assert [bar.fund for bar in chart.bars] == ["baseline", "candidate"] * 2
    first, second = chart.bars[0], chart.bars[1]
    assert first.x < second.x < chart.bars[2].x
    assert first.height == pytest.approx(2 * second.height, rel=0.02)
    assert chart.bars[3].height == pytest.approx(4 * second.height, rel=0.02)
    assert chart.bars[2].height == 0.5  # a zero still shows as a hairline
    assert chart.bars[0].title == "a B: 100.00"
    assert chart.ticks[-1].label == "200"
    assert not chart.empty
    assert paired_bars([("a", 0, 0)], {"x": "X", "y": "Y"}).empty
