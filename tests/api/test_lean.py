"""The settle and platform routes served by their plans (api.core.lean, issue 20 item 4) answer
what FastAPI's own way answers, request for request.

Each request is sent twice to the same application: once as it is served (the plan), once with
`dependency_overrides` not empty, which sends the route through FastAPI's `solve_dependencies`.
Answers that hold nothing made anew (every refusal) must be the same bytes with the same status
and headers; a settlement must be the same document but for its own id, claim id and time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.core.deps import get_principal, get_state, query_parameters_once
from api.core.lean import REQUEST, LeanRoute, NotLean, Step, plan, run
from api.routes import nhsa, settlements
from api.routes.settlements import get_writer
from tests.support.nhsa import envelope
from tests.support.world import World

SETTLE = "/v1/settlements"
NHSA = "/v1/nhsa"


async def _never() -> None:  # pragma: no cover - an override that no route depends on
    return None


@contextmanager
def fastapis_way(client: TestClient) -> Iterator[None]:
    """Requests served by FastAPI's dependency solving, as every route but the lean ones is."""
    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[_never] = _never
    try:
        yield
    finally:
        app.dependency_overrides.pop(_never)


def both_ways(world: World, send: Callable[[], Any]) -> tuple[Any, Any]:
    with fastapis_way(world.client):
        slow = send()
    return send(), slow


def same_answer(lean: Any, slow: Any) -> None:
    assert lean.status_code == slow.status_code, (lean.text, slow.text)
    assert lean.content == slow.content
    dropped = {"date"}
    assert {k: v for k, v in lean.headers.items() if k not in dropped} == {
        k: v for k, v in slow.headers.items() if k not in dropped
    }


def test_the_settle_and_platform_routes_are_planned_in_fastapis_order(world: World) -> None:
    """The application's check of repeated query parameters first, then each dependency after
    its own, each once (the state is asked for by three of them), the route last."""
    world.client.post(SETTLE, content=b"{}")  # an application builds its routes when first used
    world.client.post(NHSA, content=b"{}")
    (settle_route,) = [r for r in settlements.router.routes if getattr(r, "path", "") == SETTLE]
    (message_route,) = nhsa.router.routes
    assert isinstance(settle_route, LeanRoute)
    assert isinstance(message_route, LeanRoute)
    calls = settle_route.plan_calls
    assert calls[0] is query_parameters_once
    assert calls[2:] == (get_state, calls[3], get_principal, get_writer, settlements.settle)
    assert type(calls[3]).__name__ == "HTTPBearer"
    assert message_route.plan_calls[0] is query_parameters_once
    assert message_route.plan_calls[-1] is nhsa.message
    assert len(set(message_route.plan_calls)) == len(message_route.plan_calls)


def test_routes_that_take_parameters_are_left_to_fastapi() -> None:
    routes = [r for r in settlements.router.routes if isinstance(r, LeanRoute)]
    served_by_plan = {r.path for r in routes if r.plan_calls}
    assert served_by_plan == {SETTLE}  # preview has a body, the others a path parameter


BAD_SETTLE_BODIES = [
    b"",
    b"{",
    b"[]",
    b'{"claim_id": "ZY1"}',
    b"\xff",
    b'{"a":' * 200 + b"1" + b"}" * 200,
]


@pytest.mark.parametrize("body", BAD_SETTLE_BODIES)
@pytest.mark.parametrize("key", ["hospital", "finance", "none", "unknown"])
def test_a_refused_settlement_is_refused_alike(world: World, body: bytes, key: str) -> None:
    headers = {
        "hospital": world.hospital_headers(),
        "finance": world.auth(world.keys.finance),
        "none": {},
        "unknown": world.auth("osk_unknownkey0000000000000000000000"),
    }[key]
    headers = {**headers, "Content-Type": "application/json"}
    lean, slow = both_ways(world, lambda: world.client.post(SETTLE, content=body, headers=headers))
    same_answer(lean, slow)


def test_another_hospitals_claim_and_a_conflict_are_refused_alike(world: World) -> None:
    other = world.claim(level=2)
    lean, slow = both_ways(
        world, lambda: world.client.post(SETTLE, json=other, headers=world.hospital_headers(3))
    )
    assert lean.status_code == 403
    same_answer(lean, slow)
    claim = world.claim()
    assert (
        world.client.post(SETTLE, json=claim, headers=world.hospital_headers()).status_code == 201
    )
    changed = {**claim, "surgery": not claim["surgery"]}
    lean, slow = both_ways(
        world, lambda: world.client.post(SETTLE, json=changed, headers=world.hospital_headers())
    )
    assert lean.status_code == 409
    same_answer(lean, slow)
    lean, slow = both_ways(
        world, lambda: world.client.post(SETTLE, json=claim, headers=world.hospital_headers())
    )
    assert (lean.status_code, lean.headers["idempotent-replayed"]) == (200, "true")
    same_answer(lean, slow)


