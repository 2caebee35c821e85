"""Scale-out: two service processes on two ports over one database, driven together.

Each has its own worker and its own group-commit writer; the clients of tests/support/crash.py
send every request, retries and replays included, to the two in turn, so that one claim is
often settled through one service and posted again, or reversed, through the other. Nothing
may be lost, doubled or half-written, and the ledger must balance: the locks and the unique
index, not the services, keep the settlements of one person in order.
"""

from __future__ import annotations

import time
from pathlib import Path

from api.core.config import Settings
from tests.support.crash import (
    SOAK_SECONDS,
    SOAK_SEED,
    SOAK_THREADS,
    Load,
    RoundRobin,
    assert_sound,
    running_load,
    summary,
    verify,
)
from tests.support.server import start_server, stop_server
from tests.support.world import World


def test_two_services_over_one_database_driven_together_lose_and_double_nothing(
    database_url: str, world: World, settings: Settings, tmp_path: Path
) -> None:
    services = [
        start_server(database_url, workers=1, log_path=tmp_path / f"service-{n}.log")
        for n in (1, 2)
    ]
    try:
        load = Load(world, RoundRobin([s.base_url for s in services]), SOAK_THREADS, SOAK_SEED)
        with running_load(load):
            time.sleep(SOAK_SECONDS)
        verdict = verify(load, world, settings, services[0].base_url)
        load.write_logs(tmp_path)
    finally:
        for service in services:
            stop_server(service)
    print("\n" + summary("scale-out", load, 0, 0, verdict))
    attempts = load.attempts
    assert len(attempts) > 20, "the load hardly ran"
    # 503 + Retry-After is an answer a client retries (a lock wait that ran out); no other
    # refusal and no server error is.
    assert {attempt.outcome for attempt in attempts} <= {"200", "201", "503"}, sorted(
        {attempt.outcome for attempt in attempts}
    )
    assert_sound(verdict, tmp_path)
