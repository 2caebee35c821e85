"""`python -m loadtests.bench`: settle generated claims in-process and print the figures.

Prints settlements per second and microseconds per claim for several bill sizes on one core,
and peak memory. A benchmark, not a test: this machine is shared, so figures are printed for a
person to read and record (docs/performance.md), never asserted.

It lives beside the load tests, outside the engine, because it reads files: it loads the
shipped tariffs through `tariffs`, since a benchmark needs real policy data, and the engine
never imports `tariffs`. Unlike the locust suite it calls `settlement.engine.settle` directly,
with no service and no HTTP in between.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
import tracemalloc
from collections.abc import Sequence
from datetime import date

from loadtests.generate import PricedItem, generate_claim
from settlement.engine import settle
from settlement.model import Accumulators, Claim, Group, Person, Status
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import load_default

SIZES = (10, 30, 100, 1000)
GROUPS: tuple[Group | None, ...] = (None, None, Group.DESTITUTE, Group.DIBAO, Group.REGISTERED_POOR)


def _workload(
    catalog: Sequence[PricedItem], lines: int, count: int, seed: int
) -> list[tuple[Claim, Person]]:
    rng = random.Random(seed)
    work = []
    for index in range(count):
        group = GROUPS[index % len(GROUPS)]
        statuses = () if group is None else (Status(group, date(2017, 1, 1), None),)
        person = Person(f"P{index:06d}", date(1950 + index % 60, 6, 1), "220000", statuses)
        claim = generate_claim(
            rng, catalog, claim_id=f"C{index}", hospital_id="H1", person_id=person.person_id,
            year=2018, line_count=lines,
        )  # fmt: skip
        work.append((claim, person))
    return work


def _run(book: TariffBook, work: list[tuple[Claim, Person]]) -> int:
    """Nanoseconds to settle every claim once (first admission of the year, level-2 hospital)."""
    # The claims are built up front; freezing them keeps the collector from re-scanning the
    # whole workload during the timed loop, as a long-lived server's start-up data would be.
    gc.collect()
    gc.freeze()
    start = time.perf_counter_ns()
    for claim, person in work:
        result = settle(claim, person, 2, Accumulators(claim.policy_year), book)
        assert isinstance(result, Settlement), result
    elapsed = time.perf_counter_ns() - start
    gc.unfreeze()
    return elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--seed", type=int, default=20181231)
    args = parser.parse_args(argv)
    loaded = load_default()
    tariff = loaded.book.select("220000", date(2018, 6, 1))
    assert tariff is not None
    catalog = [
        PricedItem(entry.item, entry.reference_price)
        for entry in loaded.catalogs[tariff.version].values()
        if entry.reference_price is not None
    ]
    print(f"onestop engine benchmark: one process, one core, tariff {tariff.version}, "
          f"{args.repeat} runs per size, median shown")  # fmt: skip
    print(f"{'lines':>6} {'claims':>7} {'settlements/s':>14} {'us/claim':>9} {'us/line':>8}")
    for lines in SIZES:
        calibration = _workload(catalog, lines, 20, args.seed)
        per_claim = _run(loaded.book, calibration) / 1e9 / len(calibration)
        count = max(20, min(10_000, int(args.seconds / max(per_claim, 1e-6))))
        work = _workload(catalog, lines, count, args.seed)
        seconds = (
            sorted(_run(loaded.book, work) for _ in range(args.repeat))[args.repeat // 2] / 1e9
        )
        rate = count / seconds
        micros = seconds / count * 1e6
        print(f"{lines:>6} {count:>7} {rate:>14,.0f} {micros:>9.1f} {micros / lines:>8.2f}")
    tracemalloc.start()
    work = _workload(catalog, 1000, 1, args.seed)
    tracemalloc.reset_peak()
    _run(loaded.book, work)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory settling one 1,000-line claim: {peak / 1024:,.0f} KiB traced; "
          f"process peak RSS {rss_mib:,.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
