"""Settling over HTTP: idempotent replays and conflicts, reversals that restore the accumulators,
previews that write nothing, and refusals that name every problem and write nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.core.config import Settings
from tests.support.db import row_counts
from tests.support.world import World

PROBLEM_JSON = "application/problem+json"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
ZERO_ACCUMULATORS_2018 = {
    "year": 2018,
    "admissions": 0,
    "basic_paid": "0.00",
    "ci_base": "0.00",
    "ci_paid": "0.00",
    "assistance_paid": "0.00",
    "charity_paid": "0.00",
    "health_paid": "0.00",
    "patient_paid": "0.00",
}
E2_DIBAO_LEVEL3_TOTALS = {
    "total": "24100.00",
    "basic_insurance": "12184.32",
    "critical_illness": "1105.93",
    "medical_assistance": "3178.64",
    "charity": "2726.21",
    "fund_total": "19195.10",
    "patient_pay": "4904.90",
}
FUND_ORDER = [
    "basic_insurance",
    "critical_illness",
    "medical_assistance",
    "charity",
    "health_fund",
]


def settle(world: World, claim: dict[str, Any], level: int = 3) -> httpx.Response:
    response: httpx.Response = world.client.post(
        "/v1/settlements", json=claim, headers=world.hospital_headers(level)
    )
    return response


def reverse(world: World, settlement_id: str, level: int = 3) -> httpx.Response:
    response: httpx.Response = world.client.post(
        f"/v1/settlements/{settlement_id}/reversal",
        json={"reason": "医院冲正：重复上传"},
        headers=world.hospital_headers(level),
    )
    return response


def accumulators(world: World, person: str = "dibao", year: int = 2018) -> dict[str, Any]:
    response = world.client.get(
        f"/v1/persons/{world.persons[person]}/accumulators",
        params={"year": year},
        headers=world.auth(world.keys.admin),
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def problem_errors(response: httpx.Response, status: int) -> set[tuple[tuple[Any, ...], str]]:
    """The (loc, code) pairs of a problem+json answer, after checking its RFC 9457 shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert body["detail"]
    for error in body["errors"]:
        assert error["msg"], error
    pairs = [(tuple(error["loc"]), error["code"]) for error in body["errors"]]
    assert len(pairs) == len(set(pairs)), pairs
    return set(pairs)


