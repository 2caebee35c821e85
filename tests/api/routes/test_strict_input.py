"""Strict parsing where money, dates and ids enter (issue 11): dates only as `YYYY-MM-DD`, a key
given twice in one JSON object refused naming the key, ids that are never `.` or `..`. Each
refusal is a 422 problem that names the problem and writes nothing, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.core.config import Settings
from tests.support.db import row_counts
from tests.support.world import World

SETTLE = "/v1/settlements"
PREVIEW = "/v1/settlements/preview"
JSON = {"Content-Type": "application/json"}


def problem(response: Any, kind: str) -> list[dict[str, Any]]:
    """The 422's errors of this kind (there is at least one)."""
    assert response.status_code == 422, response.text
    errors = [error for error in response.json()["errors"] if error["code"] == kind]
    assert errors, response.text
    return errors


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "written",
    [1520000000, "2018-03-12T00:00:00", "2018-03-12T00:00:00Z", "20180312", "2018-3-12",
     " 2018-03-12", "2018-03-12 ", "２０１８-03-12", None],
)  # fmt: skip
@pytest.mark.parametrize("path", [SETTLE, PREVIEW])
def test_a_claim_date_is_only_ever_yyyy_mm_dd(
    world: World, settings: Settings, path: str, written: Any
) -> None:
    before = row_counts(settings)
    claim = world.claim("e2", discharge_date=written)
    response = world.client.post(path, json=claim, headers=world.hospital_headers())
    assert response.status_code == 422, response.text
    assert ["body", "discharge_date"] in [error["loc"] for error in response.json()["errors"]]
    assert row_counts(settings) == before


def test_a_person_date_is_only_ever_yyyy_mm_dd(world: World, settings: Settings) -> None:
    before = row_counts(settings)
    person = {
        "name": "测试", "id_number": "22010219600501123X", "birth_date": "1960-05-01T00:00:00",
        "gender": "female", "insured_region": "220000",
        "statuses": [{"group": "dibao", "valid_from": 1483228800, "valid_to": None}],
    }  # fmt: skip
    response = world.client.put(
        f"/v1/persons/P{world.tag}DATE", json=person, headers=world.auth(world.keys.admin)
    )
    locations = [error["loc"] for error in problem(response, "date_format")]
    assert ["body", "birth_date"] in locations
    assert ["body", "statuses", 0, "valid_from"] in locations
    assert row_counts(settings) == before


@pytest.mark.parametrize("written", ["2018-03-01T00:00:00", "1519862400", "2018-3-1"])
def test_a_period_date_is_only_ever_yyyy_mm_dd(world: World, written: str) -> None:
    response = world.client.get(
        "/v1/reconciliation/totals",
        params={"date_from": written, "date_to": "2018-03-31"},
        headers=world.auth(world.keys.finance),
    )
    assert problem(response, "date_format")[0]["loc"] == ["query", "date_from"]


def test_a_well_written_date_still_settles(world: World) -> None:
    response = world.client.post(SETTLE, json=world.claim("e2"), headers=world.hospital_headers())
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------- keys given twice


def claim_text(world: World) -> str:
    return json.dumps(world.claim("e2"), ensure_ascii=False)


def doubled_top_level(world: World) -> tuple[str, str]:
    text = claim_text(world)
    return text.replace('"surgery": ', '"surgery": false, "surgery": ', 1), "surgery"


def doubled_in_a_line(world: World) -> tuple[str, str]:
    text = claim_text(world)
    return text.replace('"amount": ', '"amount": "0.00", "amount": ', 1), "amount"


def doubled_by_an_escape(world: World) -> tuple[str, str]:
    text = claim_text(world)
    return text.replace('"quantity": ', '"quantity": "1", "quantit\\u0079": ', 1), "quantity"


def doubled_in_another_line(world: World) -> tuple[str, str]:
    """One line with its code twice and the next without: the keys add up, the objects don't."""
    claim = world.claim("e2")
    first, second = claim["items"][0], claim["items"][1]
    first_text = json.dumps(first)[:-1] + f', "item_code": "{second["item_code"]}"}}'
    second_text = json.dumps({k: v for k, v in second.items() if k != "item_code"})
    text = json.dumps(claim)
    text = text.replace(json.dumps(first), first_text, 1).replace(
        json.dumps(second), second_text, 1
    )
    return text, "item_code"


def doubled_optional(world: World) -> tuple[str, str]:
    """The optional `filing` twice: the count proof expects it once when given."""
    text = claim_text(world)
    return text.replace('"surgery": ', '"filing": null, "filing": null, "surgery": ', 1), "filing"


