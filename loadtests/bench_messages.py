"""`python -m loadtests.bench_messages`: the CPU each kind of request costs, in-process, beside a
plain settle.

Seeds a load-test population in a fresh database (a SQLite file, or a database it creates on
the PostgreSQL server of `--server`, 127.0.0.1 only), runs the service in-process (group commit
on, as served), and sends, one request at a time, `--stays` rounds of: one 30-line claim to
`POST /v1/settlements`, then one whole stay of another 30-line claim through `POST /v1/nhsa`
(2401, 2301 in two halves, 2402, 2304). The process's CPU time (every thread: the request's,
the group-commit writer's, the test client's) is read before and after each request; it prints
the mean per kind of request and its ratio to the plain settle, the figure issue 20 sets its
targets by (2304 at most 1.5 times a plain settle).

A benchmark, not a test: figures are printed for docs/performance.md, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadtests.bench_round_trips import database

PERSONS = 200
HOSPITALS = 4


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def measure(url: str, keys_file: Path, stays: int, seed: int) -> dict[str, list[float]]:
    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.main import create_app
    from loadtests.claims import claim_json, generate, hospital_keys, read_keys
    from loadtests.nhsa import NhsaStay, run_stay

    keys = sorted(hospital_keys(read_keys(keys_file)).items())
    settings = Settings(database_url=url, key_cache_seconds=3600)
    cpu: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(seed)
    with TestClient(create_app(settings)) as client:
        for number in range(stays + 2):
            warm = number < 2  # the first requests fill the pool and the caches
            hospital_id, key = keys[number % len(keys)]
            headers = {"Authorization": f"Bearer {key}"}
            plain = generate(rng, claim_id=f"BM{seed}C{number}", hospital_id=hospital_id,
                             persons=PERSONS, lines=30)  # fmt: skip
            started = time.process_time()
            response = client.post("/v1/settlements", json=claim_json(plain.claim), headers=headers)
            if not warm:
                cpu["settle"].append(time.process_time() - started)
            assert response.status_code == 201, response.text
            stay = generate(rng, claim_id=f"BM{seed}N{number}", hospital_id=hospital_id,
                            persons=PERSONS, lines=30)  # fmt: skip
            nhsa_headers = {**headers, "Content-Type": "application/json"}

            def send(infno: str, body: bytes, _check: Any, warm: bool = warm,
                     nhsa_headers: dict[str, str] = nhsa_headers) -> Any:  # fmt: skip
                started = time.process_time()
                answered = client.post("/v1/nhsa", content=body, headers=nhsa_headers)
                if not warm:
                    cpu[infno].append(time.process_time() - started)
                document = answered.json()
                assert document["infcode"] == 0, document
                return document["output"]

            assert run_stay(NhsaStay.of(stay, claim_json(stay.claim)), send) is not None
    return cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--stays", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    options = parser.parse_args(argv)
    from api.core.config import Settings
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.services.demo import seed_population

    place = database(options.server) if options.db == "postgresql" else sqlite_database()
    with place as url, tempfile.TemporaryDirectory() as keys_dir:
        upgrade(url)
        engine = make_engine(Settings(database_url=url))
        keys_file = Path(keys_dir) / "keys.env"
        seed_population(engine, PERSONS, HOSPITALS, keys_file)
        engine.dispose()
        cpu = measure(url, keys_file, options.stays, options.seed)
    base = statistics.mean(cpu["settle"])
    print(f"CPU per request, in-process, {options.db}, {options.stays} rounds (30-line claims)")
    print(f"{'request':>8} {'count':>6} {'mean ms':>8} {'median ms':>10} {'× settle':>9}")
    for kind, values in cpu.items():
        mean = statistics.mean(values)
        median = statistics.median(values) * 1000
        print(f"{kind:>8} {len(values):>6} {mean * 1000:>8.2f} {median:>10.2f} {mean / base:>9.2f}")


if __name__ == "__main__":
    main()
