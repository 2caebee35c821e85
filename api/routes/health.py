"""Liveness: the service answers and its database does.

Anyone may ask, and learns only that: `{"status": "ok"}` (200) or `{"status": "unavailable"}`
(503). An admin key also learns the database's kind and the tariff versions loaded (or, when
the database does not answer, the kind of error). No other key is refused: a probe that sends
a wrong key still learns whether the service is up, and nothing more.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from api.core import metrics
from api.core.access import require_roles
from api.core.deps import Caller, CurrentPrincipal, State

router = APIRouter()

DESCRIPTION = (
    'Answers `{"status": "ok"}` while the service and its database answer, else 503 '
    '`{"status": "unavailable"}`. With an admin key the answer also names the database kind '
    "and the tariff versions loaded."
)


@router.get(
    "/healthz",
    tags=["operations"],
    summary="Liveness and database check",
    description=DESCRIPTION,
)
def healthz(state: State, caller: Caller) -> JSONResponse:
    # A plain def: FastAPI runs it on the thread pool, so the database check never blocks the
    # event loop (the key, if any, was looked up the same way by `get_caller`).
    details = caller is not None and caller.role == "admin"
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        down: dict[str, Any] = {"status": "unavailable"}
        if details:
            down |= {"database": state.engine.dialect.name, "error": type(error).__name__}
        return JSONResponse(down, 503)
    up: dict[str, Any] = {"status": "ok"}
    if details:
        up |= {
            "database": state.engine.dialect.name,
            "tariffs": [tariff.version for tariff in state.tariffs.tariffs],
        }
    return JSONResponse(up)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request, principal: CurrentPrincipal) -> Response:
    """Prometheus' text format, for an admin key only (docs/operations.md, "Metrics"): the
    figures say how busy each hospital's routes are, which is not a hospital's to read."""
    require_roles(principal, "admin")
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
