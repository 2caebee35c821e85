"""SQLite's write lock taken in arrival order (api/db/write_queue.py, issue 20 §1).

Before the queue, a writer that found the lock taken slept in SQLite's busy handler and a
newcomer could take the lock the moment it was freed: eight writers lined up behind one
transaction were granted the lock in no particular order, and one could wait for many
others. Each test lines writers up one at a time (the next starts only once the one before is
seen waiting), so the order they arrived in is known, and reads the order they wrote in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from api.core.config import Settings
from api.core.problems import LockUnavailable
from api.db import store
from api.db.engine import make_engine, write_connection
from api.db.write_queue import WriteQueue, queue_for

WRITERS = 8


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.001)


def test_waiters_are_granted_the_lock_in_the_order_they_came() -> None:
    queue = WriteQueue()
    assert queue.acquire(0)
    granted: list[int] = []

    def writer(number: int) -> None:
        assert queue.acquire(10)
        granted.append(number)
        queue.release()

    threads = []
    for number in range(WRITERS):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        threads.append(thread)
        wait_until(lambda: queue.waiting == len(threads))
    queue.release()
    for thread in threads:
        thread.join()
    assert granted == list(range(WRITERS))
    assert queue.acquire(0), "the last writer left the lock free"


def test_a_waiter_that_runs_out_of_time_leaves_the_line_and_the_lock_works_on() -> None:
    queue = WriteQueue()
    assert queue.acquire(0)
    assert not queue.acquire(0.02)
    assert queue.waiting == 0
    queue.release()
    assert queue.acquire(0)
    queue.release()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'queue.db'}", lock_wait_ms=10_000)
    made = make_engine(settings)
    with made.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE written (number INTEGER NOT NULL)")
    yield made
    made.dispose()


def test_write_transactions_take_sqlites_lock_in_the_order_they_asked(
    engine: Engine, tmp_path: Path
) -> None:
    queue = queue_for(str(tmp_path / "queue.db"))
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            with write_connection(engine) as connection:
                connection.execute(text("INSERT INTO written VALUES (:n)"), {"n": number})
                connection.commit()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = []
    with write_connection(engine) as holder:
        for number in range(WRITERS):
            thread = threading.Thread(target=writer, args=(number,))
            thread.start()
            threads.append(thread)
            wait_until(lambda: queue.waiting == len(threads))
        holder.commit()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        order = connection.execute(text("SELECT number FROM written ORDER BY rowid")).scalars()
        assert list(order) == list(range(WRITERS))
    assert queue.waiting == 0


def test_a_writer_that_waits_too_long_is_refused_as_locked_and_writes_nothing(
    tmp_path: Path, engine: Engine
) -> None:
    impatient = make_engine(
        Settings(database_url=f"sqlite:///{tmp_path / 'queue.db'}", lock_wait_ms=50)
    )
    refused: list[BaseException] = []

    def writer() -> None:
        try:
            with store.lock_waits_mapped(), write_connection(impatient) as connection:
                connection.execute(text("INSERT INTO written VALUES (1)"))
                connection.commit()
        except LockUnavailable as error:
            refused.append(error)

    with write_connection(engine) as holder:
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        holder.commit()
    assert len(refused) == 1
    assert "database is locked" in str(refused[0])
    with write_connection(impatient) as connection:  # the queue is free again
        connection.execute(text("INSERT INTO written VALUES (2)"))
        connection.commit()
    with engine.connect() as connection:
        assert list(connection.execute(text("SELECT number FROM written")).scalars()) == [2]
    impatient.dispose()


def test_a_transaction_that_fails_leaves_the_queue_to_the_next(engine: Engine) -> None:
    def half_way() -> None:
        with write_connection(engine) as connection:
            connection.execute(text("INSERT INTO written VALUES (1)"))
            raise RuntimeError("a bug half-way through a transaction")

    with pytest.raises(RuntimeError):
        half_way()
    with write_connection(engine) as connection:
        connection.execute(text("INSERT INTO written VALUES (2)"))
        connection.commit()
    with engine.connect() as connection:
        assert list(connection.execute(text("SELECT number FROM written")).scalars()) == [2]


def test_reads_never_wait_in_the_queue(engine: Engine) -> None:
    with write_connection(engine) as holder:
        holder.execute(text("INSERT INTO written VALUES (1)"))
        with engine.connect() as reader:  # WAL: readers see the last commit, unblocked
            assert list(reader.execute(text("SELECT number FROM written")).scalars()) == []
        holder.commit()
