"""Registries (hospitals, persons with masked id numbers), the printable statement (结算单),
the health check, the OpenAPI document and the request-body limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.tables import SETTLEMENT_FUND
from api.main import create_app
from tests.support.db import row_counts
from tests.support.world import World

PROBLEM_JSON = "application/problem+json"
ID_NUMBER = "220102196005021234"
ID_NUMBER_MASKED = "**************1234"
ID_NUMBER_X = "22010219600502123X"
ID_NUMBER_X_MASKED = "**************123X"
FUND_CODES = {
    "basic_insurance": "390100",
    "critical_illness": "390200",
    "medical_assistance": "610100",
    "charity": "999997",
    "health_fund": "610103",
}


def admin(world: World) -> dict[str, str]:
    return world.auth(world.keys.admin)


def person_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "张三",
        "id_number": ID_NUMBER,
        "birth_date": "1960-05-02",
        "gender": "male",
        "insured_region": "220000",
        "statuses": [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}],
    }
    body.update(changes)
    return body


def problem_locs(response: httpx.Response, status: int = 422) -> set[tuple[Any, ...]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    for error in body["errors"]:
        assert error["msg"], error
        assert error["code"], error
    return {tuple(error["loc"]) for error in body["errors"]}


# ---------------------------------------------------------------- hospitals


def test_putting_a_new_hospital_creates_it_with_201_and_putting_it_again_updates_it_with_200(
    world: World,
) -> None:
    hospital_id = f"H{world.tag}R"
    created = world.client.put(
        f"/v1/hospitals/{hospital_id}",
        json={"name": "吉林大学第一医院", "level": 3, "region": "220000"},
        headers=admin(world),
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "hospital_id": hospital_id,
        "name": "吉林大学第一医院",
        "level": 3,
        "region": "220000",
    }
    updated = world.client.put(
        f"/v1/hospitals/{hospital_id}",
        json={"name": "长春市中心医院", "level": 2, "region": "220100"},
        headers=admin(world),
    )
    assert updated.status_code == 200, updated.text
    assert updated.json() == {
        "hospital_id": hospital_id,
        "name": "长春市中心医院",
        "level": 2,
        "region": "220100",
    }
    fetched = world.client.get(f"/v1/hospitals/{hospital_id}", headers=admin(world))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == updated.json()


def test_an_invalid_hospital_is_refused_with_every_problem_listed_and_nothing_written(
    world: World, settings: Settings
) -> None:
    hospital_id = f"H{world.tag}BAD"
    before = row_counts(settings)
    response = world.client.put(
        f"/v1/hospitals/{hospital_id}",
        json={"name": "坏医院", "level": 4, "region": "abc", "grade": "甲等"},
        headers=admin(world),
    )
    assert problem_locs(response) == {("body", "level"), ("body", "region"), ("body", "grade")}
    assert row_counts(settings) == before
    assert world.client.get(f"/v1/hospitals/{hospital_id}", headers=admin(world)).status_code == 404


def test_a_hospital_whose_region_is_not_six_digits_is_refused_and_not_stored(
    world: World, settings: Settings
) -> None:
    hospital_id = f"H{world.tag}REG"
    before = row_counts(settings)
    response = world.client.put(
        f"/v1/hospitals/{hospital_id}",
        json={"name": "坏医院", "level": 2, "region": "abc"},
        headers=admin(world),
    )
    assert problem_locs(response) == {("body", "region")}
    assert row_counts(settings) == before


def test_a_hospital_with_a_missing_field_and_a_bad_id_is_refused(world: World) -> None:
    response = world.client.put(
        "/v1/hospitals/bad id!", json={"name": "坏医院", "level": 1}, headers=admin(world)
    )
    assert problem_locs(response) == {("path", "hospital_id"), ("body", "region")}


# ---------------------------------------------------------------- persons


def test_putting_a_new_person_creates_it_with_201_and_putting_it_again_updates_it_with_200(
    world: World,
) -> None:
    person_id = f"P{world.tag}R"
    created = world.client.put(f"/v1/persons/{person_id}", json=person_body(), headers=admin(world))
    assert created.status_code == 201, created.text
    assert created.json() == {
        "person_id": person_id,
        "name": "张三",
        "id_number": ID_NUMBER_MASKED,
        "birth_date": "1960-05-02",
        "gender": "male",
        "insured_region": "220000",
        "statuses": [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}],
    }
    changed = person_body(
        name="张三丰",
        id_number=ID_NUMBER_X,
        statuses=[
            {"group": "destitute", "valid_from": "2018-01-01", "valid_to": "2018-12-31"},
            {"group": "registered_poor", "valid_from": "2016-01-01", "valid_to": None},
        ],
    )
    updated = world.client.put(f"/v1/persons/{person_id}", json=changed, headers=admin(world))
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "张三丰"
    assert updated.json()["id_number"] == ID_NUMBER_X_MASKED
    assert updated.json()["statuses"] == changed["statuses"]
    fetched = world.client.get(f"/v1/persons/{person_id}", headers=admin(world))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == updated.json()


def test_a_persons_id_number_is_never_shown_in_full(world: World) -> None:
    person_id = f"P{world.tag}M"
    created = world.client.put(f"/v1/persons/{person_id}", json=person_body(), headers=admin(world))
    fetched = world.client.get(f"/v1/persons/{person_id}", headers=admin(world))
    for response in (created, fetched):
        assert response.status_code in (200, 201), response.text
        assert response.json()["id_number"] == ID_NUMBER_MASKED
        assert ID_NUMBER not in response.text
        assert ID_NUMBER[:14] not in response.text


def test_an_invalid_person_is_refused_with_every_problem_listed_and_nothing_written(
    world: World, settings: Settings
) -> None:
    person_id = f"P{world.tag}BAD"
    before = row_counts(settings)
    body = person_body(
        id_number="22010219600502123",
        nickname="小张",
        statuses=[{"group": "wealthy", "valid_from": "2017-01-01", "valid_to": None}],
    )
    response = world.client.put(f"/v1/persons/{person_id}", json=body, headers=admin(world))
    assert problem_locs(response) == {
        ("body", "id_number"),
        ("body", "nickname"),
        ("body", "statuses", 0, "group"),
    }
    assert row_counts(settings) == before
    assert world.client.get(f"/v1/persons/{person_id}", headers=admin(world)).status_code == 404


def test_an_invalid_update_leaves_the_person_as_it_was(world: World, settings: Settings) -> None:
    person_id = world.persons["dibao"]
    stored = world.client.get(f"/v1/persons/{person_id}", headers=admin(world)).json()
    before = row_counts(settings)
    body = person_body(gender="m", insured_region="22", birth_date="1960-13-01")
    response = world.client.put(f"/v1/persons/{person_id}", json=body, headers=admin(world))
    assert problem_locs(response) == {
        ("body", "gender"),
        ("body", "insured_region"),
        ("body", "birth_date"),
    }
    assert row_counts(settings) == before
    assert world.client.get(f"/v1/persons/{person_id}", headers=admin(world)).json() == stored


# ---------------------------------------------------------------- statement


def registered_settlement(world: World, name: str) -> dict[str, Any]:
    """A person of the given name registered with ID_NUMBER, and E2 settled for them."""
    person_id = f"P{world.tag}S{len(name)}"
    put = world.client.put(
        f"/v1/persons/{person_id}", json=person_body(name=name), headers=admin(world)
    )
    assert put.status_code == 201, put.text
    posted = world.client.post(
        "/v1/settlements",
        json=world.claim("e2", person_id=person_id),
        headers=world.hospital_headers(3),
    )
    assert posted.status_code == 201, posted.text
    bill: dict[str, Any] = posted.json()
    return bill


def test_the_statement_is_html_with_chinese_labels_every_line_and_every_fund(
    world: World,
) -> None:
    bill = registered_settlement(world, "李四")
    response = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}/statement", headers=world.hospital_headers(3)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for label in (
        "结算单", "统筹基金", "大病保险", "医疗救助", "慈善救助", "健康扶贫基金", "个人负担",
        "违规自付", "参保地", "就医地", "备案类别", "目录版本",
    ):  # fmt: skip
        assert label in html, label
    assert bill["settlement_id"] in html
    assert bill["claim_id"] in html
    assert "李四" in html
    assert "已结算" in html
    assert "肺癌" in html
    for code in ("S0001", "S0002", "B0002", "B0001", "C0001", "M0001", "A0002", "S0003"):
        assert code in html, code
    for item in bill["items"]:
        assert item["item_name"] in html
    assert [fund["fund_code"] for fund in bill["funds"]] == list(FUND_CODES.values())
    for code in FUND_CODES.values():
        assert code in html, code
    for figure in ("24100.00", "12184.32", "1105.93", "3178.64", "2726.21", "4904.90"):
        assert figure in html, figure
    assert ID_NUMBER_MASKED in html
    assert ID_NUMBER not in html
    assert ID_NUMBER[:14] not in html
    # Every explanation line is in Chinese on the printed slip, and E2 is in-region.
    assert "政策范围内 19195.10 − 起付线 450.00 = 18745.10 × 0.65 = 12184.315 → 12184.32" in html
    assert "pays" not in html
    assert "deductible" not in html
    assert "<td>备案类别</td><td>无</td>" in html
    assert "异地就医" not in html
    assert "合理性审核" not in html


def _statement(world: World, bill: dict[str, Any], headers: dict[str, str]) -> str:
    response = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}/statement", headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html: str = response.text
    return html


def _posted(world: World, claim: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = world.client.post("/v1/settlements", json=claim, headers=headers)
    assert response.status_code == 201, response.text
    bill: dict[str, Any] = response.json()
    return bill


def test_the_statement_of_x1_shows_both_regions_the_filing_in_chinese_and_the_catalog(
    world: World,
) -> None:
    headers = world.cross_region_headers()
    claim = world.claim("x1", person="dibao", hospital_id=world.cross_region_hospital)
    html = _statement(world, _posted(world, claim, headers), headers)
    assert "<td>参保地</td><td>220000</td>" in html
    assert "<td>就医地</td><td>210000（异地就医）</td>" in html
    assert "<td>备案类别</td><td>转诊转院</td>" in html
    assert "210000-2018（就医地目录）" in html
    assert "220000-2018（2018年度，参保地政策）" in html
    assert "异地就医（转诊转院）：报销比例 − 0.10 = 0.55" in html
    assert "政策 220000-2018 未设健康扶贫基金：支付 0.00" in html
    for figure in ("10749.04", "2334.56", "3932.58", "2977.52", "4106.30"):
        assert figure in html, figure
    assert "pays" not in html
    assert "referral" not in html


def test_the_statement_of_h1_shows_the_health_fund_and_its_chinese_explanation(
    world: World,
) -> None:
    headers = world.hospital_headers(2)
    bill = _posted(world, world.claim("h1", level=2, person="registered_poor"), headers)
    html = _statement(world, bill, headers)
    assert "健康扶贫基金" in html
    assert "610103" in html
    assert '<td class="n">100.00</td>' in html
    assert "政策范围内剩余 385.88 − 个人自付上限 2858.80 × 0.10 = 285.88 → 100.00" in html
    assert "建档立卡贫困人口" in html
    assert "<td>备案类别</td><td>无</td>" in html
    for figure in ("2087.04", "385.88", "2572.92", "778.08"):
        assert figure in html, figure
    assert "pays" not in html


def test_the_statement_of_r1_lists_the_findings_with_their_chinese_names_and_messages(
    world: World,
) -> None:
    headers = world.hospital_headers(2)
    bill = _posted(world, world.claim("r1", level=2, person="male"), headers)
    html = _statement(world, bill, headers)
    assert "合理性审核" in html
    for rule, name, line_no, amount in (
        ("R03", "超住院天数", 1, "90.00"),
        ("R01", "超性别", 2, "120.00"),
        ("R02", "超年龄", 3, "80.00"),
        ("R04", "超限量", 4, "3000.00"),
        ("R03", "超住院天数", 5, "40.00"),
    ):
        row = (
            f"<tr><td>{rule}</td><td>{name}</td><td>第{line_no}行</td><td>不予支付</td>\n"
            f'      <td class="n">{amount}</td>'
        )
        assert row in html, row
    assert (
        "第2行 G0002 宫颈细胞学检查 限女性使用，患者为男性：数量 1 → 0，120.00 元不予支付" in html
    )
    assert '违规自付合计</td><td class="n">3330.00</td>' in html
    assert "5926.25" in html
    assert "refused" not in html
    assert "pays" not in html


def test_a_settlement_stored_without_chinese_explanations_shows_its_stored_english(
    world: World, settings: Settings
) -> None:
    """Settlements stored before migration 0006 have no Chinese explanation lines (NULL)."""
    bill = registered_settlement(world, "赵六")
    engine = make_engine(settings)
    with write_session(engine) as session:
        session.execute(
            update(SETTLEMENT_FUND)
            .where(SETTLEMENT_FUND.c.settlement_id == bill["settlement_id"])
            .values(explanation_zh=None)
        )
        session.commit()
    engine.dispose()
    html = _statement(world, bill, world.hospital_headers(3))
    assert "in scope 19195.10 − deductible 450.00 = 18745.10 × 0.65 = 12184.315 → 12184.32" in html
    assert "政策范围内 19195.10" not in html


def test_the_statement_of_a_reversed_settlement_says_it_is_reversed(world: World) -> None:
    bill = registered_settlement(world, "王五")
    url = f"/v1/settlements/{bill['settlement_id']}"
    reversal = world.client.post(
        f"{url}/reversal", json={"reason": "冲正"}, headers=world.hospital_headers(3)
    )
    assert reversal.status_code == 200, reversal.text
    html = world.client.get(f"{url}/statement", headers=world.hospital_headers(3)).text
    assert "已冲正" in html
    assert "已结算" not in html
    assert reversal.json()["reversed_at"] in html


def test_a_person_name_with_html_is_escaped_in_the_statement(world: World) -> None:
    name = "<script>alert(1)</script>"
    bill = registered_settlement(world, name)
    response = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}/statement", headers=admin(world)
    )
    assert response.status_code == 200, response.text
    assert "<script" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_the_statement_of_an_unknown_settlement_is_a_404_problem(world: World) -> None:
    response = world.client.get(
        "/v1/settlements/ST20180312DEADBEEFDEADBEEF/statement", headers=admin(world)
    )
    assert problem_locs(response, 404) == set()


# ---------------------------------------------------------------- operations


def test_the_health_check_answers_ok_without_a_key(client: TestClient) -> None:
    """…and says nothing else to a caller without an admin key (tests/api/routes/test_surface.py
    has the admin's details)."""
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}


