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
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from api.core.config import Settings
from api.db.engine import make_engine
from api.main import create_app
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
from tests.support.world import World, make_world

TABLES = SQLModel.metadata.tables


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


# ---------------------------------------------------------------- one person, one hospital

WRITTEN_TABLES = (
    "hospital", "person", "person_status", "settlement", "settlement_fund", "fund_posting",
    "accumulator", "settlement_hour", "audit",
)  # fmt: skip


def _snapshot(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            name: {tuple(row) for row in connection.execute(select(TABLES[name]))}
            for name in WRITTEN_TABLES
        }


def _touched(
    before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]]
) -> tuple[set[str], set[str]]:
    """The persons and hospitals whose rows a request added, changed or removed. A row that
    carries neither is read through the settlement it belongs to; an audit record through the
    settlement, hospital or person its subject names."""
    settlements = {
        row["settlement_id"]: row
        for row in _rows(after["settlement"] | before["settlement"], "settlement")
    }
    persons: set[str] = set()
    hospitals: set[str] = set()
    for name in WRITTEN_TABLES:
        for values in _rows(before[name] ^ after[name], name):
            if "settlement_id" in values and name != "settlement":
                owner = settlements[values["settlement_id"]]
                persons.add(owner["person_id"])
                hospitals.add(owner["hospital_id"])
            if name == "audit":
                subject = values["subject"]
                for settlement_id, owner in settlements.items():
                    if settlement_id in subject:
                        persons.add(owner["person_id"])
                        hospitals.add(owner["hospital_id"])
                continue
            if "person_id" in values:
                persons.add(values["person_id"])
            if "hospital_id" in values:
                hospitals.add(values["hospital_id"])
    return persons, hospitals


def _rows(rows: set[tuple[Any, ...]], name: str) -> list[dict[str, Any]]:
    """Snapshot rows by column name."""
    columns = TABLES[name].columns.keys()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_every_writing_request_touches_the_rows_of_one_person_and_one_hospital_only(
    settings: Settings,
) -> None:
    """What makes distribution by person possible without cross-shard transactions
    (docs/scaling.md): with one commit a settlement, every write — a registry entry, a
    settlement, its replay, its reversal — changes the rows of at most one person and one
    hospital (its settlement's fund rows and postings, the person's accumulators, the
    hospital's hourly totals, the audit record naming them)."""
    one_by_one = settings.model_copy(update={"group_commit": False})
    engine = make_engine(one_by_one)
    with TestClient(create_app(one_by_one)) as client:
        world = make_world(client, one_by_one)
        admin = world.auth(world.keys.admin)
        claim = world.claim("e2", person="dibao")
        requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
            ("PUT", f"/v1/hospitals/{world.hospitals[3]}",
             {"name": "改名医院", "level": 3, "region": "220000"}, admin),
            ("POST", "/v1/settlements", claim, world.hospital_headers()),
            ("POST", "/v1/settlements", claim, world.hospital_headers()),  # a replay
            ("POST", "/v1/settlements", world.claim("e1", person="none"), world.hospital_headers()),
            ("POST", "/v1/settlements", world.claim("e2", level=2, person="dibao"),
             world.hospital_headers(2)),
            ("POST", "/v1/settlements/preview", world.claim("e2"), world.hospital_headers()),
        ]  # fmt: skip
        touched = []
        settled: list[str] = []
        for method, path, body, headers in requests:
            before = _snapshot(engine)
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code in (200, 201), response.text
            if path == "/v1/settlements":
                settled.append(response.json()["settlement_id"])
            touched.append((f"{method} {path}", *_touched(before, _snapshot(engine))))
        before = _snapshot(engine)
        response = client.post(
            f"/v1/settlements/{settled[0]}/reversal", json={"reason": "冲正"},
            headers=world.hospital_headers(),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        touched.append(("POST reversal", *_touched(before, _snapshot(engine))))
    engine.dispose()
    assert all(len(persons) <= 1 and len(hospitals) <= 1 for _, persons, hospitals in touched), (
        touched
    )
    # …and the check sees what it claims to: a settlement touches its person and hospital.
    assert touched[1][1:] == ({world.persons["dibao"]}, {world.hospitals[3]})
    assert touched[4][1:] == ({world.persons["dibao"]}, {world.hospitals[2]})
    assert touched[5][1:] == (set(), set())  # a preview writes nothing
