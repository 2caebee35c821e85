"""Who may do what: 401 for a missing, malformed, unknown or revoked key; 403 for a role or a
hospital that may not; and a refused request writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from api.core.config import Settings
from api.db.engine import make_engine
from api.db.tables import ApiKey
from tests.api.conftest import World, row_counts

PROBLEM_JSON = "application/problem+json"
HOSPITAL_BODY = {"name": "越权医院", "level": 2, "region": "220000"}
PERSON_BODY = {
    "name": "越权",
    "id_number": "220102196005021234",
    "birth_date": "1960-05-02",
    "gender": "male",
    "insured_region": "220000",
    "statuses": [],
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert body["detail"]
    return body


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def settled(world: World, level: int = 3) -> dict[str, Any]:
    response = world.client.post(
        "/v1/settlements",
        json=world.claim("e2", level=level),
        headers=world.hospital_headers(level),
    )
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def every_route(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One request to each /v1 route of the contract, with a body where the route takes one."""
    claim = world.claim("e2")
    settlement = "/v1/settlements/ST20180312DEADBEEFDEADBEEF"
    return [
        ("PUT", "/v1/hospitals/HNOAUTH", HOSPITAL_BODY),
        ("PUT", "/v1/persons/PNOAUTH", PERSON_BODY),
        ("POST", "/v1/settlements", claim),
        ("POST", "/v1/settlements/preview", claim),
        ("GET", settlement, None),
        ("POST", f"{settlement}/reversal", {"reason": "x"}),
        ("GET", f"{settlement}/statement", None),
        ("GET", f"/v1/persons/{world.persons['dibao']}/accumulators?year=2018", None),
    ]


# ---------------------------------------------------------------- 401


def test_every_v1_route_without_authorization_is_a_401_problem_with_a_bearer_challenge(
    world: World, settings: Settings
) -> None:
    before = row_counts(settings)
    for method, url, body in every_route(world):
        response = world.client.request(method, url, json=body)
        assert_unauthorized(response)
    assert row_counts(settings) == before


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-key",
        "Bearer osk_",
        "Bearer osk__secret",
        "Bearer osk_abcdef123456_",
        "Basic YWRtaW46YWRtaW4=",
        "osk_abcdef123456_secret",
    ],
)
def test_a_malformed_authorization_header_is_a_401_problem_with_a_bearer_challenge(
    world: World, settings: Settings, authorization: str
) -> None:
    before = row_counts(settings)
    for method, url, body in every_route(world):
        response = world.client.request(
            method, url, json=body, headers={"Authorization": authorization}
        )
        assert_unauthorized(response)
    assert row_counts(settings) == before


def test_an_unknown_key_is_a_401_problem_with_a_bearer_challenge(world: World) -> None:
    for method, url, body in every_route(world):
        response = world.client.request(
            method, url, json=body, headers=world.auth("osk_000000000000_notasecretatall")
        )
        assert_unauthorized(response)


def test_a_known_key_prefix_with_the_wrong_secret_is_a_401_problem(world: World) -> None:
    prefix = world.keys.admin.split("_")[1]
    response = world.client.get(
        f"/v1/persons/{world.persons['dibao']}", headers=world.auth(f"osk_{prefix}_wrongsecret")
    )
    assert_unauthorized(response)


def test_a_revoked_key_is_a_401_problem(world: World, settings: Settings) -> None:
    key = world.keys.hospital[world.hospitals[3]]
    bill = settled(world)
    url = f"/v1/settlements/{bill['settlement_id']}"
    assert world.client.get(url, headers=world.auth(key)).status_code == 200
    engine = make_engine(settings)
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == key.split("_")[1])).one()
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        session.commit()
    engine.dispose()
    assert_unauthorized(world.client.get(url, headers=world.auth(key)))
    before = row_counts(settings)
    response = world.client.post("/v1/settlements", json=world.claim("e2"), headers=world.auth(key))
    assert_unauthorized(response)
    assert row_counts(settings) == before
    # Only that key is refused: another key still reads the same settlement.
    assert world.client.get(url, headers=world.auth(world.keys.finance)).status_code == 200


# ---------------------------------------------------------------- 403: another hospital


