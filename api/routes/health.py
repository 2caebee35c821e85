"""Liveness: the service answers and its database does."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import JSONResponse

from api.core.deps import State

router = APIRouter()


@router.get("/healthz", tags=["operations"], summary="Liveness and database check")
def healthz(state: State) -> JSONResponse:
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return JSONResponse({"status": "unavailable", "database": str(type(error).__name__)}, 503)
    return JSONResponse(
        {
            "status": "ok",
            "database": state.engine.dialect.name,
            "tariffs": [t.version for t in state.tariffs.tariffs],
        }
    )
