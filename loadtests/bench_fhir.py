"""`python -m loadtests.bench_fhir`: what one read of a large settlement's FHIR view costs, beside
its JSON view.

Seeds a temporary SQLite database with the demo data, settles worked example e2 and the same
claim grown to `--lines` lines (the claim's limit by default), then measures each view in a
fresh interpreter of its own: it reads the small settlement once (so that every module the view
needs is loaded and counted in the baseline), then the large one, and prints the seconds of that
read (the stored settlement read from the database and its answer written) and how much it
raised the process's peak resident set size (VmHWM). Each view runs `--runs` times; the median
is shown.

`--compare PATH` measures a second implementation of `api.services.fhir.claim_response_json`
from a file, e.g. the one before issue 19, and checks that it writes the same bytes:

    git show a76b9af:api/services/fhir.py > /tmp/fhir_before.py
    python -m loadtests.bench_fhir --compare /tmp/fhir_before.py

A benchmark, not a test: figures are printed for docs/performance.md, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from settlement.limits import CLAIM_LINES_MAX

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "e2" / "claim.json"
ACTOR_PREFIX = "bench"


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def grown_claim(lines: int, claim_id: str) -> dict[str, Any]:
    """Worked example e2 with its lines repeated up to `lines` lines, numbered 1…lines."""
    claim: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    items = claim["items"]
    claim["items"] = [{**items[n % len(items)], "line_no": n + 1} for n in range(lines)]
    claim["claim_id"] = claim_id
    return claim


def seed(database_url: str, lines: int) -> tuple[str, str]:
    """Migrate, seed the demo data, settle e2 and e2 grown to `lines` lines: their ids."""
    from api.core.access import Principal
    from api.core.config import Settings
    from api.core.contract import ClaimIn
    from api.db.engine import make_engine
    from api.db.migrate import upgrade
    from api.services.demo import seed_if_empty
    from api.services.settlements import settle_claim
    from tariffs import load_default

    upgrade(database_url)
    engine = make_engine(Settings(database_url=database_url))
    with tempfile.TemporaryDirectory() as keys_dir:
        seed_if_empty(engine, Path(keys_dir) / "keys")
    book = load_default().book
    actor = Principal("admin", None, ACTOR_PREFIX)
    ids = []
    for count, claim_id in ((8, "ZYBENCHSMALL"), (lines, "ZYBENCHLARGE")):
        claim = ClaimIn.model_validate_json(json.dumps(grown_claim(count, claim_id)))
        ids.append(settle_claim(engine, book, claim, actor).document["settlement_id"])
    engine.dispose()
    return ids[0], ids[1]


def view(name: str, module: str | None) -> Callable[[Engine, str], Iterable[bytes]]:
    """How the view answers a settlement: its answer's bytes, in the pieces it is sent in."""
    from api.routes.responses import json_response
    from api.services.fhir import claim_response_json
    from api.services.settlements import get_settlement

    if name == "json":
        return lambda engine, sid: [bytes(json_response(get_settlement(engine, sid).document).body)]
    render: Callable[[Engine, dict[str, Any]], Iterable[bytes] | bytes] = claim_response_json
    if module is not None:
        spec = importlib.util.spec_from_file_location("compared_fhir", module)
        assert spec is not None
        assert spec.loader is not None
        compared = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compared)
        render = compared.claim_response_json

    def answer(engine: Engine, settlement_id: str) -> Iterable[bytes]:
        body = render(engine, get_settlement(engine, settlement_id).document)
        return [body] if isinstance(body, bytes) else body

    return answer


def measure(args: argparse.Namespace) -> None:
    """In this fresh interpreter: one view's seconds and peak growth for the large settlement
    (its pieces hashed as they come, as a server sends them as they come)."""
    from api.core.config import Settings
    from api.db.engine import make_engine

    engine = make_engine(Settings(database_url=args.database))
    answer = view(args.measure, args.module)
    for _ in answer(engine, args.small):
        pass
    baseline = peak_rss_bytes()
    started = time.perf_counter()
    digest, size = hashlib.sha256(), 0
    for piece in answer(engine, args.large):
        digest.update(piece)
        size += len(piece)
    seconds = time.perf_counter() - started
    growth = peak_rss_bytes() - baseline
    print(
        json.dumps(
            {"seconds": seconds, "growth": growth, "bytes": size, "sha256": digest.hexdigest()}
        )
    )


def run_view(database_url: str, ids: tuple[str, str], name: str, module: str | None) -> Any:
    command = [sys.executable, "-m", "loadtests.bench_fhir", "--measure", name]
    command += ["--database", database_url, "--small", ids[0], "--large", ids[1]]
    if module is not None:
        command += ["--module", module]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=CLAIM_LINES_MAX)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", help="a file with another claim_response_json")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--small", help=argparse.SUPPRESS)
    parser.add_argument("--large", help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args)
        return
    views: list[tuple[str, str, str | None]] = [("JSON view", "json", None)]
    if args.compare:
        views.append((f"FHIR view, {args.compare}", "fhir", args.compare))
    views.append(("FHIR view, api/services/fhir.py", "fhir", None))
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite:///{directory}/bench.db"
        ids = seed(database_url, args.lines)
        print(f"one read of a {args.lines:,}-line settlement, median of {args.runs} runs")
        print(f"{'view':<48} {'seconds':>8} {'peak RSS growth':>16} {'answer':>10}")
        digests = {}
        for label, name, module in views:
            runs = [run_view(database_url, ids, name, module) for _ in range(args.runs)]
            seconds = statistics.median(run["seconds"] for run in runs)
            growth = statistics.median(run["growth"] for run in runs) / 2**20
            size = runs[0]["bytes"] / 2**20
            print(f"{label:<48} {seconds:>8.3f} {growth:>12.1f} MiB {size:>6.1f} MiB")
            digests[label] = runs[0]["sha256"]
    fhir = {label: digest for label, digest in digests.items() if label.startswith("FHIR")}
    if len(fhir) > 1:
        same = len(set(fhir.values())) == 1
        print("the FHIR views write the same bytes" if same else "THE FHIR VIEWS DIFFER")


if __name__ == "__main__":
    main()
