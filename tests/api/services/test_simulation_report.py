"""The simulation's report from partition results made here: percentiles by nearest rank, the
mean and the change % rounded half up, the threshold counted at or above, the ten largest
changes ordered by size then person, partitions adding up in any order, and a reversal taking
out exactly what its settlement added."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from api.core.chart import paired_bars
from api.services.simulation import (
    Burden,
    Difference,
    PartitionResult,
    Refusal,
    _change_percent,
    _undone,
    last_in_force,
    nearest_rank,
    partition_of,
    report,
)
from settlement.engine import settle
from settlement.model import AccumulatorsFen, Group
from settlement.result import Settlement
from settlement.tariff import Tariff, TariffBook
from tariffs import load_default
from tests.worked_examples import example_claim, h1_claim, h1_person, person


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


def test_the_partition_is_the_first_32_bits_of_the_md5() -> None:
    # The first 32 bits of md5("P0001"), as PostgreSQL's md5() and bit cast give them too.
    assert partition_of("P0001", 1 << 32) == 2_345_283_340
    assert partition_of("P0001", 7) == 2_345_283_340 % 7
    assert {partition_of(f"P{i:04d}", 4) for i in range(64)} == {0, 1, 2, 3}


def test_nearest_rank_divides_by_a_hundred() -> None:
    assert nearest_rank(list(range(1, 102)), 50) == 51  # ⌈50.5⌉, where / 101 would give 50


def test_the_burden_figures_of_a_hundred_person_years() -> None:
    book = load_default().book
    total = _partition(*((f"P{i:03d}", None, i, 2 * i) for i in range(1, 101)))
    burden = report(total, (book, book), 2018, "220000")["burden"]
    assert burden["baseline"] | {"threshold": None, "at_or_above_threshold": None} == {
        "mean": "0.51", "median": "0.50", "p90": "0.90", "p99": "0.99", "max": "1.00",
        "threshold": None, "at_or_above_threshold": None,
    }  # fmt: skip
    assert burden["candidate"]["mean"] == "1.01"
    half = _partition(("P1", None, 2, 2), ("P2", None, 3, 3))  # 2.5 fen: up, not to even
    assert report(half, (book, book), 2018, "220000")["burden"]["baseline"]["mean"] == "0.03"


def test_the_report_document_has_every_key_and_orders_its_lists() -> None:
    book = load_default().book
    total = PartitionResult()
    for group in ("registered_poor", None, "destitute"):
        total.by_group[group] = {"baseline": [1] * 6, "candidate": [2] * 6}
    for level in (3, 1):
        total.by_level[level] = {"baseline": [0] * 6, "candidate": [0] * 6}
    total.patient_pay = [3, 2, 1]
    total.differences = [
        Difference("S2", "total", "1.00", "1.01"),
        Difference("S1", "charity", "0.00", "0.01"),
    ]
    total.substituted = {("policy", "220000", "220000-2018", "220000-2018")}
    document = report(total, (book, book), 2018, "220000")
    assert list(document) == [
        "year", "region", "settlements", "reversals", "standing", "substituted", "notes",
        "funds", "by_group", "by_hospital_level", "patient_pay", "burden",
        "largest_burden_changes", "baseline_differences",
    ]  # fmt: skip
    assert (document["year"], document["region"], document["notes"]) == (2018, "220000", [])
    assert [part["group"] for part in document["by_group"]] == [
        "destitute",
        "registered_poor",
        None,
    ]
    assert [part["level"] for part in document["by_hospital_level"]] == [1, 3]
    assert document["patient_pay"] == {"rose": 3, "fell": 2, "same": 1}
    assert document["baseline_differences"] == [
        {"settlement_id": "S1", "figure": "charity", "stored": "0.00", "replayed": "0.01"},
        {"settlement_id": "S2", "figure": "total", "stored": "1.00", "replayed": "1.01"},
    ]
    assert document["substituted"] == [
        {
            "kind": "policy",
            "region": "220000",
            "recorded": "220000-2018",
            "candidate": "220000-2018",
        }
    ]
    assert document["burden"] == {"person_years": 0}


def test_partitions_add_up_every_list() -> None:
    first, second = PartitionResult(), PartitionResult()
    first.unreadable, second.unreadable = ["S1"], ["S2"]
    first.refusals, second.refusals = [Refusal("S3", ("x",))], [Refusal("S4", ("y",))]
    first.substituted = {("policy", "220000", "a", "b")}
    second.substituted = {("catalog", "210000", "c", "d")}
    first.settlements, second.settlements = 2, 3
    total = PartitionResult()
    total.add(first)
    total.add(second)
    assert total.unreadable == ["S1", "S2"]
    assert [r.settlement_id for r in total.refusals] == ["S3", "S4"]
    assert total.substituted == first.substituted | second.substituted
    assert total.settlements == 5


def test_a_candidate_ordering_the_groups_otherwise_is_noted() -> None:
    book = load_default().book
    reordered = TariffBook(
        tuple(
            replace(tariff, group_precedence=tuple(reversed(tariff.group_precedence)))
            for tariff in book.tariffs
        )
    )
    total = PartitionResult()
    total.substituted = {
        ("policy", "220000", "220000-2018", "220000-2018"),
        ("catalog", "210000", "210000-2018", "210000-2018"),
    }
    notes = report(total, (book, reordered), 2018, "220000")["notes"]
    assert notes == [
        "220000-2018 orders the groups otherwise than 220000-2018: each claim is settled again "
        "with the group recorded on it, not by the candidate's precedence"
    ]
    assert report(total, (book, book), 2018, "220000")["notes"] == []


def _version(region: str, start: date, end: date | None, threshold: str) -> Tariff:
    base = load_default().book.select("220000", date(2018, 6, 1))
    assert base is not None
    assert base.burden_alert is not None
    alert = replace(base.burden_alert, threshold_fen=int(threshold))
    return replace(
        base, version=f"{region}-{start}", region=region, effective_from=start,
        effective_to=end, burden_alert=alert,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        # ended on the year's first day: still in force that year
        ([(date(2017, 1, 1), date(2020, 1, 1))], "2017-01-01"),
        ([(date(2016, 1, 1), date(2019, 12, 31)), (date(2020, 1, 1), None)], "2016-01-01"),
        ([(date(2020, 12, 31), None)], "2020-12-31"),  # in force from the year's last day
        ([(date(2020, 1, 1), date(2020, 6, 30)), (date(2020, 7, 1), None)], "2020-07-01"),
        ([(date(2020, 7, 1), None), (date(2020, 1, 1), date(2020, 6, 30))], "2020-07-01"),
        ([(date(2021, 1, 1), None)], None),
    ],
)
def test_the_last_version_in_force_in_a_year(
    periods: list[tuple[date, date | None]], expected: str | None
) -> None:
    book = TariffBook(tuple(_version("990000", s, e, "100") for s, e in periods))
    found = last_in_force([book], "990000", 2020 if periods[0][0] != date(2016, 1, 1) else 2019)
    assert (None if found is None else str(found.effective_from)) == expected


def test_the_last_version_in_force_falls_back_to_the_next_book() -> None:
    recorded = TariffBook((_version("990000", date(2020, 1, 1), None, "100"),))
    assert last_in_force([TariffBook(()), recorded], "990000", 2020) is recorded.tariffs[0]
    assert last_in_force([TariffBook(())], "990000", 2020) is None


def test_a_reversal_takes_out_exactly_what_a_health_fund_settlement_added() -> None:
    before = AccumulatorsFen(2019, 1, 100, 200, 0, 0, 0, 0, 300)
    result = settle(h1_claim(), h1_person(), 2, before.to_money(), load_default().book)
    assert isinstance(result, Settlement)
    assert result.totals.health_fund_fen > 0
    assert _undone(result.accumulators_after_fen, result) == before
