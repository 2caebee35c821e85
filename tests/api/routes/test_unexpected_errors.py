"""An unexpected error (a bug) is answered whole, on a connection a client can keep using
(issue 19, section 3): a HIS keeps one connection for every message of a stay.

Before, Starlette answered the 500 and raised the error again, and uvicorn then closed the
connection without having said `Connection: close`: the client's next request, written into the
closed socket a moment later, was lost. The tests run a real server (`onestop serve`, uvicorn
with httptools) and talk to it over one raw keep-alive connection (`http.client`).

No route of the service fails on purpose, and none may be added for tests: the faults are put
into the server's own process by a `sitecustomize` module on its PYTHONPATH (FAULTS below),
which wraps a few functions to raise on a marker only these tests send.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.core.problems import PROBLEM_MEDIA_TYPE
from api.routes.nhsa import FAILED
from tests.support.server import Server, start_server, stop_server
from tests.support.world import World

ROOT = Path(__file__).resolve().parents[3]
FAULTY_SETTLEMENT = "STFAULTY0"
FAULTY_CLAIM = "ZYFAULTY"
FAULTY_MESSAGE = "FAULTY"
FAULTY_MIDDLEWARE_PATH = "/faulty-middleware"
FAULTS = f'''"""Faults injected into `onestop serve` by {Path(__file__).name}, on its markers only."""

import api.core.middleware as middleware
import api.services.fhir as fhir
import api.services.nhsa as nhsa
import api.services.settlements as settlements


class InjectedFault(RuntimeError):
    pass


_get_settlement = settlements.get_settlement


def get_settlement(engine, settlement_id):
    if settlement_id == "{FAULTY_SETTLEMENT}":
        raise InjectedFault("a route failing before it answers")
    return _get_settlement(engine, settlement_id)


settlements.get_settlement = get_settlement  # before api.routes.settlements imports it

_answer = nhsa.answer


def answer(state, writer, principal, body):
    if b"{FAULTY_MESSAGE}" in body:
        raise InjectedFault("a platform message failing")
    return _answer(state, writer, principal, body)


nhsa.answer = answer

_claim_response = fhir.claim_response


def claim_response(document, hospital_name):
    pieces = iter(_claim_response(document, hospital_name))
    yield next(pieces)
    if document["claim_id"].startswith("{FAULTY_CLAIM}"):
        raise InjectedFault("a streamed answer failing half-way")
    yield from pieces


fhir.claim_response = claim_response

_body_limit = middleware.BodyLimit.__call__


async def body_limit(self, scope, receive, send):
    if scope.get("path") == "{FAULTY_MIDDLEWARE_PATH}":
        raise InjectedFault("a middleware failing outside the routes")
    await _body_limit(self, scope, receive, send)


middleware.BodyLimit.__call__ = body_limit
'''
PAUSE_SECONDS = 0.3
"""How long the client waits before its next request on the connection: a HIS's next message
comes a moment later, by when a server that meant to close the connection has closed it."""


@dataclass(frozen=True)
class Faulty:
    server: Server
    log_path: Path

    def connection(self) -> http.client.HTTPConnection:
        address = urlsplit(self.server.base_url)
        assert address.hostname == "127.0.0.1"
        return http.client.HTTPConnection(address.hostname, address.port, timeout=30)

    def log(self) -> str:
        time.sleep(0.1)
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def faulty(database_url: str, tmp_path: Path) -> Iterator[Faulty]:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "sitecustomize.py").write_text(FAULTS, encoding="utf-8")
    log_path = tmp_path / "server.log"
    server = start_server(
        database_url,
        log_path=log_path,
        extra_env={"PYTHONPATH": f"{faults}:{ROOT}"},
        log_level="info",
    )
    try:
        yield Faulty(server, log_path)
    finally:
        stop_server(server)


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response, response.read()


def assert_kept_open_and_serving(
    connection: http.client.HTTPConnection,
    response: http.client.HTTPResponse,
    headers: dict[str, str],
) -> None:
    """The answer did not say it closes, and the same socket carries the next request."""
    assert (response.getheader("Connection") or "").lower() != "close"
    socket = connection.sock
    assert socket is not None, "the client saw the connection closed"
    time.sleep(PAUSE_SECONDS)
    following, body = exchange(connection, "GET", "/healthz", headers)
    assert following.status == 200, body[:2000]
    assert connection.sock is socket, "the next request needed a new connection"


def test_a_route_failing_unexpectedly_answers_a_whole_500_problem_on_a_connection_kept_open(
    faulty: Faulty, world: World
) -> None:
    headers = world.hospital_headers()
    connection = faulty.connection()
    try:
        response, body = exchange(
            connection, "GET", f"/v1/settlements/{FAULTY_SETTLEMENT}", headers
        )
        assert response.status == 500, body[:2000]
        assert response.getheader("Content-Type") == PROBLEM_MEDIA_TYPE
        assert response.getheader("Content-Length") == str(len(body))
        problem = json.loads(body)
        assert (problem["status"], problem["type"]) == (
            500,
            "https://onestop.example/problems/internal",
        )
        assert "InjectedFault" not in body.decode()  # no internals in the answer
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert_kept_open_and_serving(connection, response, headers)
    finally:
        connection.close()
    log = faulty.log()
    assert f"unexpected error on GET /v1/settlements/{FAULTY_SETTLEMENT}" in log, log[-4_000:]
    assert "InjectedFault: a route failing before it answers" in log, log[-4_000:]


def envelope(body: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(body)
    assert set(answer) >= {"infcode", "inf_refmsgid", "refmsg_time", "respond_time", "err_msg"}
    return answer


def test_a_platform_message_failing_unexpectedly_is_an_envelope_of_infcode_minus_1_with_500(
    faulty: Faulty, world: World
) -> None:
    """A HIS reading the body whatever the status finds `infcode -1`, never a body without
    `infcode` (which its client would read as 0, success); the next message goes through on
    the same connection."""
    headers = {**world.hospital_headers(), "Content-Type": "application/json"}
    connection = faulty.connection()
    try:
        message = json.dumps({"infno": "1101", "msgid": FAULTY_MESSAGE}).encode()
        response, body = exchange(connection, "POST", "/v1/nhsa", headers, message)
        assert response.status == 500, body[:2000]
        assert response.getheader("Content-Type") == "application/json"
        answer = envelope(body)
        assert (answer["infcode"], answer["err_msg"]) == (-1, FAILED)
        assert "InjectedFault" not in body.decode()
        assert (response.getheader("Connection") or "").lower() != "close"
        time.sleep(PAUSE_SECONDS)
        socket = connection.sock
        following, refused = exchange(connection, "POST", "/v1/nhsa", headers, b"{}")
        assert following.status == 200, refused[:2000]
        assert envelope(refused)["infcode"] == -1  # an envelope with no fields: refused by name
        assert connection.sock is socket, "the next message needed a new connection"
    finally:
        connection.close()
    log = faulty.log()
    assert "unexpected error on POST /v1/nhsa" in log, log[-4_000:]
    assert "InjectedFault: a platform message failing" in log, log[-4_000:]


def test_a_middleware_failing_unexpectedly_answers_500_saying_connection_close(
    faulty: Faulty, world: World
) -> None:
    """Outside the routes the server still closes the connection after the answer: the answer
    says so, and the client opens a new one for its next request instead of losing it."""
    headers = world.hospital_headers()
    connection = faulty.connection()
    try:
        response, body = exchange(connection, "GET", FAULTY_MIDDLEWARE_PATH, headers)
        assert response.status == 500, body[:2000]
        assert response.getheader("Content-Type") == PROBLEM_MEDIA_TYPE
        assert json.loads(body)["status"] == 500
        assert (response.getheader("Connection") or "").lower() == "close"
        assert connection.sock is None  # http.client closed it, as the answer said
        time.sleep(PAUSE_SECONDS)
        following, answered = exchange(connection, "GET", "/healthz", headers)
        assert following.status == 200, answered[:2000]
    finally:
        connection.close()
    assert "InjectedFault: a middleware failing outside the routes" in faulty.log()


def test_a_streamed_answer_failing_half_way_is_seen_cut_short_never_whole(
    faulty: Faulty, world: World
) -> None:
    """The FHIR view is streamed (issue 19, section 1): an error after its first piece cannot
    be answered any more; the server cuts the connection, and the client sees a chunked body
    without its end, which it cannot take for a whole answer."""
    headers = world.hospital_headers()
    claim = world.claim("e2", claim_id=f"{FAULTY_CLAIM}{world.tag}")
    settled = world.client.post("/v1/settlements", json=claim, headers=headers)
    assert settled.status_code == 201, settled.text
    path = f"/v1/settlements/{settled.json()['settlement_id']}/fhir"
    connection = faulty.connection()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()
    fresh = faulty.connection()
    try:
        following, body = exchange(fresh, "GET", "/healthz", headers)
        assert following.status == 200, body[:2000]
    finally:
        fresh.close()
    assert "InjectedFault: a streamed answer failing half-way" in faulty.log()