def test_a_hospital_key_may_not_settle_or_preview_a_claim_of_another_hospital(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2", level=2)
    before = row_counts(settings)
    for path in ("/v1/settlements", "/v1/settlements/preview"):
        response = world.client.post(path, json=claim, headers=world.hospital_headers(3))
        assert_problem(response, 403)
    assert row_counts(settings) == before


def test_a_hospital_key_may_not_read_another_hospitals_settlement_or_its_statement(
    world: World,
) -> None:
    bill = settled(world, level=3)
    url = f"/v1/settlements/{bill['settlement_id']}"
    assert_problem(world.client.get(url, headers=world.hospital_headers(2)), 403)
    assert_problem(world.client.get(f"{url}/statement", headers=world.hospital_headers(2)), 403)


def test_a_hospital_key_may_not_reverse_another_hospitals_settlement(
    world: World, settings: Settings
) -> None:
    bill = settled(world, level=3)
    url = f"/v1/settlements/{bill['settlement_id']}"
    before = row_counts(settings)
    response = world.client.post(
        f"{url}/reversal", json={"reason": "越权冲正"}, headers=world.hospital_headers(2)
    )
    assert_problem(response, 403)
    assert row_counts(settings) == before
    assert world.client.get(url, headers=world.hospital_headers(3)).json() == bill


# ---------------------------------------------------------------- 403: finance


def test_finance_may_read_the_settlements_and_statements_of_every_hospital(world: World) -> None:
    for level in (1, 2, 3):
        bill = settled(world, level=level)
        url = f"/v1/settlements/{bill['settlement_id']}"
        fetched = world.client.get(url, headers=world.auth(world.keys.finance))
        assert fetched.status_code == 200, fetched.text
        assert fetched.json() == bill
        statement = world.client.get(f"{url}/statement", headers=world.auth(world.keys.finance))
        assert statement.status_code == 200, statement.text
        assert statement.headers["content-type"].startswith("text/html")
        assert bill["settlement_id"] in statement.text


def test_finance_may_not_settle_preview_or_reverse(world: World, settings: Settings) -> None:
    bill = settled(world, level=3)
    url = f"/v1/settlements/{bill['settlement_id']}"
    finance = world.auth(world.keys.finance)
    before = row_counts(settings)
    assert_problem(world.client.post("/v1/settlements", json=world.claim(), headers=finance), 403)
    preview = world.client.post("/v1/settlements/preview", json=world.claim(), headers=finance)
    assert_problem(preview, 403)
    reversal = world.client.post(f"{url}/reversal", json={"reason": "财务冲正"}, headers=finance)
    assert_problem(reversal, 403)
    assert row_counts(settings) == before
    assert world.client.get(url, headers=finance).json()["status"] == "settled"


# ---------------------------------------------------------------- 403: registries


def test_only_admin_may_put_hospitals_and_persons(world: World, settings: Settings) -> None:
    before = row_counts(settings)
    for key in (world.keys.finance, world.keys.hospital[world.hospitals[3]]):
        existing = world.client.put(
            f"/v1/hospitals/{world.hospitals[3]}", json=HOSPITAL_BODY, headers=world.auth(key)
        )
        assert_problem(existing, 403)
        new = world.client.put(
            f"/v1/hospitals/H{world.tag}NEW", json=HOSPITAL_BODY, headers=world.auth(key)
        )
        assert_problem(new, 403)
        person = world.client.put(
            f"/v1/persons/{world.persons['dibao']}", json=PERSON_BODY, headers=world.auth(key)
        )
        assert_problem(person, 403)
        new_person = world.client.put(
            f"/v1/persons/P{world.tag}NEW", json=PERSON_BODY, headers=world.auth(key)
        )
        assert_problem(new_person, 403)
    assert row_counts(settings) == before
    hospital = world.client.get(
        f"/v1/hospitals/{world.hospitals[3]}", headers=world.auth(world.keys.admin)
    )
    assert hospital.json()["name"] == "测试医院3"
    assert hospital.json()["level"] == 3


def test_only_admin_may_read_a_person(world: World) -> None:
    url = f"/v1/persons/{world.persons['dibao']}"
    for key in (world.keys.finance, world.keys.hospital[world.hospitals[3]]):
        assert_problem(world.client.get(url, headers=world.auth(key)), 403)
    assert world.client.get(url, headers=world.auth(world.keys.admin)).status_code == 200
