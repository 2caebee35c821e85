"""The settle-only figure of `make loadtest`: wrk with a Lua script posting a new claim each
request, against the service and against the bare app (`loadtests.bare`) in the same run.

wrk is a C load generator: at these rates it costs a few percent of one core, so on a 2-core
machine the figure is the service's, not the driver's (locust in Python tops out near the
rates it measures). The claims are generated in Python beforehand (reproducible by seed) and
written one a line with a placeholder claim id that the script replaces per request.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from loadtests.claims import claim_body

SCRIPT = Path(__file__).with_name("settle.lua")
CLAIMS_PREPARED = 2_000
PLACEHOLDER = "__CLAIM_ID__"
_SUMMARY = re.compile(
    r"ONESTOP requests=(\d+) seconds=([\d.]+) errors=(\d+) p50_ms=([\d.]+) p99_ms=([\d.]+) "
    r"socket_errors=(\d+)"
)


@dataclass(frozen=True, slots=True)
class Figures:
    """What one wrk run measured."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    socket_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make loadtest installs it)")
    return found


def write_claims(
    path: Path, keys: dict[str, str], persons: int, lines: int | None, seed: int
) -> None:
    """CLAIMS_PREPARED claims at random hospitals, each of a person the generator draws for
    the hospital (the load test's mix), each line `key<TAB>json`."""
    rng = random.Random(seed)
    hospitals = sorted(keys)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(CLAIMS_PREPARED):
            hospital = hospitals[rng.randrange(len(hospitals))]
            body = claim_body(
                rng, claim_id=PLACEHOLDER, hospital_id=hospital, persons=persons, lines=lines
            )
            handle.write(f"{keys[hospital]}\t{orjson.dumps(body).decode()}\n")


def drive(
    base_url: str, claims: Path, *, connections: int, seconds: int, run: str, threads: int = 2
) -> Figures:
    """wrk against `base_url` for `seconds` with `connections` open connections."""
    command = [
        wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
        "--latency", "-s", str(SCRIPT), base_url,
    ]  # fmt: skip
    env = {**os.environ, "ONESTOP_WRK_BODIES": str(claims), "ONESTOP_WRK_RUN": run}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    match = _SUMMARY.search(output)
    if match is None:
        raise SystemExit(f"wrk printed no summary:\n{output}")
    requests, elapsed, errors, p50, p99, socket_errors = match.groups()
    return Figures(
        int(requests), float(elapsed), int(errors), float(p50), float(p99), int(socket_errors)
    )