def test_the_openapi_document_names_every_contract_route(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    for method, path in (
        ("put", "/v1/hospitals/{hospital_id}"),
        ("put", "/v1/persons/{person_id}"),
        ("post", "/v1/settlements"),
        ("post", "/v1/settlements/preview"),
        ("get", "/v1/settlements/{settlement_id}"),
        ("post", "/v1/settlements/{settlement_id}/reversal"),
        ("get", "/v1/settlements/{settlement_id}/statement"),
        ("get", "/v1/persons/{person_id}/accumulators"),
    ):
        assert path in paths, path
        assert method in paths[path], (method, path)
        assert "401" in paths[path][method]["responses"], (method, path)


def test_the_openapi_claim_schema_carries_a_complete_example(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    request_body = document["paths"]["/v1/settlements"]["post"]["requestBody"]
    reference = request_body["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert schema["examples"], schema
    example = schema["examples"][0]
    assert set(example) == set(schema["required"])
    assert example["claim_id"] == "ZY20180312001"
    assert example["items"][0]["amount"] == "495.00"
    assert schema["additionalProperties"] is False


def small_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(
        Settings(database_url=settings.database_url, body_bytes_max=1000, key_cache_seconds=0)
    )
    with TestClient(app) as test_client:
        yield test_client


def big_claim(world: World) -> bytes:
    claim = world.claim("e2")
    claim["items"] = claim["items"] * 3
    for number, item in enumerate(claim["items"], start=1):
        item["line_no"] = number
    body = json.dumps(claim).encode()
    assert len(body) > 1000
    return body


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_written(
    world: World, settings: Settings
) -> None:
    body = big_claim(world)
    before = row_counts(settings)
    for test_client in small_client(settings):
        response = test_client.post(
            "/v1/settlements",
            content=body,
            headers={**world.hospital_headers(3), "Content-Type": "application/json"},
        )
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["status"] == 413
        small = test_client.post(
            "/v1/settlements/preview", json=world.claim("e1"), headers=world.hospital_headers(3)
        )
        assert len(small.request.content) < 1000
        assert small.status_code == 200, small.text
    assert row_counts(settings) == before


def test_a_chunked_body_over_the_limit_without_a_length_is_refused_with_413(
    world: World, settings: Settings
) -> None:
    body = big_claim(world)
    before = row_counts(settings)
    for test_client in small_client(settings):
        response = test_client.post(
            "/v1/settlements",
            content=iter([body[:500], body[500:]]),
            headers={**world.hospital_headers(3), "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert row_counts(settings) == before
