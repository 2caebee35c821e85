"""FastAPI dependencies: the application state and who is calling, as `Annotated` types."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.core.access import Principal
from api.core.clock import Clock, system_clock
from api.core.config import Settings
from api.core.keys import AUTHORIZATION_CHARS_MAX
from api.core.problems import invalid_request, item, unauthorized
from settlement.tariff import TariffBook


class Keys(Protocol):
    """Looks API keys up (`api.db.keys.KeyStore`); a key not of `new_key`'s form is refused by
    both lookups without any database read."""

    def authenticate(self, key: str) -> Principal | None: ...

    def remembered(self, key: str) -> tuple[bool, Principal | None]: ...

    def principal_for_prefix(self, prefix: str) -> Principal | None: ...


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything made once at start-up: settings, database engine, tariffs, keys, templates."""

    settings: Settings
    engine: Engine
    tariffs: TariffBook
    keys: Keys
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
        raise unauthorized("Send an API key as `Authorization: Bearer <key>`.")
    principal = await authenticate(state, credentials.credentials)
    if principal is None:
        raise unauthorized("The API key is unknown or revoked.")
    return principal


async def get_caller(request: Request, state: State) -> Principal | None:
    """Who is calling, for a route open to anyone that tells a valid key more (/healthz):
    None without a valid key, never refused. Read from the header directly, so that the
    route's OpenAPI entry does not claim a key is needed."""
    authorization = request.headers.get("authorization", "")
    if len(authorization) > AUTHORIZATION_CHARS_MAX:
        return None
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return await authenticate(state, key)


async def authenticate(state: AppState, key: str) -> Principal | None:
    """The key's principal, or None. A malformed key (over KEY_CHARS_MAX characters, or not of
    `new_key`'s form) is refused before any lookup; a database read runs off the event loop."""
    answered, principal = state.keys.remembered(key)  # a malformed key: (True, None)
    if answered:
        return principal
    return await run_in_threadpool(state.keys.authenticate, key)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
Caller = Annotated[Principal | None, Depends(get_caller)]
"""The caller of a route open to anyone: a principal for a valid key, else None."""


async def query_parameters_once(request: Request) -> None:
    """Refuse a query parameter the route reads given more than once, naming each (422).

    Starlette keeps every value and a route is handed the last, so that
    `?date_from=2018-01-01&date_from=2019-01-01` would be read as 2019 without a word: the
    client meant one of them, and onestop cannot tell which. Every route of the application
    depends on this (api.main). No route takes a list in its query; one that did would have to
    be excepted here. A name no route reads is ignored, as any unknown parameter is."""
    given = request.query_params.multi_items()
    counts = Counter(name for name, _ in given)
    if len(counts) == len(given):
        return
    read = query_names(request.scope.get("route"))
    errors = [
        item(["query", name], f"given {count} times: give it once", "duplicate_parameter")
        for name, count in counts.items()
        if count > 1 and name in read
    ]
    if errors:
        raise invalid_request(
            f"The request has {len(errors)} problem(s); nothing was written.", errors
        )


def query_names(route: Any) -> set[str]:
    """The query parameters the route reads, its dependencies' included (by their names in the
    query string)."""
    pending = [route.dependant] if hasattr(route, "dependant") else []
    names: set[str] = set()
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return names
