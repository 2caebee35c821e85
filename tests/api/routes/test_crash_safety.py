"""Crash safety: the service killed with SIGKILL, and PostgreSQL restarted, under load.

`onestop serve` (two worker processes) runs in a process group of its own, so that the whole
group — the uvicorn supervisor and its workers — can be killed with SIGKILL at once. Client
threads settle, replay, reverse and settle anew throughout (tests/support/crash.py: the clients,
their retries of every unanswered request, and the checks). At seeded random moments the group
is killed and the service is started again on the same database, on a new port that the
clients follow. Afterwards no acknowledged settlement may be lost, none doubled, nothing
half-written, and the ledger must balance.

The PostgreSQL test restarts the database server under the same load (a fast shutdown, then
an immediate one, which PostgreSQL recovers from like a crash) and never restarts the
service: while the database is down only 5xx answers and connection errors are allowed, and
the service must recover by itself (its pool throws away the connections the server closed).

The size of the run comes from the environment, so that `make soak` can run it long:
ONESTOP_SOAK_SECONDS (load time), ONESTOP_SOAK_KILLS, ONESTOP_SOAK_DB_RESTARTS,
ONESTOP_SOAK_THREADS and ONESTOP_SOAK_SEED. With `pytest -s` each test prints a summary line,
`tried: N requests, K crashes, R restarts; lost: 0`; every request and every 201/200 answer
is written to the test's temporary directory (requests.jsonl, answers.jsonl), next to the
service's logs.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from api.core.config import Settings
from tests.support.crash import (
    SOAK_DB_RESTARTS,
    SOAK_KILLS,
    SOAK_SEED,
    SOAK_THREADS,
    Endpoint,
    Load,
    Outage,
    answers_during_outages,
    assert_sound,
    ensure_cluster_running,
    gaps,
    local_cluster,
    refuse_connections_opened_before_the_restart,
    restart_database,
    running_load,
    start_service,
    summary,
    verify,
)
from tests.support.server import kill_server, stop_server
from tests.support.world import World

# ---------------------------------------------------------------- SIGKILL of the service


def test_settlements_survive_the_service_killed_at_random_moments_and_none_is_doubled(
    database_url: str, world: World, settings: Settings, tmp_path: Path
) -> None:
    backend = make_url(database_url).get_backend_name()
    rng = random.Random(SOAK_SEED)
    service = start_service(database_url, tmp_path, 0)
    endpoint = Endpoint(service.base_url)
    load = Load(world, endpoint, SOAK_THREADS, SOAK_SEED)
    crashes = restarts = 0
    probes = []
    try:
        pauses = gaps(rng, SOAK_KILLS)
        with running_load(load):
            for pause in pauses[:-1]:
                time.sleep(pause)
                kill_server(service)
                crashes += 1
                time.sleep(rng.uniform(0.0, 0.5))
                service = start_service(database_url, tmp_path, crashes)
                restarts += 1
                endpoint.move(service.base_url)
                probes.append(load.probe())
            time.sleep(pauses[-1])
        verdict = verify(load, world, settings, service.base_url)
    finally:
        load.write_logs(tmp_path)
        stop_server(service)
    print("\n" + summary(f"crash-safety {backend}", load, crashes, restarts, verdict))

    attempts = load.attempts
    server_errors = [a for a in attempts if a.status is not None and a.status >= 500]
    assert all(attempt.status == 503 for attempt in server_errors), (
        "a service that is killed answers nothing; it must never answer a server error: "
        f"{[a for a in server_errors if a.status != 503][:10]}"
    )
    assert_sound(verdict, tmp_path)
    assert probes == ["201"] * restarts, "a new claim did not settle at once after a restart"
    if SOAK_KILLS:
        assert any(attempt.status is None for attempt in attempts), "no kill hit a request"


# ---------------------------------------------------------------- PostgreSQL restarts


@pytest.mark.serial  # it stops the PostgreSQL server every other test's database is on
def test_the_service_rides_out_postgresql_restarts_without_a_wrong_answer_or_a_restart(
    database_url: str, world: World, settings: Settings, tmp_path: Path
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("restarts the PostgreSQL server; SQLite has none")
    cluster = local_cluster(database_url)
    if cluster is None or os.geteuid() != 0:
        pytest.skip("needs a local Debian PostgreSQL cluster (pg_ctlcluster) and root")
    rng = random.Random(SOAK_SEED)
    service = start_service(database_url, tmp_path, 0)
    endpoint = Endpoint(service.base_url)
    load = Load(world, endpoint, SOAK_THREADS, SOAK_SEED)
    outages: list[Outage] = []
    probes = []
    try:
        pauses = gaps(rng, SOAK_DB_RESTARTS)
        with running_load(load):
            for restart, pause in enumerate(pauses[:-1]):
                time.sleep(pause)
                mode = ("fast", "immediate")[restart % 2]
                outages.append(restart_database(cluster, mode, rng, load, service))
                probes.append(load.probe())
            time.sleep(pauses[-1])
        assert service.process.poll() is None, "the service stopped"
        verdict = verify(load, world, settings, service.base_url)
    finally:
        load.write_logs(tmp_path)
        stop_server(service)
        ensure_cluster_running(cluster, database_url)
        refuse_connections_opened_before_the_restart()
    crashes = sum(outage.mode == "immediate" for outage in outages)
    attempts = load.attempts
    down, wrong = answers_during_outages(attempts, outages)
    print("\n" + summary("database-restarts postgresql", load, crashes, len(outages), verdict))
    print(f"  {down} requests were answered (5xx) or failed while the database was down")
    for outage in outages:
        print(
            f"  {outage.mode} restart: down {outage.starting - outage.stopped:.1f} s, service "
            f"healthy {outage.recovered - outage.started:.2f} s after the database was up"
        )

    assert not wrong, "\n".join(wrong[:30])
    assert probes == ["201"] * len(outages), (
        "a new claim did not settle at once after the service answered /healthz again"
    )
    if outages:
        assert down > 0, "no request was made while the database was down"
    assert_sound(verdict, tmp_path)
