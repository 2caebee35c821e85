"""`GET /metrics` (issue 20 §6): Prometheus' text format for an admin key, counting what
operators ask about (requests by route, platform messages by infno, group-commit batches,
write-lock waits, refusals by kind), and adding up every worker's figures when several serve.

Counters are global to the process the tests run in, so each test reads them before and after
what it does and checks the difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.routes.test_nhsa import his_of
from tests.support.nhsa import envelope
from tests.support.server import Server, start_server, stop_server
from tests.support.world import World

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: TestClient | httpx.Client, world: World) -> Samples:
    response = client.get("/metrics", headers=world.auth(world.keys.admin))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_only_an_admin_key_reads_the_metrics(world: World) -> None:
    client = world.client
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=world.hospital_headers()).status_code == 403
    assert client.get("/metrics", headers=world.auth(world.keys.finance)).status_code == 403
    scrape(client, world)


def test_a_settlement_counts_its_route_its_batch_and_its_write_lock(
    world: World, database_url: str
) -> None:
    before = scrape(world.client, world)
    response = world.client.post(
        "/v1/settlements", json=world.claim("e2"), headers=world.hospital_headers()
    )
    assert response.status_code == 201, response.text
    refused = world.client.post(
        "/v1/settlements", json={"claim_id": ""}, headers=world.hospital_headers()
    )
    assert refused.status_code == 422
    missing = world.client.get("/v1/settlements/S-NONE", headers=world.hospital_headers())
    assert missing.status_code == 404
    after = scrape(world.client, world)
    route = {"route": "/v1/settlements", "method": "POST"}
    assert grew(before, after, "onestop_requests_total", **route, status="201") == 1
    assert grew(before, after, "onestop_requests_total", **route, status="422") == 1
    assert (
        grew(
            before,
            after,
            "onestop_requests_total",
            route="/v1/settlements/{settlement_id}",
            method="GET",
            status="404",
        )
        == 1
    )
    assert grew(before, after, "onestop_request_seconds_count", route="/v1/settlements") == 2
    assert grew(before, after, "onestop_batch_settlements_count") == 1
    assert grew(before, after, "onestop_batch_settlements_sum") == 1
    assert grew(before, after, "onestop_batch_queue_seconds_count") == 1
    assert grew(before, after, "onestop_batch_write_seconds_count") == 1
    assert grew(before, after, "onestop_refusals_total", kind="invalid-request") == 1
    assert grew(before, after, "onestop_refusals_total", kind="not-found") == 1
    assert grew(before, after, "onestop_lock_wait_seconds_count", lock="accumulators") == 1
    if database_url.startswith("sqlite"):
        assert grew(before, after, "onestop_lock_wait_seconds_count", lock="sqlite_write") >= 1


def test_platform_messages_are_counted_by_infno_and_infcode(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    before = scrape(world.client, world)
    mdtrt_id = his.admit(claim)
    his.post(envelope(his.hospital_id, "9999", {}))
    his.post(b"{not json")
    line = his.fee_lines(claim, mdtrt_id)[0]
    his.post(envelope(his.hospital_id, "2301", {"feedetail": [{**line, "pric": Decimal("-1")}]}))
    after = scrape(world.client, world)
    assert grew(before, after, "onestop_nhsa_messages_total", infno="2401", infcode="0") == 1
    assert grew(before, after, "onestop_nhsa_messages_total", infno="2301", infcode="-1") == 1
    assert grew(before, after, "onestop_nhsa_messages_total", infno="unknown", infcode="-1") == 1
    assert grew(before, after, "onestop_nhsa_messages_total", infno="unreadable", infcode="-1") == 1
    assert grew(before, after, "onestop_nhsa_seconds_count", infno="2401") == 1
    assert (
        grew(before, after, "onestop_requests_total", route="/v1/nhsa", method="POST", status="200")
        == 4
    )


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "metrics"
    directory.mkdir()
    return directory


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path, metrics_dir: Path) -> Iterator[Server]:
    started = start_server(
        database_url,
        workers=2,
        log_path=tmp_path / "server.log",
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
    )
    try:
        yield started
    finally:
        stop_server(started)


def test_with_two_workers_the_metrics_add_up_both(
    world: World, two_workers: Server, metrics_dir: Path
) -> None:
    """160 requests, 16 at a time over fresh connections, reach both workers (each keeps its
    figures in files of its own); whichever worker answers the scrape counts all 160."""
    with httpx.Client(base_url=two_workers.base_url, timeout=30) as client:
        before = scrape(client, world)

    def ask(_: int) -> int:
        with httpx.Client(base_url=two_workers.base_url, timeout=30) as client:
            return client.get("/healthz").status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(ask, range(160))) == {200}
    with httpx.Client(base_url=two_workers.base_url, timeout=30) as client:
        after = scrape(client, world)
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert grew(before, after, "onestop_requests_total", **healthz) == 160
    workers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert len(workers) == 2, workers
