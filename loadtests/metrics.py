"""The service's own figures over a load test: `GET /metrics` read before and after, and what
grew in between (group-commit batch sizes, write-lock waits, refusals by kind, database
errors), printed beside locust's figures by `loadtests.run`."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base_url: str, admin_key: str) -> Series:
    """Every sample of the service's metrics, by name and sorted labels."""
    response = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    )
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def grown(before: Series, after: Series) -> Series:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _histogram(delta: Series, name: str, **labels: str) -> dict[str, float]:
    """count, mean and the bucket bounds p50 and p99 fall under, of one histogram's growth."""
    wanted = set(labels.items())
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for (sample, sample_labels), value in delta.items():
        label_set = dict(sample_labels)
        if not wanted <= set(label_set.items()):
            continue
        if sample == f"{name}_bucket":
            bound = label_set["le"]
            buckets.append((math.inf if bound == "+Inf" else float(bound), value))
        elif sample == f"{name}_count":
            count = value
        elif sample == f"{name}_sum":
            total = value
    buckets.sort()

    def quantile(q: float) -> float:
        for bound, cumulative in buckets:
            if count and cumulative >= q * count:
                return bound
        return math.nan

    return {
        "count": count,
        "mean": total / count if count else math.nan,
        "p50_le": quantile(0.5),
        "p99_le": quantile(0.99),
    }


def summary(before: Series, after: Series) -> dict[str, Any]:
    """What the service counted over the run, for summary.json and the printed report."""
    delta = grown(before, after)
    refusals: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    for (sample, labels), value in delta.items():
        if sample == "onestop_refusals_total" and value:
            refusals[dict(labels)["kind"]] += value
        if sample == "onestop_database_errors_total" and value:
            errors[dict(labels)["kind"]] += value
    return {
        "batch_settlements": _histogram(delta, "onestop_batch_settlements"),
        "batch_queue_seconds": _histogram(delta, "onestop_batch_queue_seconds"),
        "batch_write_seconds": _histogram(delta, "onestop_batch_write_seconds"),
        "sqlite_write_lock_seconds": _histogram(
            delta, "onestop_lock_wait_seconds", lock="sqlite_write"
        ),
        "accumulators_lock_seconds": _histogram(
            delta, "onestop_lock_wait_seconds", lock="accumulators"
        ),
        "refusals": dict(refusals),
        "database_errors": dict(errors),
    }


def lines(figures: dict[str, Any]) -> str:
    """The summary as the report prints it."""
    batch = figures["batch_settlements"]
    text = [
        f"service: {batch['count']:.0f} group-commit batches, {batch['mean']:.1f} claims a batch "
        f"(p50 ≤ {batch['p50_le']:g}, p99 ≤ {batch['p99_le']:g}); a claim waited "
        f"{1000 * figures['batch_queue_seconds']['mean']:.1f} ms for its batch on average, "
        f"a batch took {1000 * figures['batch_write_seconds']['mean']:.1f} ms"
    ]
    for name, label in (
        ("sqlite_write_lock_seconds", "SQLite write-lock waits"),
        ("accumulators_lock_seconds", "accumulator-lock waits"),
    ):
        wait = figures[name]
        if wait["count"]:
            text.append(
                f"  {label}: {wait['count']:.0f}, mean {1000 * wait['mean']:.1f} ms, "
                f"p99 ≤ {1000 * wait['p99_le']:g} ms"
            )
    if figures["refusals"]:
        kinds = ", ".join(
            f"{kind} {count:.0f}" for kind, count in sorted(figures["refusals"].items())
        )
        text.append(f"  refusals: {kinds}")
    if figures["database_errors"]:
        kinds = ", ".join(
            f"{kind} {count:.0f}" for kind, count in sorted(figures["database_errors"].items())
        )
        text.append(f"  database errors: {kinds}")
    return "\n".join(text) + "\n"
