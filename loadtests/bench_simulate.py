"""`python -m loadtests.bench_simulate`: how fast `onestop simulate` re-settles a stored year.

    ONESTOP_DATABASE_URL=... python -m loadtests.bench_simulate --year 2018 --region 220000 \\
        [--workers 1,2] [--rounds 1]

Runs the simulation's Dask tasks (`api.services.simulation.run_partitions`) end to end on the
database of ONESTOP_DATABASE_URL, with the shipped tariffs as both the recorded and the
candidate book (each settlement is settled twice either way), once for each worker count per
round, the counts alternated; prints the settlements re-settled, the seconds from the cluster's
start to the last partition's result, the settlements a second, a second per worker, and the
speed-up over the first count. Fill the database with `loadtests.prefill` first. The cluster's
start (one to three seconds) is inside the time, as it is inside the command's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from api.core.config import Settings
from api.services.simulation import run_partitions
from tariffs import load_default


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2018)
    parser.add_argument("--region", default="220000")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    counts = [int(count) for count in args.workers.split(",")]
    book = load_default().book
    url = Settings().database_url
    print(
        f"{'workers':>7} {'settlements':>12} {'seconds':>8} {'per s':>8} {'per s a worker':>15} {'speed-up':>9}"
    )
    first: float | None = None
    for _ in range(args.rounds):
        for workers in counts:
            started = time.perf_counter()
            total = run_partitions(
                url, (book, book), args.year, args.region, workers=workers, scheduler=None
            )
            seconds = time.perf_counter() - started
            assert not total.differences, total.differences[:5]
            rate = total.settlements / seconds
            first = rate if first is None or workers == counts[0] else first
            print(
                f"{workers:>7} {total.settlements:>12,} {seconds:>8.1f} {rate:>8,.0f} "
                f"{rate / workers:>15,.0f} {rate / first:>8.2f}×",
                flush=True,
            )


if __name__ == "__main__":
    main()
