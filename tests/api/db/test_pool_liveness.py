"""A pooled PostgreSQL connection the server has closed is replaced without a round trip
(api/db/engine.py, issue 20 §5).

The pool used to ping every connection it handed out (`SELECT 1`, a round trip per request).
Now it looks at the socket instead: a connection whose server process has gone (a restart, a
crash, `pg_terminate_backend`) has a readable socket, and is thrown away for a fresh one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from api.core.config import Settings
from api.db.engine import _closed_by_the_server, make_engine
from tests.support.db import PG_ENV, fresh_postgres_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL pass is skipped")
    with fresh_postgres_database(server, "onestop_pool") as url:
        yield url


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(database_url: str, pid: int) -> None:
    admin = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    time.sleep(0.2)  # the server closes the socket once the backend has gone


def statements(engine: Engine) -> list[str]:
    """Every statement the engine sends from now on (pings included), in order."""
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", keep)
    return sent


def test_a_connection_whose_server_process_ended_is_replaced_without_an_error(
    pg_url: str,
) -> None:
    engine = make_engine(Settings(database_url=pg_url, pool_size=1))
    first = backend_pid(engine)
    terminate(pg_url, first)
    second = backend_pid(engine)  # no error: the dead connection was never used
    assert second != first
    assert backend_pid(engine) == second, "a live connection is kept"
    engine.dispose()


def test_a_live_connection_is_handed_out_without_a_ping(pg_url: str) -> None:
    engine = make_engine(Settings(database_url=pg_url, pool_size=1))
    backend_pid(engine)
    sent = statements(engine)
    with engine.connect() as connection:
        connection.execute(text("SELECT 2"))
    assert sent == ["SELECT 2"]
    engine.dispose()


def test_without_the_check_the_dead_connection_fails_the_request(pg_url: str) -> None:
    """What the check saves: a pool that neither pings nor looks hands out the dead one."""
    engine = make_engine(Settings(database_url=pg_url, pool_size=1))
    event.remove(engine, "checkout", _closed_by_the_server)
    terminate(pg_url, backend_pid(engine))
    with pytest.raises(exc.OperationalError):
        backend_pid(engine)
    engine.dispose()
