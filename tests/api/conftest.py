"""API test fixtures: the whole suite runs against SQLite and, when ONESTOP_TEST_PG_URL is set,
against PostgreSQL. Each backend gets a database of its own, created and migrated for the test
session and dropped after it."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.keys import create_key
from api.db.migrate import upgrade
from api.main import create_app

PG_ENV = "ONESTOP_TEST_PG_URL"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated database of each backend, dropped after the session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "onestop.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    admin_url = _pg_admin_url()
    if admin_url is None:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL pass is skipped")
    name = f"onestop_test_{secrets.token_hex(4)}"
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, key_cache_seconds=0, lock_wait_ms=5_000)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass
class Keys:
    admin: str
    finance: str
    hospital: dict[str, str]


@dataclass
class World:
    """One test's own hospitals, persons and keys (ids are unique per test)."""

    tag: str
    keys: Keys
    hospitals: dict[int, str]  # level → hospital_id
    persons: dict[str, str]  # 'none' | group → person_id
    client: TestClient

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def hospital_headers(self, level: int = 3) -> dict[str, str]:
        return self.auth(self.keys.hospital[self.hospitals[level]])

    def claim(
        self, example: str = "e2", *, level: int = 3, person: str = "dibao", **changes: Any
    ) -> dict[str, Any]:
        """A worked-example claim for this world's hospital and person."""
        import json

        body: dict[str, Any] = json.loads(
            (EXAMPLES / example / "claim.json").read_text(encoding="utf-8")
        )
        body["hospital_id"] = self.hospitals[level]
        body["person_id"] = self.persons[person]
        body["claim_id"] = f"ZY{self.tag}{secrets.token_hex(3)}"
        body.update(changes)
        return body


def _id_number(body: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def make_world(client: TestClient, settings: Settings) -> World:
    tag = secrets.token_hex(3).upper()
    engine = make_engine(settings)
    with write_session(engine) as session:
        admin, _ = create_key(session, "admin", None, "test")
        finance, _ = create_key(session, "finance", None, "test")
        session.commit()
    engine.dispose()
    headers = {"Authorization": f"Bearer {admin}"}
    hospitals = {}
    for level in (1, 2, 3):
        hospital_id = f"H{tag}{level}"
        response = client.put(
            f"/v1/hospitals/{hospital_id}",
            json={"name": f"测试医院{level}", "level": level, "region": "220000"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        hospitals[level] = hospital_id
    persons = {}
    for index, group in enumerate(("none", "destitute", "dibao", "registered_poor")):
        person_id = f"P{tag}{index}"
        statuses = (
            []
            if group == "none"
            else [{"group": group, "valid_from": "2017-01-01", "valid_to": None}]
        )
        response = client.put(
            f"/v1/persons/{person_id}",
            json={
                "name": f"测试{index}",
                "id_number": _id_number(f"2201021960050{index}123"),
                "birth_date": "1960-05-01",
                "gender": "female",
                "insured_region": "220000",
                "statuses": statuses,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        persons[group] = person_id
    engine = make_engine(settings)
    hospital_keys = {}
    with write_session(engine) as session:
        for hospital_id in hospitals.values():
            hospital_keys[hospital_id], _ = create_key(session, "hospital", hospital_id, "test")
        session.commit()
    engine.dispose()
    return World(tag, Keys(admin, finance, hospital_keys), hospitals, persons, client)


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    return make_world(client, settings)


def row_counts(settings: Settings) -> dict[str, int]:
    """Rows in every table, to show a refused request wrote nothing."""
    engine = make_engine(settings)
    tables = (
        "settlement",
        "settlement_line",
        "settlement_fund",
        "fund_posting",
        "accumulator",
        "audit",
        "hospital",
        "person",
        "person_status",
        "api_key",
    )
    with engine.connect() as connection:
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in tables
        }
    engine.dispose()
    return counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]


def start_server(
    database_url: str, workers: int = 2, extra_env: dict[str, str] | None = None
) -> Server:
    """`onestop serve` in a subprocess on 127.0.0.1, waiting until /healthz answers."""
    port = free_port()
    env = {
        **os.environ,
        "ONESTOP_DATABASE_URL": database_url,
        "ONESTOP_KEY_CACHE_SECONDS": "0",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return Server(base_url, process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become healthy in 30 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
