"""Requests generated from the served OpenAPI document (schemathesis): no operation answers a
5xx, and every answer conforms to the response its operation documents.

The schema is loaded from the running application (`/openapi.json`, in process), so what is
tested is what clients are served. Requests carry a valid admin key, so that they reach the
handlers rather than stopping at 401; the database is seeded with the demo registries, whose
ids the documented examples use, so that the examples settle and their bills are checked
against the documented shape too.

SQLite only: the generated requests test the HTTP edge (request validation, problem+json
answers, the response shapes), which is the same code on either database, and the run is
long enough on one. What PostgreSQL alone refuses (a NUL in a text value) is covered on both
databases by tests/api/routes/test_hostile_input.py.

`ONESTOP_SOAK_EXAMPLES` raises the number of examples per operation for a long run (`make
soak`); the default keeps `make test` quick. The run is derandomized: the same examples each
time, until the schema or the test changes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.core.config import Settings
from api.db.engine import make_engine
from api.db.migrate import upgrade
from api.main import create_app
from api.services.demo import seed_if_empty

EXAMPLES_PER_OPERATION = int(os.environ.get("ONESTOP_SOAK_EXAMPLES", "25"))
DATABASE_PATH = Path(tempfile.gettempdir()) / f"onestop-schemathesis-{os.getpid()}.db"
"""Named at import, created by the `admin_key` fixture: schemathesis loads the schema (and so
starts the application, which connects lazily) when this module is collected."""
SETTINGS = Settings(database_url=f"sqlite:///{DATABASE_PATH}", key_cache_seconds=0)
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _remove_database() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE_PATH}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the demo hospitals, persons and keys; the admin key."""
    _remove_database()
    upgrade(SETTINGS.database_url)
    engine = make_engine(SETTINGS)
    keys_file = tmp_path_factory.mktemp("schemathesis") / "keys.env"
    assert seed_if_empty(engine, keys_file)
    engine.dispose()
    keys = dict(line.split("=", 1) for line in keys_file.read_text().split() if "=" in line)
    yield keys["ONESTOP_ADMIN_KEY"]
    _remove_database()


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_operation_answers_a_5xx_or_a_response_outside_its_schema(
    case: schemathesis.Case[Any], admin_key: str
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_key}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
