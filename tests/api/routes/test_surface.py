"""The HTTP surface around the routes (issue 11, items 2 and 6): bearer keys refused by their form
before any lookup and the key cache bounded, no redirect built from the Host header, the
documentation pages served from the package's own files, a health check that tells an
anonymous caller only "ok", and the security headers on every HTML answer; on both databases.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.core.config import Settings
from api.core.middleware import HTML_CONTENT_SECURITY_POLICY
from api.main import create_app
from api.web.docs import DOCS_ASSETS_PATH
from tests.support.db import row_counts
from tests.support.server import Server, free_port, serving
from tests.support.world import World

PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024
HOSTILE_HOST = "evil.example"


def megabyte_key(index: int) -> str:
    """A key whose prefix is a megabyte long, different for every index."""
    return f"osk_{index:08d}{'a' * MIB}_x"


def unknown_key() -> str:
    return f"osk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"] == "Bearer"
    problem = response.json()
    assert problem["status"] == 401
    assert problem["detail"]


@pytest.fixture(scope="module")
def cached_client(settings: Settings) -> Iterator[TestClient]:
    """The app with its key cache on (the suite's own client runs with it off)."""
    cached = settings.model_copy(
        update={"key_cache_seconds": 60.0, "key_cache_size": 16, "key_cache_refused_size": 32}
    )
    with TestClient(create_app(cached)) as test_client:
        yield test_client


# ---------------------------------------------------------------- bearer keys and their cache


def test_an_over_long_authorization_header_is_refused_like_any_bad_key(
    client: TestClient, settings: Settings
) -> None:
    before = row_counts(settings)
    for path in ("/v1/clearing?month=2018-03", "/v1/settlements/ST1"):
        response = client.get(path, headers={"Authorization": f"Bearer {megabyte_key(0)}"})
        assert_unauthorized(response)
    response = client.post(
        "/v1/settlements",
        json={"claim_id": "ZY1"},
        headers={"Authorization": "Bearer " + "x" * MIB},
    )
    assert_unauthorized(response)
    assert row_counts(settings) == before


def test_a_flood_of_made_up_keys_leaves_the_key_cache_within_its_size(
    cached_client: TestClient, world: World
) -> None:
    keys = cached_client.app.state.onestop.keys  # type: ignore[attr-defined]
    keys.forget()
    for index in range(20):
        headers = {"Authorization": f"Bearer {megabyte_key(index)}"}
        assert_unauthorized(cached_client.get("/v1/clearing?month=2018-03", headers=headers))
    assert keys.cached() == (0, 0)  # malformed: never cached
    for _ in range(100):
        headers = {"Authorization": f"Bearer {unknown_key()}"}
        assert_unauthorized(cached_client.get("/v1/clearing?month=2018-03", headers=headers))
    assert keys.cached() == (0, 32)
    valid = cached_client.get("/v1/clearing?month=2018-03", headers=world.auth(world.keys.finance))
    assert valid.status_code == 200, valid.text
    assert keys.cached() == (1, 32)


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert found is not None, status
    return int(found.group(1))


RSS_GROWTH_KIB_MAX = 16 * 1024
"""Fifty megabyte keys may cost a few megabytes while they are read (measured: under 1 MB);
before the fix each stayed in the cache, and the peak grew by 50 MB."""


@pytest.fixture(scope="module")
def cached_server(database_url: str) -> Iterator[Server]:
    """`onestop serve` (one worker: the process measured) with the key cache on."""
    with serving(database_url, extra_env={"ONESTOP_KEY_CACHE_SECONDS": "60"}) as server:
        yield server


def test_megabyte_keys_leave_the_servers_memory_bounded(cached_server: Server) -> None:
    url = f"{cached_server.base_url}/v1/clearing?month=2018-03"
    with httpx.Client(timeout=30) as http:
        for index in range(5):  # the allocator's first growth is not what is measured
            http.get(url, headers={"Authorization": f"Bearer {megabyte_key(10_000 + index)}"})
        before = peak_rss_kib(cached_server.process.pid)
        for index in range(50):
            response = http.get(url, headers={"Authorization": f"Bearer {megabyte_key(index)}"})
            assert_unauthorized(response)
        grown = peak_rss_kib(cached_server.process.pid) - before
        started = time.monotonic()
        assert http.get(f"{cached_server.base_url}/healthz").status_code == 200
        assert time.monotonic() - started < 1.0
    assert grown < RSS_GROWTH_KIB_MAX, f"peak RSS grew by {grown} KiB"


# ---------------------------------------------------------------- no redirect from the Host header


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/settlements/ST20180312DEADBEEFDEADBEEF/"),
        ("POST", "/v1/settlements/"),
        ("POST", "/v1/settlements/preview/"),
        ("GET", "/v1/clearing/"),
        ("GET", "/healthz/"),
        ("GET", "/finance/"),
        ("GET", "/finance/login/"),
        ("GET", "/docs/"),
    ],
)
def test_a_path_with_a_trailing_slash_answers_404_and_never_redirects_to_the_host_header(
    client: TestClient, world: World, settings: Settings, method: str, path: str
) -> None:
    before = row_counts(settings)
    response = client.request(
        method,
        path,
        json=world.claim("e2") if method == "POST" else None,
        headers={**world.hospital_headers(3), "Host": HOSTILE_HOST},
        follow_redirects=False,
    )
    assert response.status_code == 404, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert HOSTILE_HOST not in response.text
    assert row_counts(settings) == before


