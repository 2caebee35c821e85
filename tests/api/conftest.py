"""API test fixtures: the whole suite runs against SQLite and, when ONESTOP_TEST_PG_URL is set,
against PostgreSQL. Each backend gets a database of its own, created and migrated for the test
session and dropped after it.

Only fixtures live here; the helpers the tests share (a test's own `World`, row counts, a real
server in a subprocess, the crash-safety and ledger harnesses) are in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.core.config import Settings
from api.db.engine import make_engine
from api.main import create_app
from tests.support.db import migrated_database
from tests.support.world import World, make_world

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated database of each backend, dropped after the session."""
    sqlite_path = tmp_path_factory.mktemp("sqlite") / "onestop.db"
    with migrated_database(request.param, sqlite_path, "onestop_test") as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, key_cache_seconds=0, lock_wait_ms=5_000)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    return make_world(client, settings)


@pytest.fixture
def own_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the session's backend for one test alone: for the tests that
    migrate down, which must not depend on what the rest of the suite settled (revision 0006
    refuses to go down over cross-region settlements, findings or health-fund payments)."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with migrated_database(backend, tmp_path / "own.db", "onestop_own") as url:
        yield url


@pytest.fixture
def own_settings(own_database_url: str) -> Settings:
    return Settings(database_url=own_database_url, key_cache_seconds=0, lock_wait_ms=5_000)


@pytest.fixture
def own_world(own_settings: Settings) -> Iterator[World]:
    """A `World` on a service over `own_database_url`."""
    with TestClient(create_app(own_settings)) as test_client:
        yield make_world(test_client, own_settings)


@pytest.fixture
def own_engine(own_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(own_settings)
    yield engine
    engine.dispose()
