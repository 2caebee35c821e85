"""The charts' geometry: the finance view's daily net fund payments as a stacked bar chart, and
the policy simulation's funds, baseline beside candidate (`paired_bars`), laid out here.

This module only computes geometry (pixels, tick values, labels) from the daily series of
`api.services.finance.daily_fund_payments`; the template `finance.html` draws it as inline SVG, so the
page needs no JavaScript and every label passes through the template's autoescaping. It also
holds `grouped`, the view's way of writing an amount with thousands separators.
Positive amounts stack upward from zero and negative ones (a day whose reversals exceed its
settlements) stack downward, in the funds' cascade order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from settlement.money import format_fen

CHART_WIDTH = 960
CHART_HEIGHT = 340
MARGIN_LEFT = 80
MARGIN_RIGHT = 16
MARGIN_TOP = 40
"""Room for the legend above the plot."""
MARGIN_BOTTOM = 48
"""Room for the day numbers and the axis title below the plot."""
TICKS_WANTED = 5
EMPTY_TOP_FEN = 100_000
"""The axis of a month without payments still reads 0 … 1,000 yuan, so it looks like an axis."""
DAYS_MAX = 31
LEGEND_SWATCH_PX = 18
LEGEND_WIDE_PX = 12.5
"""Estimated advance of a CJK character at the legend's 12 px type (no font metrics here)."""
LEGEND_NARROW_PX = 6.8
LEGEND_GAP_PX = 24


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fund: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    x: float
    fund: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    zero_y: float
    bars: list[Bar]
    ticks: list[Tick]
    days: list[DayLabel]
    legend: list[LegendItem]
    empty: bool


def nice_step_fen(span_fen: int) -> int:
    """A tick step of 1, 2 or 5 times a power of ten yuan giving about `TICKS_WANTED` ticks."""
    assert span_fen > 0
    raw = span_fen / TICKS_WANTED
    step = 100  # one yuan: ticks are whole yuan
    while True:
        for factor in (1, 2, 5):
            if step * factor >= raw:
                return step * factor
        step *= 10


def grouped(amount: str) -> str:
    """A contract money string with thousands separators, for reading: '-12345.60' → '-12,345.60'."""
    sign = "-" if amount.startswith("-") else ""
    whole, point, cents = amount.removeprefix("-").partition(".")
    assert whole.isdigit()
    assert point == "."
    assert len(cents) == 2
    return f"{sign}{int(whole):,}.{cents}"


def yuan_label(fen: int) -> str:
    """Whole yuan with thousands separators, for axis ticks: 1234500 → '12,345'."""
    assert fen % 100 == 0
    return f"{fen // 100:,}"


