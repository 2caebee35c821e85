"""The clock that stamps settlements, reversals and sessions, injected so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC: the time settlements and reversals are stamped and posted with."""
    return datetime.now(UTC)