def test_a_settlement_is_the_same_document_either_way(world: World) -> None:
    answers = []
    for way in (fastapis_way(world.client), _as_served()):
        claim = world.claim()
        with way:
            answer = world.client.post(SETTLE, json=claim, headers=world.hospital_headers())
        assert answer.status_code == 201, answer.text
        document = answer.json()
        assert answer.headers["location"] == f"{SETTLE}/{document['settlement_id']}"
        reversal = world.client.post(
            f"{SETTLE}/{document['settlement_id']}/reversal",
            json={"reason": "测试"},
            headers=world.hospital_headers(),
        )
        assert reversal.status_code == 200, reversal.text  # the next one starts from the same year
        for made_anew in ("settlement_id", "claim_id", "settled_at"):
            document.pop(made_anew)
        answers.append((document, answer.headers["content-type"]))
    assert answers[0] == answers[1]


@contextmanager
def _as_served() -> Iterator[None]:
    yield


@pytest.mark.parametrize(
    "infno", ["1101", "9999", "2401", "2304"], ids=lambda infno: f"infno-{infno}"
)
def test_a_refused_platform_message_is_refused_alike(world: World, infno: str) -> None:
    """infcode -1 answers (nothing made, the message's times dropped) and the HTTP errors."""
    body = json.dumps(envelope(world.hospitals[3], infno, {"data": {}})).encode()
    for headers in (
        {**world.hospital_headers(), "Content-Type": "application/json"},
        {"Content-Type": "application/json"},
        {**world.auth(world.keys.finance), "Content-Type": "application/json"},
        {**world.hospital_headers(), "Content-Type": "text/plain"},
    ):
        lean, slow = both_ways(
            world, partial(world.client.post, NHSA, content=body, headers=headers)
        )
        assert lean.status_code == slow.status_code
        assert lean.headers["content-type"] == slow.headers["content-type"]
        if lean.status_code != 200:
            same_answer(lean, slow)
            continue
        assert _timeless(lean.json()) == _timeless(slow.json())
        assert lean.json()["infcode"] == -1


def _timeless(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what each answer makes anew: its times and its own message id."""
    return {
        key: value for key, value in answer.items() if "time" not in key and key != "inf_refmsgid"
    }


def test_a_tree_with_a_parameter_a_sync_function_or_a_generator_is_not_planned() -> None:
    from fastapi import Depends, Query
    from fastapi.dependencies.utils import get_dependant

    async def query(value: int = Query(1)) -> int:
        return value

    def sync() -> int:
        return 1

    async def generator() -> Any:
        yield 1

    async def simple() -> int:
        return 1

    for dependency in (query, sync, generator):
        depends = Depends(dependency)

        async def route(value: Any = depends) -> Any:
            return value

        with pytest.raises(NotLean):
            plan(get_dependant(path="/", call=route))

    async def planned(value: int = Depends(simple)) -> Any:
        return value

    assert [step.call for step in plan(get_dependant(path="/", call=planned))] == [simple, planned]


def test_the_plan_hands_each_step_the_request_and_the_values_it_names() -> None:
    import asyncio

    from starlette.requests import Request
    from starlette.responses import Response

    calls: list[str] = []

    async def first(request: Any) -> str:
        calls.append("first")
        return f"first of {request.scope['path']}"

    async def second(request: Any, one: str) -> str:
        calls.append("second")
        return one.upper()

    async def route(one: str, two: str) -> Response:
        return Response(f"{one}|{two}")

    steps = (
        Step(first, (("request", REQUEST),)),
        Step(second, (("request", REQUEST), ("one", 0))),
        Step(route, (("one", 0), ("two", 1))),
    )
    request = Request({"type": "http", "path": "/p", "headers": []})
    answer = asyncio.run(run(steps, request))
    assert answer.body == b"first of /p|FIRST OF /P"
    assert calls == ["first", "second"]

    async def not_a_response() -> dict[str, str]:
        return {}

    with pytest.raises(TypeError, match="not a Response"):
        asyncio.run(run((Step(not_a_response, ()),), request))


def test_overriding_any_dependency_sends_the_route_back_to_fastapi(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests override dependencies; the plan, made once, would not see an override: while
    any is set, FastAPI serves the route (and `fastapis_way` above is FastAPI's way indeed)."""
    import api.core.lean

    served: list[str] = []
    planned = api.core.lean.run

    async def counted(steps: Any, request: Any) -> Any:
        served.append(request.url.path)
        return await planned(steps, request)

    monkeypatch.setattr(api.core.lean, "run", counted)
    body = b"{"
    with fastapis_way(world.client):
        assert world.client.post(SETTLE, content=body).status_code == 401
    assert served == []
    assert world.client.post(SETTLE, content=body).status_code == 401
    assert served == [SETTLE]
