"""`python -m loadtests.bench_answer`: what writing one settlement's answer costs, in process.

Settles `--claims` generated claims of `--lines` lines each with the engine (the load test's
generator and the shipped tariffs), then times, alternated in rounds, the two ways the service
has had of writing a settlement made now as the bytes of its answer:

- `document`: the contract's dict (`settlement_json`, a dict a line) written by orjson, as
  `POST /v1/settlements` answered before issue 20's item 3 (and as replays and reads still do);
- `body`: `settlement_body`, the same bytes written from the engine's result by one template a
  chunk of lines, the codes and names from a cache.

A thousand bills a round, each written once by each way: their amounts are as varied as under
load (a few bills written over and over would sit in the processor's caches and flatter any
cache of texts).

Both are checked to write the same bytes first. `--compare PATH` times a second copy of
`api/core/contract.py` (e.g. `git show COMMIT:api/core/contract.py > /tmp/contract.py`) for its
`orjson.dumps(settlement_json(...))` beside this checkout's two.

A benchmark, not a test: figures are printed for docs/performance.md, never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from api.core.contract import settlement_body, settlement_json
from loadtests.claims import generate
from settlement.engine import settle
from settlement.model import Accumulators
from settlement.result import Settlement
from tariffs import load_default

SETTLED_AT = "2026-12-07T14:00:00+08:00"


def settlements(count: int, lines: int, seed: int) -> list[Settlement]:
    book = load_default().book
    rng = random.Random(seed)
    made: list[Settlement] = []
    while len(made) < count:
        stay = generate(rng, claim_id=f"BA{len(made)}", hospital_id="LH0001", persons=200,
                        lines=lines)  # fmt: skip
        before = Accumulators(year=stay.claim.discharge_date.year)
        result = settle(stay.claim, stay.person, stay.hospital.level, before, book,
                        stay.hospital.region)  # fmt: skip
        if isinstance(result, Settlement):
            made.append(result)
    return made


def document_writer(module_settlement_json: Callable[..., dict]) -> Callable[[Settlement], bytes]:  # type: ignore[type-arg]
    def write(settlement: Settlement) -> bytes:
        return orjson.dumps(
            module_settlement_json(
                settlement,
                settlement_id="ST1",
                status="settled",
                settled_at=SETTLED_AT,
                reversed_at=None,
            )
        )

    return write


def body_writer(settlement: Settlement) -> bytes:
    return settlement_body(settlement, settlement_id="ST1", settled_at=SETTLED_AT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another copy of api/core/contract.py")
    options = parser.parse_args(argv)
    made = settlements(options.claims, options.lines, options.seed)
    writers: dict[str, Callable[[Settlement], bytes]] = {
        "document": document_writer(settlement_json),
        "body": body_writer,
    }
    if options.compare is not None:
        spec = importlib.util.spec_from_file_location("contract_compared", options.compare)
        assert spec is not None
        assert spec.loader is not None
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        writers["compared"] = document_writer(other.settlement_json)
    for settlement in made:
        written = {name: write(settlement) for name, write in writers.items()}
        assert len(set(written.values())) == 1, f"{settlement.claim_id}: the writers differ"
    seconds: dict[str, list[float]] = {name: [] for name in writers}
    for _ in range(options.rounds):
        for name, write in writers.items():
            started = time.perf_counter()
            for settlement in made:
                write(settlement)
            seconds[name].append((time.perf_counter() - started) / len(made))
    print(f"one answer written, {options.lines} lines, {options.claims} claims, "
          f"{options.rounds} rounds (median, min)")  # fmt: skip
    base = statistics.median(seconds["document"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:>9} {median * 1e6:8.1f} µs {min(values) * 1e6:8.1f} µs "
              f"{median / base:6.2f} ×")  # fmt: skip


if __name__ == "__main__":
    main()
