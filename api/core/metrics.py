"""Metrics for operators in Prometheus' text format (`GET /metrics`, docs/operations.md).

`prometheus_client` keeps them. With several worker processes (`onestop serve --workers N`)
each worker writes its figures to files under `PROMETHEUS_MULTIPROC_DIR`, which `serve` sets
before the workers start, and `GET /metrics`, whichever worker answers it, adds up every
worker's (the library's multiprocess mode). Only counters and histograms are kept: they add
up across processes, and a dead worker's counts stay counted.

Labels are bounded: a route is its path template (`/v1/settlements/{settlement_id}`, or
`unmatched`), an `infno` one the interface answers (else `unknown`, or `unreadable` when the
envelope could not be read), a refusal its problem kind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"

SECONDS_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

REQUESTS: Final = Counter(
    "onestop_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS: Final = Histogram(
    "onestop_request_seconds",
    "Time from a request's start to the end of its answer, by route template",
    ["route"],
    buckets=SECONDS_BUCKETS,
)
NHSA_MESSAGES: Final = Counter(
    "onestop_nhsa_messages",
    "Platform messages answered (POST /v1/nhsa), by infno and infcode (0 answered, -1 refused)",
    ["infno", "infcode"],
)
NHSA_SECONDS: Final = Histogram(
    "onestop_nhsa_seconds",
    "Time to answer a platform message, by infno",
    ["infno"],
    buckets=SECONDS_BUCKETS,
)
BATCH_SETTLEMENTS: Final = Histogram(
    "onestop_batch_settlements",
    "Claims a group-commit batch settled in one transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
BATCH_QUEUE_SECONDS: Final = Histogram(
    "onestop_batch_queue_seconds",
    "Time a claim waited for the group-commit batch it was settled in to begin",
    buckets=SECONDS_BUCKETS,
)
BATCH_WRITE_SECONDS: Final = Histogram(
    "onestop_batch_write_seconds",
    "Time a group-commit batch took, from its first lock to its commit on disk",
    buckets=SECONDS_BUCKETS,
)
LOCK_WAIT_SECONDS: Final = Histogram(
    "onestop_lock_wait_seconds",
    "Time waited for a write lock: sqlite_write (SQLite's write queue) or accumulators "
    "(the persons' accumulator rows a group-commit batch locks)",
    ["lock"],
    buckets=SECONDS_BUCKETS,
)
REFUSALS: Final = Counter(
    "onestop_refusals",
    "Answers other than success, by problem kind (validation, lock-unavailable, http-404, …)",
    ["kind"],
)
DATABASE_ERRORS: Final = Counter(
    "onestop_database_errors",
    "Database errors: unavailable (a lost connection, answered 503), error (a bug, 500), "
    "batch (a group-commit batch that failed to commit)",
    ["kind"],
)


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Every metric of this service (of every worker, in multiprocess mode), in the format
    the scraper's Accept header asks for (Prometheus' text format 0.0.4 by default, or
    OpenMetrics), and that format's content type."""
    encode, content_type = choose_encoder(accept or "")
    registry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return encode(registry), content_type


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """Counts every HTTP answer and times it, by the route that answered (outermost, so that
    the answers of the other middlewares, 413 and 500, are counted too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(template, scope["method"], str(status)).inc()
            REQUEST_SECONDS.labels(template).observe(time.perf_counter() - started)
