"""SQLite's write lock, taken in arrival order by the threads of one process.

SQLite has one write lock per database. A writer that finds it taken sleeps in SQLite's busy
handler (1, 2, 5, 10 … 100 ms) and tries again; a writer that comes along just as the lock is
freed takes it at once. Under load the group-commit writer, which begins again right after
each commit, won nearly every race, and request threads waited up to seconds for a lock that
was free more than half of the time (docs/performance.md, "The SQLite write queue").

`WriteQueue` puts the threads of this process in line in front of the lock: `BEGIN IMMEDIATE`
is issued only by the thread at the head of the queue, which holds its place until its
transaction ends (commit, rollback or close), then hands it straight to the next in line. A
thread that has waited `lock_wait_ms` leaves the line and gets SQLite's own "database is
locked", which the service refuses as it always has (503, `Retry-After`). Other processes on
the same file (a second worker, the command line) still meet at SQLite's busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from api.core.metrics import LOCK_WAIT_SECONDS

LOCKED = "database is locked (waited for the write queue)"


class WriteQueue:
    """A first-come, first-served lock with a timeout, handed from holder to next waiter."""

    __slots__ = ("_guard", "_held", "_waiters")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout_s: float) -> bool:
        """Wait in line up to `timeout_s`; True once this thread holds the lock."""
        with self._guard:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout_s):
            return True
        with self._guard:
            if turn.is_set():  # handed over between the timeout and this line
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        """Hand the lock to the first in line, or free it."""
        with self._guard:
            assert self._held, "the write queue was released by a thread that did not hold it"
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        with self._guard:
            return len(self._waiters)


class QueuedConnection(sqlite3.Connection):
    """A DB-API connection that leaves the write queue when its transaction ends."""

    write_queue: WriteQueue | None = None
    holds_queue: bool = False

    def enter_write_queue(self, timeout_s: float) -> None:
        """Take this connection's place at the head of the queue, or raise "locked"."""
        queue = self.write_queue
        if queue is None or self.holds_queue:
            return
        started = time.monotonic()
        if not queue.acquire(timeout_s):
            raise sqlite3.OperationalError(LOCKED)
        self.holds_queue = True
        LOCK_WAIT_SECONDS.labels("sqlite_write").observe(time.monotonic() - started)

    def leave_write_queue(self) -> None:
        if self.holds_queue and self.write_queue is not None:
            self.holds_queue = False
            self.write_queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.leave_write_queue()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_write_queue()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_write_queue()


_QUEUES: dict[str, WriteQueue] = {}
_QUEUES_GUARD = threading.Lock()


def queue_for(database: str | None, **_: Any) -> WriteQueue:
    """The queue of one database file, shared by every engine of this process on it; an
    in-memory database (one per connection) gets a queue of its own."""
    if not database or database == ":memory:":
        return WriteQueue()
    key = str(Path(database).resolve())
    with _QUEUES_GUARD:
        queue = _QUEUES.get(key)
        if queue is None:
            queue = _QUEUES[key] = WriteQueue()
        return queue
