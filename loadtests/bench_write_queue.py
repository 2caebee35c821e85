"""SQLite's write lock under contention, with and without the write queue, side by side.

    .venv/bin/python -m loadtests.bench_write_queue [--seconds 5] [--requests 8] [--rounds 3]

One process, one database file on disk (FULL sync, as served). A "group-commit writer"
thread begins its next write transaction the moment it commits (as the service's writer does
under load; `--batch-gap-ms` pauses it), holding the lock for `--batch-ms` of work each time;
`--requests` request threads each run a write transaction of `--request-ms`, then think for
`--think-ms`. Rounds alternate queue off and on (the machine drifts; ratios within a round
are what count). Printed per run: how long request threads waited for the lock (p50, p99,
max), how long the lock was held as a share of the time, and the transactions each kind got
through.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from api.core.config import Settings
from api.db.engine import make_engine, write_connection


def busy(milliseconds: float) -> None:
    """Hold the lock doing something, as a transaction's statements and flush would."""
    time.sleep(milliseconds / 1000)


def run(engine: Engine, options: argparse.Namespace) -> dict[str, float]:
    stop = time.monotonic() + options.seconds
    waits: list[float] = []
    held = [0.0]
    counts = {"batches": 0, "requests": 0, "refused": 0}
    guard = threading.Lock()

    def transaction(hold_ms: float, kind: str) -> float:
        asked = time.monotonic()
        with write_connection(engine) as connection:
            got = time.monotonic()
            connection.execute(text("INSERT INTO written (kind) VALUES (:kind)"), {"kind": kind})
            busy(hold_ms)
            connection.commit()
        with guard:
            held[0] += time.monotonic() - got
        return got - asked

    def group_commit_writer() -> None:
        while time.monotonic() < stop:
            transaction(options.batch_ms, "batch")
            counts["batches"] += 1
            time.sleep(options.batch_gap_ms / 1000)

    def request_thread() -> None:
        while time.monotonic() < stop:
            try:
                waited = transaction(options.request_ms, "request")
            except Exception:  # locked past lock_wait_ms: refused, as the service would
                counts["refused"] += 1
                continue
            with guard:
                waits.append(waited)
                counts["requests"] += 1
            time.sleep(options.think_ms / 1000)

    threads = [threading.Thread(target=group_commit_writer)]
    threads += [threading.Thread(target=request_thread) for _ in range(options.requests)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    waits.sort()
    return {
        "p50_ms": 1000 * statistics.median(waits) if waits else 0.0,
        "p99_ms": 1000 * waits[int(0.99 * (len(waits) - 1))] if waits else 0.0,
        "max_ms": 1000 * waits[-1] if waits else 0.0,
        "held_share": held[0] / elapsed,
        "requests_per_s": counts["requests"] / elapsed,
        "batches_per_s": counts["batches"] / elapsed,
        "refused": counts["refused"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-ms", type=float, default=5.0)
    parser.add_argument(
        "--batch-gap-ms", type=float, default=0.0, help="the writer's pause between batches"
    )
    parser.add_argument("--request-ms", type=float, default=2.0)
    parser.add_argument("--think-ms", type=float, default=20.0)
    parser.add_argument("--lock-wait-ms", type=int, default=5_000)
    options = parser.parse_args(argv)
    print(
        f"{options.requests} request threads ({options.request_ms} ms held, "
        f"{options.think_ms} ms apart) beside a writer holding {options.batch_ms} ms a "
        f"batch, {options.batch_gap_ms} ms apart; {options.seconds} s a run"
    )
    print(
        f"{'round':>5} {'queue':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'held':>6} "
        f"{'req/s':>7} {'batch/s':>8} {'refused':>7}"
    )
    with tempfile.TemporaryDirectory() as directory:
        for round_number in range(1, options.rounds + 1):
            for queued in (False, True):
                path = Path(directory) / f"bench-{round_number}-{queued}.db"
                settings = Settings(
                    database_url=f"sqlite:///{path}",
                    lock_wait_ms=options.lock_wait_ms,
                    sqlite_write_queue=queued,
                )
                engine = make_engine(settings)
                with engine.begin() as connection:
                    connection.exec_driver_sql(
                        "CREATE TABLE written (id INTEGER PRIMARY KEY, kind TEXT NOT NULL)"
                    )
                figures = run(engine, options)
                engine.dispose()
                print(
                    f"{round_number:>5} {'on' if queued else 'off':>5} "
                    f"{figures['p50_ms']:>8.1f} {figures['p99_ms']:>8.1f} "
                    f"{figures['max_ms']:>8.1f} {figures['held_share']:>6.0%} "
                    f"{figures['requests_per_s']:>7.0f} {figures['batches_per_s']:>8.0f} "
                    f"{figures['refused']:>7.0f}"
                )


if __name__ == "__main__":
    main()
