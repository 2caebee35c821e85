"""A dependency-free SVG plot of a locust run: settlements per second and p99 over time."""

from __future__ import annotations

import csv
from html import escape
from pathlib import Path

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 900, 360, 70, 70, 40, 50


def history_svg(history_csv: Path, title: str) -> str:
    """Two lines from locust's `_stats_history.csv`: requests/s of `settle` (left axis) and
    the 99th percentile response time of all requests (right axis)."""
    points: list[tuple[float, float, float]] = []
    start = None
    with history_csv.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") != "Aggregated":
                continue
            stamp = float(row["Timestamp"])
            start = stamp if start is None else start
            rps = float(row.get("Requests/s") or 0)
            p99 = row.get("99%", "0")
            points.append((stamp - start, rps, float(p99) if p99 not in ("", "N/A") else 0.0))
    if not points:
        return _frame(title, "no history recorded")
    t_max = max(point[0] for point in points) or 1.0
    rps_max = max(point[1] for point in points) * 1.1 or 1.0
    p99_max = max(point[2] for point in points) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / t_max

    def y(value: float, top: float) -> float:
        return TOP + plot_h * (1 - value / top)

    rps_path = " ".join(f"{x(t):.1f},{y(r, rps_max):.1f}" for t, r, _ in points)
    p99_path = " ".join(f"{x(t):.1f},{y(p, p99_max):.1f}" for t, _, p in points)
    ticks = []
    for i in range(6):
        value = rps_max * i / 5
        ticks.append(
            f'<text x="{LEFT - 8}" y="{y(value, rps_max) + 4:.1f}" text-anchor="end" fill="#1f77b4">{value:.0f}</text>'
        )
        latency = p99_max * i / 5
        ticks.append(
            f'<text x="{WIDTH - RIGHT + 8}" y="{y(latency, p99_max) + 4:.1f}" fill="#d62728">{latency:.0f}</text>'
        )
        level = f"{y(value, rps_max):.1f}"
        ticks.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level}" y2="{level}" stroke="#eee"/>'
        )
        seconds = t_max * i / 5
        ticks.append(
            f'<text x="{x(seconds):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{seconds:.0f}</text>'
        )
    body = (
        "".join(ticks)
        + f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{rps_path}"/>'
        + f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{p99_path}"/>'
        + f'<text x="{LEFT}" y="{TOP - 8}" fill="#1f77b4">requests/s (all tasks)</text>'
        + f'<text x="{WIDTH - RIGHT}" y="{TOP - 8}" text-anchor="end" fill="#d62728">p99 response time, ms</text>'
        + f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">seconds into the run</text>'
    )
    return _frame(title, body)


def _frame(title: str, body: str) -> str:
    if not body.startswith("<"):
        body = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">{escape(body)}</text>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>'
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#999"/>'
        f"{body}</svg>\n"
    )