def doubled_optional_spelt_by_a_value(world: World) -> tuple[str, str]:
    """`filing` twice, null then a value: the last must not silently win."""
    claim = world.claim("e2")
    text = json.dumps(claim, ensure_ascii=False)
    return text.replace('"surgery": ', '"filing": null, "filing": "resident", "surgery": ', 1), (
        "filing"
    )


DOUBLED = {
    "a top-level key": doubled_top_level,
    "the optional top-level key": doubled_optional,
    "the optional key, the second with a value": doubled_optional_spelt_by_a_value,
    "a line's key": doubled_in_a_line,
    "a key spelt with an escape": doubled_by_an_escape,
    "a key of one line, missing from the next": doubled_in_another_line,
}


@pytest.mark.parametrize("path", [SETTLE, PREVIEW])
@pytest.mark.parametrize("case", DOUBLED)
def test_a_key_given_twice_is_refused_naming_it(
    world: World, settings: Settings, path: str, case: str
) -> None:
    text, key = DOUBLED[case](world)
    before = row_counts(settings)
    response = world.client.post(
        path, content=text.encode(), headers={**world.hospital_headers(), **JSON}
    )
    (error,) = problem(response, "duplicate_key")
    assert repr(key) in error["msg"], error
    assert row_counts(settings) == before


def test_a_value_that_spells_a_key_is_no_duplicate(world: World) -> None:
    """The fast check counts keys in the bytes; a value spelling one sends the body to the
    exact check, which finds every key once."""
    claim = world.claim("e2", diagnoses=["C34.1", "amount"])
    response = world.client.post(SETTLE, json=claim, headers=world.hospital_headers())
    assert response.status_code in (201, 422), response.text
    assert "duplicate_key" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "text", "key"),
    [
        ("PUT", "/v1/hospitals/H{tag}DUP", '{"name": "甲", "name": "乙", "level": 2, "region": "220000"}', "name"),
        ("POST", "/v1/settlements/ST20180312DEADBEEFDEADBEEF/reversal", '{"reason": "a", "reason": "b"}', "reason"),
    ],
)  # fmt: skip
def test_every_parsed_body_refuses_a_key_given_twice(
    world: World, settings: Settings, method: str, path: str, text: str, key: str
) -> None:
    before = row_counts(settings)
    response = world.client.request(
        method, path.format(tag=world.tag), content=text.encode(),
        headers={**world.auth(world.keys.admin), **JSON},
    )  # fmt: skip
    (error,) = problem(response, "duplicate_key")
    assert repr(key) in error["msg"]
    assert row_counts(settings) == before


# ---------------------------------------------------------------- ids


@pytest.mark.parametrize("written", [".", "..", ".hidden", "a/b", "", "x" * 65])
def test_an_id_in_a_body_is_never_dots_nor_a_path(
    world: World, settings: Settings, written: str
) -> None:
    before = row_counts(settings)
    claim = world.claim("e2", claim_id=written)
    response = world.client.post(SETTLE, json=claim, headers=world.hospital_headers())
    assert response.status_code == 422, response.text
    assert ["body", "claim_id"] in [error["loc"] for error in response.json()["errors"]]
    assert row_counts(settings) == before


@pytest.mark.parametrize("written", [".hidden", "..H", ".H"])
def test_an_id_in_a_path_never_starts_with_a_dot(
    world: World, settings: Settings, written: str
) -> None:
    """(`.` and `..` themselves never reach a route: HTTP clients resolve them in the path.)"""
    before = row_counts(settings)
    response = world.client.put(
        f"/v1/hospitals/{written}",
        json={"name": "点", "level": 2, "region": "220000"},
        headers=world.auth(world.keys.admin),
    )
    assert response.status_code == 422, response.text
    assert row_counts(settings) == before


@pytest.mark.parametrize("filing", ["absent", "null"])
def test_a_claim_with_or_without_the_optional_filing_is_read_by_the_fast_parse(
    world: World, filing: str
) -> None:
    """The optional key keeps the one-step parse's count proof: given once or not at all."""
    from api.core.body import _counted_once, _key_counts
    from api.core.contract import ClaimIn

    claim = world.claim("e2")
    if filing == "null":
        claim["filing"] = None
    body = json.dumps(claim).encode()
    keys = _key_counts(ClaimIn)
    assert keys is not None
    assert _counted_once(keys, body, ClaimIn.model_validate_json(body))
    response = world.client.post(SETTLE, content=body, headers={**world.hospital_headers(), **JSON})
    assert response.status_code == 201, response.text