# ---------------------------------------------------------------- the documentation pages


def test_the_docs_pages_load_their_scripts_from_the_service_not_a_cdn(client: TestClient) -> None:
    for page, assets in (
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")),
        ("/redoc", ("redoc.standalone.js", "favicon.png")),
    ):
        response = client.get(page)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        links = re.findall(r'(?:src|href)="([^"]*)"', response.text)
        assert links, response.text
        assert all(link.startswith(DOCS_ASSETS_PATH + "/") for link in links), links
        assert "cdn" not in response.text.lower()
        assert "fonts.googleapis" not in response.text
        for asset in assets:
            served = client.get(f"{DOCS_ASSETS_PATH}/{asset}")
            assert served.status_code == 200, asset
            assert len(served.content) > 1_000
            assert served.headers["x-content-type-options"] == "nosniff"
    assert (
        client.get(f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
    assert '"validatorUrl": null' in client.get("/docs").text
    assert client.get(f"{DOCS_ASSETS_PATH}/../../core.py").status_code == 404


def test_the_docs_pages_can_be_turned_off_and_the_openapi_document_stays(
    settings: Settings,
) -> None:
    without_docs = settings.model_copy(update={"docs_enabled": False})
    with TestClient(create_app(without_docs)) as test_client:
        for path in ("/docs", "/redoc", f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js"):
            assert test_client.get(path).status_code == 404, path
        assert test_client.get("/openapi.json").status_code == 200


# ---------------------------------------------------------------- /healthz


def test_the_health_check_tells_anyone_but_an_admin_only_ok(
    client: TestClient, world: World
) -> None:
    for headers in (
        {},
        world.auth(world.keys.finance),
        world.hospital_headers(3),
        {"Authorization": f"Bearer {unknown_key()}"},
        {"Authorization": f"Bearer {megabyte_key(0)}"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ):
        response = client.get("/healthz", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}
    admin = client.get("/healthz", headers=world.auth(world.keys.admin))
    assert admin.status_code == 200
    details = admin.json()
    assert details["status"] == "ok"
    assert details["database"] in ("sqlite", "postgresql")
    assert details["tariffs"]


def test_the_health_check_of_an_unreachable_database_says_only_unavailable() -> None:
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/onestop?connect_timeout=2"
    with TestClient(create_app(Settings(database_url=nowhere))) as test_client:
        response = test_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_the_health_check_with_an_admin_key_reads_the_database_off_the_event_loop(
    client: TestClient, world: World
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    engine = app.state.onestop.engine
    on_loop: list[str] = []

    def checkout(*_: object) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        on_loop.append("checkout")

    app.state.onestop.keys.forget()
    event.listen(engine, "checkout", checkout)
    try:
        for headers in ({}, world.auth(world.keys.admin), world.hospital_headers(3)):
            assert client.get("/healthz", headers=headers).status_code == 200
    finally:
        event.remove(engine, "checkout", checkout)
    assert not on_loop


# ---------------------------------------------------------------- security headers


def assert_html_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "base-uri 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[-1].split(";")[0]
    assert "unsafe-eval" not in policy


def test_every_html_answer_carries_the_security_headers(client: TestClient, world: World) -> None:
    bill = client.post("/v1/settlements", json=world.claim("e2"), headers=world.hospital_headers(3))
    assert bill.status_code == 201, bill.text
    settlement_id = bill.json()["settlement_id"]
    statement = client.get(
        f"/v1/settlements/{settlement_id}/statement", headers=world.hospital_headers(3)
    )
    assert statement.status_code == 200
    assert_html_security_headers(statement)
    assert statement.headers["content-security-policy"] == HTML_CONTENT_SECURITY_POLICY
    assert "<script" not in statement.text.lower()

    browser = TestClient(client.app)
    try:
        pages = [browser.get("/finance/login")]
        pages.append(browser.post("/finance/login", data={"key": "not-a-key"}))  # 401 page
        login = browser.post(
            "/finance/login", data={"key": world.keys.admin}, follow_redirects=False
        )
        assert login.status_code == 303
        assert login.headers["x-content-type-options"] == "nosniff"
        pages.append(browser.get("/finance"))
        pages.append(browser.get(f"/finance/statement/{settlement_id}"))
        pages.append(browser.get("/finance/statement/ST404"))  # the error page
        pages.append(browser.get("/finance", params={"month": "2018-13"}))  # another one
        for page in pages:
            assert_html_security_headers(page)
            assert page.headers["content-security-policy"] == HTML_CONTENT_SECURITY_POLICY
            assert "<script" not in page.text.lower()
    finally:
        browser.close()


def test_the_docs_pages_admit_exactly_their_own_scripts(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert_html_security_headers(page)
        policy = page.headers["content-security-policy"]
        script_sources = policy.split("script-src ")[1].split(";")[0].split()
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        hashes = [
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in inline
        ]
        assert script_sources == ["'self'", *hashes]
        assert "connect-src 'self'" in policy


def test_every_answer_carries_nosniff(client: TestClient, world: World) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get("/v1/clearing?month=2018-03"),  # 401 problem
        client.get("/v1/clearing?month=2018-03", headers=world.auth(world.keys.finance)),
        client.get("/nowhere"),
        client.post(
            "/v1/settlements",
            content=b"x" * (6 * MIB),
            headers={**world.hospital_headers(3), "Content-Type": "application/json"},
        ),  # refused by the body limit, before any route
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
