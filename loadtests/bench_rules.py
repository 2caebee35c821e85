"""`python -m loadtests.bench_rules`: what the rule checks (rules §14) cost the engine.

Settles the same 30-line claims against the shipped tariffs and against the same tariffs
without rule data, in many short runs that alternate between the two books within one
process, and prints the best run, the first quartile and the median of each, in µs a claim.
On a shared, noisy machine the best runs compare the code; the medians show the noise.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence

from loadtests.bench import HOSPITAL_LEVEL, _workload, without_rules
from loadtests.generate import PricedItem
from settlement.engine import settle
from settlement.model import Accumulators, Claim, Person
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import load_default


def _micros_a_claim(book: TariffBook, work: list[tuple[Claim, Person]]) -> float:
    start = time.perf_counter_ns()
    for claim, person in work:
        result = settle(claim, person, HOSPITAL_LEVEL, Accumulators(claim.policy_year), book)
        assert isinstance(result, Settlement), result
    return (time.perf_counter_ns() - start) / len(work) / 1_000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs of each book, alternated")
    parser.add_argument("--claims", type=int, default=300, help="claims a run")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    loaded = load_default()
    catalog = [
        PricedItem(entry.item, entry.reference_price)
        for entry in loaded.catalogs["220000-2018"].values()
        if entry.reference_price is not None
    ]
    work = _workload(catalog, args.lines, args.claims, args.seed)
    books = {"with rule data": loaded.book, "without": without_rules(loaded.book)}
    times: dict[str, list[float]] = {name: [] for name in books}
    gc.collect()
    gc.freeze()
    for _ in range(args.runs):
        for name, book in books.items():
            times[name].append(_micros_a_claim(book, work))
    print(
        f"{args.lines}-line claims, {args.claims} a run, {args.runs} runs of each book "
        "alternated; µs a claim"
    )
    print(f"{'book':<16} {'best':>8} {'q1':>8} {'median':>8}")
    for name, values in times.items():
        values.sort()
        best, q1, median = values[0], values[len(values) // 4], values[len(values) // 2]
        print(f"{name:<16} {best:>8.1f} {q1:>8.1f} {median:>8.1f}")


if __name__ == "__main__":
    main()
