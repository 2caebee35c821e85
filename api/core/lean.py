"""A lean way through FastAPI for the hot routes: their dependencies called in a plan made once.

FastAPI solves a route's dependencies anew for every request (`solve_dependencies`): it walks
the dependency tree, computes each dependency's cache key, collects and validates parameters,
and wraps every call in its telemetry. For the settle route (the key check, the application
state, the writer, the body, and the application's check of repeated query parameters) that
machinery cost about as much as everything else the route does outside the engine and the
database (issue 20, item 4; docs/performance.md).

`LeanRoute` serves a route whose dependency tree is *simple* with a plan made when the route is
built: the dependencies in the order FastAPI calls them (depth first, a dependency's own
dependencies before it, each called once a request when FastAPI would cache it), each handed
the request and the values of the dependencies it names. Simple means: the route and every
dependency take nothing but the request and other dependencies (no path, query, header,
cookie or body parameter, no response, background tasks or security scopes), every one is
`async def` (or an object with an `async def __call__`, as `HTTPBearer`), none is a generator
(`yield`), and the route answers a `Response` itself. Any other route is served by FastAPI
as before; so is every request while `app.dependency_overrides` is not empty.

Nothing else changes: the route is declared as before, so its OpenAPI operation is FastAPI's;
the errors a dependency or the route raises go to the same exception handlers; the answers are
the same bytes (the settle and platform tests, and `test_lean.py`, which runs every request of
them both ways).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi.dependencies.models import Dependant
from starlette.requests import Request
from starlette.responses import Response

from api.core.body import StrictJsonRoute

REQUEST = -1
"""An argument that is the request itself (not a dependency's value)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One call of the plan: the callable, and each keyword argument's source (`REQUEST`, or
    the index of the earlier step whose value it takes)."""

    call: Callable[..., Any]
    arguments: tuple[tuple[str, int], ...]


class NotLean(Exception):
    """The route's dependency tree has something the plan does not do: FastAPI serves it."""


def plan(dependant: Dependant) -> tuple[Step, ...]:
    """The route's dependencies and then the route itself, as steps; `NotLean` if not simple."""
    steps: list[Step] = []
    cached: dict[Any, int] = {}

    def visit(node: Dependant) -> int:
        if node.use_cache and node.call in cached:
            return cached[node.call]
        _check_simple(node)
        arguments: list[tuple[str, int]] = [
            (name, REQUEST)
            for name in (node.request_param_name, node.http_connection_param_name)
            if name is not None
        ]
        for sub in node.dependencies:
            index = visit(sub)
            if sub.name is not None:
                arguments.append((sub.name, index))
        assert node.call is not None
        steps.append(Step(node.call, tuple(arguments)))
        if node.use_cache:
            cached[node.call] = len(steps) - 1
        return len(steps) - 1

    visit(dependant)
    return tuple(steps)


def _check_simple(node: Dependant) -> None:
    parameters = (
        node.path_params, node.query_params, node.header_params, node.cookie_params,
        node.body_params,
    )  # fmt: skip
    if any(parameters):
        raise NotLean(f"{node.call} takes a request parameter")
    special = (
        node.websocket_param_name, node.response_param_name, node.background_tasks_param_name,
        node.security_scopes_param_name,
    )  # fmt: skip
    if any(name is not None for name in special) or node.own_oauth_scopes:
        raise NotLean(f"{node.call} takes a response, tasks or scopes")
    call = node.call
    if call is None:
        raise NotLean("a dependency without a callable")
    function = call if inspect.isfunction(call) else getattr(call, "__call__", None)  # noqa: B004
    if inspect.isasyncgenfunction(function) or not inspect.iscoroutinefunction(function):
        raise NotLean(f"{call} is not an `async def` function")


async def run(steps: tuple[Step, ...], request: Request) -> Response:
    """Call the steps in order; the last one's value (the route's) is the answer."""
    values: list[Any] = []
    for step in steps:
        keywords = {
            name: request if source == REQUEST else values[source]
            for name, source in step.arguments
        }
        values.append(await step.call(**keywords))
    answer = values[-1]
    if not isinstance(answer, Response):
        raise TypeError(f"{steps[-1].call} answered {type(answer)}, not a Response")
    return answer


class LeanRoute(StrictJsonRoute):
    """A route served by its plan when its dependency tree is simple (the module's docstring),
    else as any route of FastAPI."""

    plan_calls: tuple[Callable[..., Any], ...] = ()
    """The calls of the plan last made for this route (empty: FastAPI serves it). A route
    included in an application is built again with the application's dependencies; the
    tests read this to see them in the plan."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route = _effective(self)
        if route.body_field is not None:
            return handler
        try:
            steps = plan(route.dependant)
        except NotLean:
            return handler
        self.plan_calls = tuple(step.call for step in steps)
        overrides = route.dependency_overrides_provider

        async def lean(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await handler(request)
            return await run(steps, request)

        return lean


def _effective(route: LeanRoute) -> Any:
    """The route as FastAPI builds its handler: an included route is built again in the
    context of its inclusion (the including application's dependencies added), which
    FastAPI hands `get_route_handler` in a context variable, as its own `APIRoute` reads it."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    context = None if context_var is None else context_var.get()
    if context is not None and context.original_route is route:
        return context
    return route