def stacked_bars(series: list[dict[str, Any]], funds: dict[str, str]) -> Chart:
    """Lay out one bar per day of `series` ({"day", fund: fen}), one segment per fund of `funds`
    (fund → label, in stacking order)."""
    assert 0 < len(series) <= DAYS_MAX
    top_fen, bottom_fen, empty = _range_fen(series, funds)
    step = nice_step_fen(top_fen - bottom_fen)
    top_fen = -(-top_fen // step) * step
    bottom_fen = (bottom_fen // step) * step
    plot_left, plot_right = float(MARGIN_LEFT), float(CHART_WIDTH - MARGIN_RIGHT)
    plot_top, plot_bottom = float(MARGIN_TOP), float(CHART_HEIGHT - MARGIN_BOTTOM)

    def y_of(fen: int) -> float:
        return plot_top + (top_fen - fen) / (top_fen - bottom_fen) * (plot_bottom - plot_top)

    band = (plot_right - plot_left) / len(series)
    bars: list[Bar] = []
    days: list[DayLabel] = []
    for index, day in enumerate(series):
        x = plot_left + index * band
        days.append(DayLabel(round(x + band / 2, 1), str(int(day["day"][-2:]))))
        above = below = 0
        for fund, label in funds.items():
            amount = int(day[fund])
            if amount == 0:
                continue
            start = above if amount > 0 else below
            end = start + amount
            if amount > 0:
                above = end
            else:
                below = end
            y_high, y_low = y_of(max(start, end)), y_of(min(start, end))
            bars.append(
                Bar(
                    round(x + band * 0.15, 1),
                    round(y_high, 1),
                    round(band * 0.7, 1),
                    round(max(y_low - y_high, 0.5), 1),
                    fund,
                    f"{day['day']} {label}: {grouped(format_fen(amount))}",
                )
            )
    ticks = [
        Tick(round(y_of(value), 1), yuan_label(value))
        for value in range(bottom_fen, top_fen + step, step)
    ]
    return Chart(
        CHART_WIDTH, CHART_HEIGHT, plot_left, plot_right, plot_top, plot_bottom,
        round(y_of(0), 1), bars, ticks, days, legend(funds, plot_left), empty,
    )  # fmt: skip


def legend(funds: dict[str, str], left: float) -> list[LegendItem]:
    """Legend entries in a row above the plot, each placed after the estimated width of the last."""
    items = []
    x = left
    for fund, label in funds.items():
        items.append(LegendItem(round(x, 1), fund, label))
        wide = sum(1 for character in label if ord(character) > 0x2E7F)
        x += LEGEND_SWATCH_PX + wide * LEGEND_WIDE_PX + (len(label) - wide) * LEGEND_NARROW_PX
        x += LEGEND_GAP_PX
    return items


def _range_fen(series: list[dict[str, Any]], funds: dict[str, str]) -> tuple[int, int, bool]:
    """The highest stack above zero and the lowest below it, over all days."""
    top = bottom = 0
    for day in series:
        amounts = [int(day[fund]) for fund in funds]
        top = max(top, sum(amount for amount in amounts if amount > 0))
        bottom = min(bottom, sum(amount for amount in amounts if amount < 0))
    empty = top == 0 and bottom == 0
    return (EMPTY_TOP_FEN if empty else top), bottom, empty


def paired_bars(groups: list[tuple[str, int, int]], runs: dict[str, str]) -> Chart:
    """Lay out two bars side by side for each (label, first fen, second fen) of `groups`: the
    policy simulation's funds, baseline beside candidate. `runs` names the two bars (key →
    legend label), in the order of the amounts. Amounts are sums of payments (≥ 0)."""
    assert groups
    assert len(runs) == 2
    top_fen = max(max(first, second) for _, first, second in groups)
    empty = top_fen == 0
    top_fen = EMPTY_TOP_FEN if empty else top_fen
    step = nice_step_fen(top_fen)
    top_fen = -(-top_fen // step) * step
    plot_left, plot_right = float(MARGIN_LEFT), float(CHART_WIDTH - MARGIN_RIGHT)
    plot_top, plot_bottom = float(MARGIN_TOP), float(CHART_HEIGHT - MARGIN_BOTTOM)

    def y_of(fen: int) -> float:
        return plot_top + (top_fen - fen) / top_fen * (plot_bottom - plot_top)

    band = (plot_right - plot_left) / len(groups)
    bars: list[Bar] = []
    labels: list[DayLabel] = []
    for index, (label, *amounts) in enumerate(groups):
        x = plot_left + index * band
        labels.append(DayLabel(round(x + band / 2, 1), label))
        for slot, ((run, run_label), amount) in enumerate(zip(runs.items(), amounts, strict=True)):
            y_high = y_of(amount)
            bars.append(
                Bar(
                    round(x + band * (0.12 + 0.38 * slot), 1),
                    round(y_high, 1),
                    round(band * 0.36, 1),
                    round(max(y_of(0) - y_high, 0.5), 1),
                    run,
                    f"{label} {run_label}: {grouped(format_fen(amount))}",
                )
            )
    ticks = [
        Tick(round(y_of(value), 1), yuan_label(value)) for value in range(0, top_fen + step, step)
    ]
    return Chart(
        CHART_WIDTH, CHART_HEIGHT, plot_left, plot_right, plot_top, plot_bottom,
        round(y_of(0), 1), bars, ticks, labels, legend(runs, plot_left), empty,
    )  # fmt: skip
