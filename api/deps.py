"""FastAPI dependencies: the application state and who is calling, as `Annotated` types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment
from sqlalchemy import Engine

from api.core.config import Settings
from api.problems import ApiProblem
from api.security import KeyStore, Principal
from api.services import Clock, system_clock
from settlement.tariff import TariffBook


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything made once at start-up: settings, database engine, tariffs, keys, templates."""

    settings: Settings
    engine: Engine
    tariffs: TariffBook
    keys: KeyStore
    templates: Environment
    clock: Clock = system_clock
    """Stamps settlements and reversals; tests put their own to spread them over days."""


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.onestop
    return state


State = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="An onestop API key: `Bearer osk_…`")


async def get_principal(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401,
            "Unauthorized",
            "Send an API key as `Authorization: Bearer <key>`.",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = state.keys.authenticate(credentials.credentials)
    if principal is None:
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is unknown or revoked.",
            kind="unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise ApiProblem(
            403,
            "Forbidden",
            f"The {principal.role} role may not do this (needs {' or '.join(roles)}).",
            kind="forbidden",
        )
