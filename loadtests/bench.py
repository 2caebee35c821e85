"""`python -m loadtests.bench`: settle generated claims in-process and print the figures.

Prints settlements per second and microseconds per claim for several bill sizes on one core,
and peak memory. For 30-line claims (`--compare-rules` for other sizes) it prints a second row,
the same claims settled against the same tariffs with the catalogs' rule data removed (every
item's `rules` None), so the cost of the rule checks of rules §14 reads off the two rows; the
runs of the two alternate, so that a change in the machine's load falls on both. A benchmark,
not a test: this machine is shared, so figures are printed for a person to read and record
(docs/performance.md), never asserted.

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
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from loadtests.generate import PricedItem, generate_claim
from settlement.engine import settle
from settlement.model import Accumulators, Claim, Gender, Group, Person, Status
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tariffs import load_default

SIZES = (10, 30, 100, 1000)
COMPARED_SIZES = (30,)
"""Bill sizes also settled without rule data, by default."""
GROUPS: tuple[Group | None, ...] = (None, None, Group.DESTITUTE, Group.DIBAO, Group.REGISTERED_POOR)
GENDERS = (Gender.MALE, Gender.FEMALE)
HOSPITAL_LEVEL = 2


def without_rules(book: TariffBook) -> TariffBook:
    """The same tariffs with every catalog item's rule data removed (rules §14 then finds
    nothing to check): the baseline the rule checks' cost is read against."""
    return TariffBook(
        tuple(
            replace(
                tariff,
                catalog={code: replace(item, rules=None) for code, item in tariff.catalog.items()},
            )
            for tariff in book.tariffs
        )
    )


def _workload(
    catalog: Sequence[PricedItem], lines: int, count: int, seed: int
) -> list[tuple[Claim, Person]]:
    """In-region 2018 claims of persons of every group and none, both genders, aged 8 to 68;
    the generator's default share of them breaks a rule, the rest keep to the rule data."""
    rng = random.Random(seed)
    work = []
    for index in range(count):
        group = GROUPS[index % len(GROUPS)]
        statuses = () if group is None else (Status(group, date(2017, 1, 1), None),)
        person = Person(
            f"P{index:06d}", date(1950 + index % 60, 6, 1), "220000", statuses,
            GENDERS[index % len(GENDERS)],
        )  # fmt: skip
        claim = generate_claim(
            rng, catalog, claim_id=f"C{index}", hospital_id="H1", person=person,
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
        result = settle(claim, person, HOSPITAL_LEVEL, Accumulators(claim.policy_year), book)
        assert isinstance(result, Settlement), result
    elapsed = time.perf_counter_ns() - start
    gc.unfreeze()
    return elapsed


def _row(lines: int, rules: str, count: int, nanoseconds: float) -> str:
    seconds = nanoseconds / 1e9
    micros = seconds / count * 1e6
    return (
        f"{lines:>6} {rules:>5} {count:>7} {count / seconds:>14,.0f} {micros:>9.1f} "
        f"{micros / lines:>8.2f}"
    )


def _rule_data_share(book: TariffBook, work: list[tuple[Claim, Person]]) -> tuple[float, float]:
    """(share of the claims with a line whose item has rule data, share with a finding)."""
    ruled = found = 0
    for claim, person in work:
        catalog = book.select(person.insured_region, claim.discharge_date)
        assert catalog is not None
        ruled += any(catalog.catalog[line.item_code].rules is not None for line in claim.lines)
        result = settle(claim, person, HOSPITAL_LEVEL, Accumulators(claim.policy_year), book)
        assert isinstance(result, Settlement), result
        found += bool(result.findings)
    return ruled / len(work), found / len(work)


def _size(
    books: dict[str, TariffBook],
    catalog: Sequence[PricedItem],
    lines: int,
    seconds_budget: float,
    repeat: int,
    seed: int,
) -> None:
    """Print one row per book for claims of `lines` lines, runs alternating between books."""
    rules = books["yes"]
    calibration = _workload(catalog, lines, 20, seed)
    per_claim = _run(rules, calibration) / 1e9 / len(calibration)
    count = max(20, min(10_000, int(seconds_budget / max(per_claim, 1e-6))))
    work = _workload(catalog, lines, count, seed)
    timings: dict[str, list[int]] = {name: [] for name in books}
    for _ in range(repeat):
        for name, book in books.items():
            timings[name].append(_run(book, work))
    for name in books:
        print(_row(lines, name, count, statistics.median(timings[name])))
    if len(books) > 1:
        with_rules = statistics.median(timings["yes"]) / count / 1e3
        without = statistics.median(timings["no"]) / count / 1e3
        ruled, found = _rule_data_share(rules, work)
        print(
            f"{'':>6} rule checks: {with_rules - without:+.1f} us/claim "
            f"({(with_rules - without) / without:+.1%}); {ruled:.0%} of these claims bill an "
            f"item with rule data, {found:.0%} get a finding"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--seed", type=int, default=20181231)
    parser.add_argument(
        "--compare-rules",
        default=",".join(map(str, COMPARED_SIZES)),
        help="bill sizes also settled without rule data, comma-separated ('' for none)",
    )
    args = parser.parse_args(argv)
    compared = {int(size) for size in args.compare_rules.split(",") if size.strip()}
    loaded = load_default()
    tariff = loaded.book.select("220000", date(2018, 6, 1))
    assert tariff is not None
    catalog = [
        PricedItem(entry.item, entry.reference_price)
        for entry in loaded.catalogs[tariff.version].values()
        if entry.reference_price is not None
    ]
    books = {"yes": loaded.book, "no": without_rules(loaded.book)}
    print(f"onestop engine benchmark: one process, one core, tariff {tariff.version}, "
          f"{args.repeat} runs per size, median shown; rules: with the catalog's rule data "
          "(yes) or without it (no)")  # fmt: skip
    print(f"{'lines':>6} {'rules':>5} {'claims':>7} {'settlements/s':>14} {'us/claim':>9} "
          f"{'us/line':>8}")  # fmt: skip
    for lines in sorted({*SIZES, *compared}):
        chosen = books if lines in compared else {"yes": books["yes"]}
        _size(chosen, catalog, lines, args.seconds, args.repeat, args.seed)
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
