"""Database engines and transactions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on; write transactions open with `BEGIN IMMEDIATE`
so that two settlements for one person can never interleave (the second waits up to the
busy timeout, then gets a clean 503). The threads of one process take that lock in arrival
order, through `write_queue.WriteQueue`. PostgreSQL write transactions lock the person's
accumulators row with `SELECT … FOR UPDATE` under the connection's `lock_timeout`.
"""

from __future__ import annotations

import select
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlmodel import Session

from api.core.config import Settings
from api.core.problems import commit_in_doubt, unavailable
from api.db.write_queue import QueuedConnection, queue_for


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=settings.database_pre_ping,
        # A commit returns once it is flushed to disk, whatever the server's default says; a
        # wait for a row lock (a person's accumulators) ends after lock_wait_ms, then 503. Set
        # once a connection, not once a transaction: a round trip fewer for every write.
        connect_args={
            "options": f"-c synchronous_commit=on -c lock_timeout={int(settings.lock_wait_ms)}ms"
        },
    )
    if not settings.database_pre_ping:
        event.listen(engine, "checkout", _closed_by_the_server)
    return engine


def _closed_by_the_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection the server has closed, without a round trip.

    An idle connection has nothing to read. When the server shuts down (or its process
    dies) it closes the socket, after a last "terminating connection" message: the socket is
    then readable (the message, or end of file). One `select` with no wait finds that; the pool,
    told `DisconnectionError`, throws the connection away and takes another (up to three
    tries, then a new connection). Replaces a `SELECT 1` round trip on every checkout
    (`database_pre_ping`)."""
    readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    if readable:
        raise exc.DisconnectionError("the server closed this pooled connection")


def _sqlite_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "factory": QueuedConnection}
    )
    busy_ms = settings.lock_wait_ms
    synchronous = settings.sqlite_synchronous
    queue = queue_for(url.database) if settings.sqlite_write_queue else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.write_queue = queue
        # Take transaction control from the driver so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode != "IMMEDIATE":
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        dbapi_connection = connection.connection.dbapi_connection
        try:
            dbapi_connection.enter_write_queue(busy_ms / 1000)
        except sqlite3.OperationalError as locked:
            raise exc.OperationalError("BEGIN IMMEDIATE", None, locked) from locked
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_connection.leave_write_queue()
            raise

    return engine


def writer(engine: Engine) -> Engine:
    """The engine to open write transactions on: BEGIN IMMEDIATE on SQLite (made once)."""
    if not is_sqlite(engine):
        return engine
    cached = _WRITERS.get(engine)
    if cached is None:
        cached = engine.execution_options(sqlite_begin="IMMEDIATE")
        _WRITERS[engine] = cached
    return cached


_WRITERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed by the caller, rolled back otherwise."""
    with writer(engine).connect() as connection:
        connection.begin()
        yield connection


def commit(connection: Connection) -> None:
    """Commit the connection's transaction. A connection lost during the commit leaves its
    outcome unknown (the server may have committed before the answer was lost): that is
    raised as `commit_in_doubt` (500), never as "nothing was committed" (503), so that the
    client sends the same request again and a replay answers what landed."""
    try:
        connection.commit()
    except exc.DBAPIError as error:
        if unavailable(error):
            raise commit_in_doubt() from error
        raise


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads. On PostgreSQL it runs each statement in its own transaction
    (autocommit): at READ COMMITTED a statement sees its own snapshot either way, and no
    `BEGIN` is sent before the first statement nor `ROLLBACK` when the pool takes the
    connection back (two round trips fewer a request)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction may write: BEGIN IMMEDIATE on SQLite."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with Session(bind, expire_on_commit=False) as session:
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
