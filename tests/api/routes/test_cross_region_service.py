"""The service side of rules §12–14: a hospital of another region settles a cross-region claim
with its filing; what a cross-region claim lacks, or an in-region one has too many of, is
refused with every problem named and nothing written; a claim settled before `filing` existed
replays as the same claim."""

from __future__ import annotations

from typing import Any

from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.keys import create_key
from tests.support.db import row_counts
from tests.support.world import World


def liaoning_hospital(world: World, settings: Settings, region: str = "210000") -> tuple[str, str]:
    """A level-3 hospital of `region` registered through the admin API, and its key."""
    hospital_id = f"H{world.tag}L{region[:2]}"
    response = world.client.put(
        f"/v1/hospitals/{hospital_id}",
        json={"name": "中国医科大学附属第一医院", "level": 3, "region": region},
        headers=world.auth(world.keys.admin),
    )
    assert response.status_code in (200, 201), response.text
    engine = make_engine(settings)
    with write_session(engine) as session:
        key, _ = create_key(session, "hospital", hospital_id, "test")
        session.commit()
    engine.dispose()
    return hospital_id, key


def post(world: World, key: str, claim: dict[str, Any], path: str = "/v1/settlements") -> Any:
    return world.client.post(path, json=claim, headers=world.auth(key))


def test_a_cross_region_claim_settles_on_liaonings_catalog_and_jilins_policy(
    world: World, settings: Settings
) -> None:
    hospital_id, key = liaoning_hospital(world, settings)
    claim = world.claim("e2", hospital_id=hospital_id, filing="referral")
    response = post(world, key, claim)
    assert response.status_code == 201, response.text
    bill = response.json()
    assert (bill["insured_region"], bill["treatment_region"]) == ("220000", "210000")
    assert (bill["tariff_version"], bill["catalog_version"]) == ("220000-2018", "210000-2018")
    assert bill["filing"] == "referral"
    # X1 of tests/settlement/test_additions_examples.py: the same bill, computed by hand there.
    assert [fund["paid"] for fund in bill["funds"]] == [
        "10749.04", "2334.56", "3932.58", "2977.52", "0.00",
    ]  # fmt: skip
    assert bill["totals"]["patient_pay"] == "4106.30"
    fetched = world.client.get(f"/v1/settlements/{bill['settlement_id']}", headers=world.auth(key))
    assert fetched.json() == bill
    again = post(world, key, claim)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_cross_region_claim_without_filing_is_refused_naming_every_problem(
    world: World, settings: Settings
) -> None:
    hospital_id, key = liaoning_hospital(world, settings)
    claim = world.claim("e2", hospital_id=hospital_id)
    claim["items"][0]["item_code"] = "X9999"
    claim["discharge_date"] = "2018-02-01"
    before = row_counts(settings)
    for path in ("/v1/settlements", "/v1/settlements/preview"):
        response = post(world, key, claim, path)
        assert response.status_code == 422, response.text
        codes = {error["code"] for error in response.json()["errors"]}
        assert {"filing_required", "unknown_item_code", "discharge_before_admission"} <= codes
        (filing,) = [e for e in response.json()["errors"] if e["code"] == "filing_required"]
        assert filing["loc"] == ["body", "filing"]
        assert "220000" in filing["msg"]
        assert "210000" in filing["msg"]
    assert row_counts(settings) == before


def test_an_in_region_claim_with_a_filing_and_an_unknown_filing_are_refused(
    world: World, settings: Settings
) -> None:
    hospital_id, key = liaoning_hospital(world, settings)
    before = row_counts(settings)
    response = post(
        world, world.keys.hospital[world.hospitals[3]], world.claim("e2", filing="referral")
    )
    assert response.status_code == 422, response.text
    assert [error["code"] for error in response.json()["errors"]] == ["filing_not_allowed"]
    response = post(world, key, world.claim("e2", hospital_id=hospital_id, filing="holiday"))
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "filing"]]
    assert row_counts(settings) == before


def test_a_treatment_region_without_a_tariff_on_the_discharge_date_is_refused(
    world: World, settings: Settings
) -> None:
    """210000-2018 runs to 2019-12-31; a hospital of 110000 has no tariff at all."""
    before = row_counts(settings)
    hospital_id, key = liaoning_hospital(world, settings, region="110000")
    response = post(world, key, world.claim("e2", hospital_id=hospital_id, filing="emergency"))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["errors"]
    assert problem["code"] == "no_tariff"
    assert "treatment region 110000" in problem["msg"]
    assert "2018-03-12" in problem["msg"]
    counts = row_counts(settings)
    assert counts["settlement"] == before["settlement"]
    assert counts["fund_posting"] == before["fund_posting"]


def test_a_claim_without_filing_hashes_as_before_filing_existed_and_null_is_the_same(
    world: World,
) -> None:
    """The idempotency hash leaves out a filing that is not there: a hospital that posted a
    claim before `filing` existed, and posts it again, gets a replay, not a 409."""
    from api.core.contract import ClaimIn
    from api.services.settlements import claim_hash

    body = world.claim("e2")
    without = ClaimIn.model_validate(body)
    with_null = ClaimIn.model_validate({**body, "filing": None})
    assert claim_hash(without) == claim_hash(with_null)
    assert "filing" not in without.identity_json()
    key = world.keys.hospital[world.hospitals[3]]
    first = post(world, key, body)
    assert first.status_code == 201, first.text
    second = post(world, key, {**body, "filing": None})
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
