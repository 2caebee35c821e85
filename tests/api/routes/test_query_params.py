"""A query parameter given more than once is refused, naming it, on every route that reads one
(issue 19, section 5): `?date_from=2018-01-01&date_from=2019-01-01` was read as 2019 without a
word. The routes are enumerated from the application itself, so a new route that reads a query
parameter fails `test_the_table_lists_every_query_parameter_the_application_reads` until a
valid request of it is listed below, and is then held to the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.core.deps import query_names
from tests.support.db import row_counts
from tests.support.world import World

PROBLEM_JSON = "application/problem+json"
EMPTY_RECORDS = b'{"records": []}'
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Route:
    """A valid request of a route that reads query parameters, as the admin sends it."""

    path: Callable[[World], str]
    query: Callable[[World], dict[str, str]]
    """Each parameter the route reads, with a valid value."""
    other: dict[str, str]
    """For each parameter, another valid value (the one a careless client appends)."""
    method: str = "GET"
    body: bytes | None = None


def _period(_: World) -> dict[str, str]:
    return {"date_from": "2018-01-01", "date_to": "2018-12-31"}


def _hospital(world: World) -> dict[str, str]:
    return {"hospital_id": world.hospitals[3]}


# fmt: off
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/persons/{person_id}/accumulators"): Route(
        lambda w: f"/v1/persons/{w.persons['dibao']}/accumulators",
        lambda _: {"year": "2018"}, {"year": "2019"}),
    ("GET", "/v1/reconciliation/totals"): Route(
        lambda _: "/v1/reconciliation/totals",
        lambda w: {**_period(w), **_hospital(w)},
        {"date_from": "2019-01-01", "date_to": "2019-12-31", "hospital_id": "H0"}),
    ("POST", "/v1/reconciliation/detail"): Route(
        lambda _: "/v1/reconciliation/detail",
        lambda w: {**_period(w), **_hospital(w), "format": "json"},
        {"date_from": "2019-01-01", "date_to": "2019-12-31", "hospital_id": "H0", "format": "csv"},
        "POST", EMPTY_RECORDS),
    ("GET", "/v1/clearing"): Route(
        lambda _: "/v1/clearing",
        lambda w: {"month": "2018-03", **_hospital(w), "format": "json"},
        {"month": "2018-04", "hospital_id": "H0", "format": "csv"}),
    ("GET", "/v1/clearing/regions"): Route(
        lambda _: "/v1/clearing/regions",
        lambda _: {"month": "2018-03", "format": "json"}, {"month": "2018-04", "format": "csv"}),
    ("GET", "/v1/receivables"): Route(
        lambda _: "/v1/receivables",
        lambda w: {"as_of": "2018-12-31", **_hospital(w), "status": "open", "format": "json"},
        {"as_of": "2019-12-31", "hospital_id": "H0", "status": "paid", "format": "csv"}),
    ("GET", "/v1/alerts"): Route(
        lambda _: "/v1/alerts",
        lambda _: {"year": "2018", "status": "raised", "region": "220000", "format": "json"},
        {"year": "2019", "status": "declined", "region": "210000", "format": "csv"}),
    ("GET", "/finance"): Route(
        lambda _: "/finance",
        lambda w: {"month": "2018-03", **_hospital(w), "q": "ZY"},
        {"month": "2018-04", "hospital_id": "H0", "q": "ST"}),
    ("GET", "/finance/clearing.{extension}"): Route(
        lambda _: "/finance/clearing.csv",
        lambda w: {"month": "2018-03", **_hospital(w)}, {"month": "2018-04", "hospital_id": "H0"}),
    ("GET", "/finance/receivables.{extension}"): Route(
        lambda _: "/finance/receivables.csv",
        lambda w: {"as_of": "2018-12-31", **_hospital(w)}, {"as_of": "2019-12-31", "hospital_id": "H0"}),
    ("GET", "/finance/clearing/regions.{extension}"): Route(
        lambda _: "/finance/clearing/regions.csv",
        lambda _: {"month": "2018-03"}, {"month": "2018-04"}),
}
# fmt: on
CASES = [(route, name) for route, spec in ROUTES.items() for name in spec.other]


def read_query_parameters(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path) → the query parameters the route reads (its dependencies' included), for
    every route of the application that reads any."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers became lazy: app.routes is flat.
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found: dict[tuple[str, str], set[str]] = {}
    for route in routes:
        names = query_names(route)
        for method in getattr(route, "methods", None) or ():
            if names and method != "HEAD":
                found[(method, route.path)] = names
    return found


def send(world: World, route: Route, pairs: list[tuple[str, str]]) -> httpx.Response:
    headers = {**world.auth(world.keys.admin), **JSON}
    response: httpx.Response = world.client.request(
        route.method,
        f"{route.path(world)}?{urlencode(pairs)}",
        content=route.body,
        headers=headers,
        follow_redirects=False,
    )
    return response


def refused_names(response: httpx.Response) -> list[tuple[list[Any], str]]:
    assert response.status_code == 422, response.text[:2000]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    return [(error["loc"], error["code"]) for error in response.json()["errors"]]


def test_the_table_lists_every_query_parameter_the_application_reads(client: TestClient) -> None:
    read = read_query_parameters(client.app)  # type: ignore[arg-type]
    listed = {route: set(spec.other) for route, spec in ROUTES.items()}
    assert read == listed


def test_no_route_takes_a_list_in_its_query(client: TestClient) -> None:
    """…so that no parameter is excepted from the rule (one that took a list would be)."""
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                schema = parameter["schema"]
                kinds = [schema.get("type"), *(s.get("type") for s in schema.get("anyOf", ()))]
                assert "array" not in kinds, (path, parameter["name"])


@pytest.mark.parametrize(("route", "name"), CASES, ids=[f"{r[0]} {r[1]} {n}" for r, n in CASES])
def test_a_query_parameter_given_twice_is_refused_naming_it_and_nothing_is_written(
    world: World, settings: Settings, route: tuple[str, str], name: str
) -> None:
    spec = ROUTES[route]
    query = spec.query(world)
    once = send(world, spec, list(query.items()))
    assert once.status_code in (200, 303), once.text[:2000]  # valid as it is sent once
    before = row_counts(settings)
    for second in (spec.other[name], query[name]):  # another value, or the same one again
        pairs = [*query.items(), (name, second)]
        assert refused_names(send(world, spec, pairs)) == [(["query", name], "duplicate_parameter")]
    assert row_counts(settings) == before


def test_every_parameter_given_twice_is_named_and_once_each(world: World) -> None:
    spec = ROUTES[("GET", "/v1/reconciliation/totals")]
    query = spec.query(world)
    pairs = [*query.items(), *query.items(), ("date_to", "2019-12-31")]
    response = send(world, spec, pairs)
    assert sorted(refused_names(response)) == [
        (["query", "date_from"], "duplicate_parameter"),
        (["query", "date_to"], "duplicate_parameter"),
        (["query", "hospital_id"], "duplicate_parameter"),
    ]
    assert "3 times" in response.text


def test_a_parameter_written_percent_encoded_is_the_same_parameter(world: World) -> None:
    query = "date_from=2018-01-01&date_to=2018-12-31&date%5Ffrom=2019-01-01"
    response = world.client.get(
        f"/v1/reconciliation/totals?{query}", headers=world.auth(world.keys.admin)
    )
    assert refused_names(response) == [(["query", "date_from"], "duplicate_parameter")]


def test_a_repeated_name_no_route_reads_is_ignored_as_any_unknown_parameter(world: World) -> None:
    """The rule is about what a route reads: an unknown parameter was and is ignored, once or
    twice; and the platform's interface, which reads none, answers its message."""
    spec = ROUTES[("GET", "/v1/reconciliation/totals")]
    response = send(world, spec, [*spec.query(world).items(), ("x", "1"), ("x", "2")])
    assert response.status_code == 200, response.text[:2000]
    message = world.client.post(
        "/v1/nhsa?x=1&x=2", content=b"{}", headers={**world.hospital_headers(), **JSON}
    )
    assert message.status_code == 200, message.text[:2000]
    assert message.json()["infcode"] == -1  # an empty envelope, refused by name