def assert_refused_and_nothing_written(
    world: World,
    settings: Settings,
    claim: dict[str, Any],
    expected: set[tuple[tuple[Any, ...], str]],
    *,
    path: str = "/v1/settlements",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    before = row_counts(settings)
    response: httpx.Response = world.client.post(
        path, json=claim, headers=headers or world.hospital_headers(3)
    )
    assert problem_errors(response, 422) == expected
    assert row_counts(settings) == before
    return response


# ---------------------------------------------------------------- idempotency


def test_posting_the_same_claim_again_replays_the_settlement_with_200_and_writes_nothing(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2")
    first = settle(world, claim)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"/v1/settlements/{first.json()['settlement_id']}"
    assert "Idempotent-Replayed" not in first.headers
    before = row_counts(settings)
    replay = settle(world, claim)
    assert replay.status_code == 200, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert row_counts(settings) == before


def test_a_replay_with_the_fields_in_another_order_is_still_the_same_claim(world: World) -> None:
    claim = world.claim("e2")
    first = settle(world, claim)
    assert first.status_code == 201, first.text
    reordered = dict(reversed(list(claim.items())))
    reordered["items"] = [dict(reversed(list(item.items()))) for item in claim["items"]]
    replay = settle(world, reordered)
    assert replay.status_code == 200, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()


def test_the_same_claim_id_with_a_different_body_is_a_409_problem_and_writes_nothing(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2")
    first = settle(world, claim)
    assert first.status_code == 201, first.text
    changed = {**claim, "items": [dict(item) for item in claim["items"]]}
    changed["items"][0].update(quantity="12", amount="540.00")
    before = row_counts(settings)
    conflict = settle(world, changed)
    assert problem_errors(conflict, 409) == {(("body", "claim_id"), "conflict")}
    assert first.json()["settlement_id"] in conflict.json()["detail"]
    assert row_counts(settings) == before
    stored = world.client.get(
        f"/v1/settlements/{first.json()['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert stored.json() == first.json()


def test_after_a_reversal_the_claim_settles_anew_with_a_new_id_and_the_first_figures(
    world: World,
) -> None:
    claim = world.claim("e2")
    first = settle(world, claim)
    assert first.status_code == 201, first.text
    reversed_ = reverse(world, first.json()["settlement_id"])
    assert reversed_.status_code == 200, reversed_.text
    again = settle(world, claim)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    one, two = first.json(), again.json()
    assert two["settlement_id"] != one["settlement_id"]
    assert two["status"] == "settled"
    assert two["reversed_at"] is None
    assert two["claim_id"] == one["claim_id"]
    assert two["totals"] == one["totals"]
    assert two["items"] == one["items"]
    assert two["funds"] == one["funds"]
    assert two["accumulators_after"] == one["accumulators_after"]
    assert {k: two["totals"][k] for k in E2_DIBAO_LEVEL3_TOTALS} == E2_DIBAO_LEVEL3_TOTALS
    # The first stays reversed, and a replay now answers with the new settlement.
    old = world.client.get(
        f"/v1/settlements/{one['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert old.json()["status"] == "reversed"
    replay = settle(world, claim)
    assert replay.status_code == 200, replay.text
    assert replay.json()["settlement_id"] == two["settlement_id"]


# ---------------------------------------------------------------- reversal


def test_a_reversal_answers_200_with_status_reversed_and_the_time_it_was_reversed(
    world: World,
) -> None:
    bill = settle(world, world.claim("e2")).json()
    response = reverse(world, bill["settlement_id"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["status"] == "reversed"
    assert document["settlement_id"] == bill["settlement_id"]
    assert document["reversed_at"] is not None
    assert RFC3339_UTC.match(document["reversed_at"]), document["reversed_at"]
    assert document["reversed_at"] >= document["settled_at"]
    assert document["settled_at"] == bill["settled_at"]
    assert document["totals"] == bill["totals"]
    assert document["items"] == bill["items"]
    assert document["funds"] == bill["funds"]
    fetched = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert fetched.json() == document


def test_repeating_a_reversal_returns_the_same_document_and_writes_nothing(
    world: World, settings: Settings
) -> None:
    bill = settle(world, world.claim("e2")).json()
    first = reverse(world, bill["settlement_id"])
    assert first.status_code == 200, first.text
    before = row_counts(settings)
    again = reverse(world, bill["settlement_id"])
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert row_counts(settings) == before
    assert accumulators(world) == ZERO_ACCUMULATORS_2018


def test_a_reversal_restores_the_accumulators_to_what_they_were_before_the_settlement(
    world: World,
) -> None:
    assert accumulators(world) == ZERO_ACCUMULATORS_2018
    bill = settle(world, world.claim("e2")).json()
    after = accumulators(world)
    assert after == bill["accumulators_after"]
    assert after["admissions"] == 1
    assert after["basic_paid"] == "12184.32"
    assert after["ci_paid"] == "1105.93"
    assert after["assistance_paid"] == "3178.64"
    assert after["charity_paid"] == "2726.21"
    assert reverse(world, bill["settlement_id"]).status_code == 200
    assert accumulators(world) == ZERO_ACCUMULATORS_2018


def test_reversing_the_first_of_two_settlements_leaves_exactly_the_seconds_contributions(
    world: World,
) -> None:
    first = settle(world, world.claim("e2")).json()
    second = settle(world, world.claim("e1")).json()
    assert second["accumulators_after"]["admissions"] == 2
    assert reverse(world, first["settlement_id"]).status_code == 200
    totals = second["totals"]
    ci_base = Decimal(totals["in_scope"]) - Decimal(totals["basic_insurance"])
    assert accumulators(world) == {
        "year": 2018,
        "admissions": 1,
        "basic_paid": totals["basic_insurance"],
        "ci_base": f"{ci_base:.2f}",
        "ci_paid": totals["critical_illness"],
        "assistance_paid": totals["medical_assistance"],
        "charity_paid": totals["charity"],
        "health_paid": totals["health_fund"],
        "patient_paid": totals["patient_pay"],
    }


def test_reversing_an_unknown_settlement_is_a_404_problem(world: World) -> None:
    response = world.client.post(
        "/v1/settlements/ST20180312DEADBEEFDEADBEEF/reversal",
        json={"reason": "不存在"},
        headers=world.auth(world.keys.admin),
    )
    assert problem_errors(response, 404) == set()


def test_a_reversal_without_a_reason_is_refused_and_the_settlement_stays_settled(
    world: World, settings: Settings
) -> None:
    bill = settle(world, world.claim("e2")).json()
    before = row_counts(settings)
    response = world.client.post(
        f"/v1/settlements/{bill['settlement_id']}/reversal",
        json={},
        headers=world.hospital_headers(3),
    )
    assert problem_errors(response, 422) == {(("body", "reason"), "missing")}
    assert row_counts(settings) == before
    fetched = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert fetched.json()["status"] == "settled"


# ---------------------------------------------------------------- preview


def test_a_preview_gives_the_settlement_figures_with_no_id_and_writes_nothing(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2")
    before = row_counts(settings)
    preview = world.client.post(
        "/v1/settlements/preview", json=claim, headers=world.hospital_headers(3)
    )
    assert preview.status_code == 200, preview.text
    assert row_counts(settings) == before
    assert accumulators(world) == ZERO_ACCUMULATORS_2018
    shown = preview.json()
    assert shown["status"] == "preview"
    assert shown["settlement_id"] is None
    assert shown["settled_at"] is None
    assert shown["reversed_at"] is None
    assert {k: shown["totals"][k] for k in E2_DIBAO_LEVEL3_TOTALS} == E2_DIBAO_LEVEL3_TOTALS
    settled = settle(world, claim)
    assert settled.status_code == 201, settled.text
    bill = settled.json()
    assert shown["totals"] == bill["totals"]
    assert shown["items"] == bill["items"]
    assert shown["funds"] == bill["funds"]
    assert shown["accumulators_after"] == bill["accumulators_after"]
    assert shown["group"] == bill["group"] == "dibao"
    assert shown["charity_disease"] == bill["charity_disease"] == "肺癌"


def test_a_preview_after_a_settlement_counts_it_as_an_earlier_admission(world: World) -> None:
    settle(world, world.claim("e2"))
    before = accumulators(world)
    preview = world.client.post(
        "/v1/settlements/preview", json=world.claim("e2"), headers=world.hospital_headers(3)
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["accumulators_after"]["admissions"] == 2
    assert accumulators(world) == before


# ---------------------------------------------------------------- engine rejections

Loc = tuple[Any, ...]


def _every_problem_at_once(world: World) -> dict[str, Any]:
    """A claim with a problem of every kind the engine names in a claim or on a line."""
    claim = world.claim(
        "e2", admission_date="2018-03-20", discharge_date="2018-03-12", diagnoses=["XYZ"]
    )
    items = claim["items"]
    items[0]["item_code"] = "ZZ0001"
    items[1]["amount"] = "12000.01"
    items[2].update(quantity="0", amount="0.00")
    items[3]["item_code"] = "ZZ0002"
    items[4]["line_no"] = items[3]["line_no"]
    items[5]["amount"] = "-3600.00"
    items[6]["amount"] = "105.001"
    items[7].update(quantity="11.00001", unit_price="25.0000001")
    return claim


def _lines(count: int) -> Callable[[World], dict[str, Any]]:
    line = {"item_code": "A0002", "quantity": "1", "unit_price": "3.50", "amount": "3.50"}
    return lambda world: world.claim(
        "e2", items=[{"line_no": n, **line} for n in range(1, count + 1)]
    )


ENGINE_REFUSALS: dict[str, tuple[Callable[[World], dict[str, Any]], set[tuple[Loc, str]], str]] = {
    "every problem of the claim and its lines at once": (
        _every_problem_at_once,
        {
            (("body", "discharge_date"), "discharge_before_admission"),
            (("body", "diagnoses", 0), "invalid_diagnosis"),
            (("body", "items", 0, "item_code"), "unknown_item_code"),
            (("body", "items", 1, "amount"), "amount_mismatch"),
            (("body", "items", 2, "quantity"), "quantity_not_positive"),
            (("body", "items", 3, "item_code"), "unknown_item_code"),
            (("body", "items", 4, "line_no"), "duplicate_line_no"),
            (("body", "items", 5, "amount"), "negative_amount"),
            (("body", "items", 6, "amount"), "too_many_decimals"),
            (("body", "items", 7, "quantity"), "too_many_decimals"),
            (("body", "items", 7, "unit_price"), "too_many_decimals"),
        },
        "ZZ0001 ZZ0002",
    ),
    "no lines": (_lines(0), {(("body", "items"), "no_lines")}, ""),
    "5,001 lines": (_lines(5001), {(("body", "items"), "too_many_lines")}, "5001"),
    "a discharge in a year without a tariff": (
        lambda world: world.claim("e2", admission_date="2021-03-01", discharge_date="2021-03-12"),
        {(("body", "discharge_date"), "no_tariff")},
        "",
    ),
}
"""Claims the engine refuses, the (loc, code) of every problem the answer must list, and words
its messages must hold. The engine's rules themselves are tested in
tests/settlement/test_rejections.py; here, how a rejection is answered over HTTP."""


@pytest.mark.parametrize("path", ["/v1/settlements", "/v1/settlements/preview"])
@pytest.mark.parametrize("refusal", ENGINE_REFUSALS)
def test_a_claim_the_engine_refuses_is_a_422_problem_listing_every_problem_and_writes_nothing(
    world: World, settings: Settings, refusal: str, path: str
) -> None:
    build, expected, named = ENGINE_REFUSALS[refusal]
    response = assert_refused_and_nothing_written(
        world, settings, build(world), expected, path=path
    )
    assert response.json()["type"].endswith("/claim-refused")
    messages = " ".join(error["msg"] for error in response.json()["errors"])
    for word in named.split():
        assert word in messages


def test_a_claim_of_5000_lines_is_settled(world: World) -> None:
    claim = _lines(5000)(world)
    response = settle(world, claim)
    assert response.status_code == 201, response.text[:500]
    assert response.json()["totals"]["total"] == "17500.00"
    assert len(response.json()["items"]) == 5000


# ---------------------------------------------------------------- schema refusals


def test_money_written_as_json_numbers_is_refused_with_a_message_to_write_a_string(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2")
    claim["items"][0]["amount"] = 495.0
    claim["items"][1]["unit_price"] = 12000
    response = assert_refused_and_nothing_written(
        world,
        settings,
        claim,
        {
            (("body", "items", 0, "amount"), "string_type"),
            (("body", "items", 1, "unit_price"), "string_type"),
        },
    )
    for error in response.json()["errors"]:
        assert "string" in error["msg"]
        assert "number" in error["msg"]


def test_a_misspelt_field_is_refused_as_unknown_and_the_real_one_as_missing(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2")
    claim["surgry"] = claim.pop("surgery")
    assert_refused_and_nothing_written(
        world,
        settings,
        claim,
        {(("body", "surgry"), "extra_forbidden"), (("body", "surgery"), "missing")},
    )


def test_an_unknown_field_on_a_line_is_refused(world: World, settings: Settings) -> None:
    claim = world.claim("e2")
    claim["items"][0]["selfpay_ratio"] = "0.00"
    assert_refused_and_nothing_written(
        world, settings, claim, {(("body", "items", 0, "selfpay_ratio"), "extra_forbidden")}
    )


def test_a_missing_field_is_refused(world: World, settings: Settings) -> None:
    claim = world.claim("e2")
    del claim["diagnoses"]
    assert_refused_and_nothing_written(world, settings, claim, {(("body", "diagnoses"), "missing")})


def test_a_malformed_json_body_is_refused_as_a_problem(world: World, settings: Settings) -> None:
    before = row_counts(settings)
    response = world.client.post(
        "/v1/settlements",
        content=b'{"claim_id": "ZY1", "items": [',
        headers={**world.hospital_headers(3), "Content-Type": "application/json"},
    )
    errors = problem_errors(response, 422)
    assert {code for _, code in errors} == {"json_invalid"}
    assert row_counts(settings) == before


def test_an_empty_list_of_diagnoses_is_refused(world: World, settings: Settings) -> None:
    claim = world.claim("e2", diagnoses=[])
    assert_refused_and_nothing_written(
        world, settings, claim, {(("body", "diagnoses"), "too_short")}
    )


def test_every_schema_problem_of_one_body_is_listed(world: World, settings: Settings) -> None:
    claim = world.claim("e2", surgery="yes", diagnoses=[])
    claim["items"][0]["amount"] = 495.0
    claim["items"][1]["colour"] = "red"
    del claim["discharge_date"]
    assert_refused_and_nothing_written(
        world,
        settings,
        claim,
        {
            (("body", "discharge_date"), "missing"),
            (("body", "diagnoses"), "too_short"),
            (("body", "surgery"), "bool_type"),
            (("body", "items", 0, "amount"), "string_type"),
            (("body", "items", 1, "colour"), "extra_forbidden"),
        },
    )


def test_an_unknown_hospital_and_an_unknown_person_are_both_named(
    world: World, settings: Settings
) -> None:
    claim = world.claim("e2", hospital_id="HNOSUCH", person_id="PNOSUCH")
    assert_refused_and_nothing_written(
        world,
        settings,
        claim,
        {(("body", "hospital_id"), "unknown_hospital"), (("body", "person_id"), "unknown_person")},
        headers=world.auth(world.keys.admin),
    )


def test_an_unknown_person_is_refused_for_a_hospital_key(world: World, settings: Settings) -> None:
    claim = world.claim("e2", person_id="PNOSUCH")
    assert_refused_and_nothing_written(
        world, settings, claim, {(("body", "person_id"), "unknown_person")}
    )


def test_a_preview_for_an_unknown_person_is_refused(world: World, settings: Settings) -> None:
    claim = world.claim("e2", person_id="PNOSUCH")
    assert_refused_and_nothing_written(
        world,
        settings,
        claim,
        {(("body", "person_id"), "unknown_person")},
        path="/v1/settlements/preview",
    )


# ---------------------------------------------------------------- reading


def test_getting_a_settlement_returns_the_document_the_post_answered(world: World) -> None:
    posted = settle(world, world.claim("e2"))
    assert posted.status_code == 201, posted.text
    bill = posted.json()
    assert bill["status"] == "settled"
    assert RFC3339_UTC.match(bill["settled_at"]), bill["settled_at"]
    assert [fund["fund"] for fund in bill["funds"]] == FUND_ORDER
    for headers in (world.hospital_headers(3), world.auth(world.keys.admin)):
        fetched = world.client.get(f"/v1/settlements/{bill['settlement_id']}", headers=headers)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json() == bill


def test_a_settlement_read_back_keeps_the_lines_in_the_order_they_were_posted(
    world: World,
) -> None:
    claim = world.claim("e2")
    claim["items"] = list(reversed(claim["items"]))
    posted = settle(world, claim)
    assert posted.status_code == 201, posted.text
    assert [item["line_no"] for item in posted.json()["items"]] == [8, 7, 6, 5, 4, 3, 2, 1]
    fetched = world.client.get(
        f"/v1/settlements/{posted.json()['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert fetched.json() == posted.json()


def test_getting_an_unknown_settlement_is_a_404_problem(world: World) -> None:
    response = world.client.get(
        "/v1/settlements/ST20180312DEADBEEFDEADBEEF", headers=world.auth(world.keys.admin)
    )
    assert problem_errors(response, 404) == set()


def test_the_accumulators_of_an_unknown_person_are_a_404_problem(world: World) -> None:
    response = world.client.get(
        "/v1/persons/PNOSUCH/accumulators",
        params={"year": 2018},
        headers=world.auth(world.keys.admin),
    )
    assert problem_errors(response, 404) == set()
