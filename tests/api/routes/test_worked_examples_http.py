"""The worked examples settled over HTTP give the engine's figures, on both databases: E1, E2,
E4 (SETTLEMENT_RULES.md §11) and X1, H1, R1 (§12–14, tests/settlement/test_additions_examples.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.world import World


def test_e2_settled_over_http_gives_the_worked_figures_and_a_replay_gives_the_same(
    world: World,
) -> None:
    claim = world.claim("e2", level=3, person="dibao")
    response = world.client.post("/v1/settlements", json=claim, headers=world.hospital_headers(3))
    assert response.status_code == 201, response.text
    bill = response.json()
    assert bill["status"] == "settled"
    assert bill["totals"]["basic_insurance"] == "12184.32"
    assert bill["totals"]["critical_illness"] == "1105.93"
    assert bill["totals"]["medical_assistance"] == "3178.64"
    assert bill["totals"]["charity"] == "2726.21"
    assert bill["totals"]["patient_pay"] == "4904.90"
    assert bill["charity_disease"] == "肺癌"
    assert [item["charity"] for item in bill["items"]] == [
        "62.49", "1704.32", "559.24", "47.93", "0.00", "298.26", "14.91", "39.06",
    ]  # fmt: skip
    replay = world.client.post("/v1/settlements", json=claim, headers=world.hospital_headers(3))
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == bill
    fetched = world.client.get(
        f"/v1/settlements/{bill['settlement_id']}", headers=world.hospital_headers(3)
    )
    assert fetched.status_code == 200
    assert fetched.json() == bill


def test_e1_and_e4_settled_over_http_give_the_worked_figures(world: World) -> None:
    e1 = world.client.post(
        "/v1/settlements",
        json=world.claim("e1", level=3, person="none"),
        headers=world.hospital_headers(3),
    )
    assert e1.status_code == 201, e1.text
    assert e1.json()["totals"]["fund_total"] == "10977.06"
    assert e1.json()["totals"]["patient_pay"] == "13122.94"
    # E4 is the person's second admission of 2018: settle a first one, then the example.
    first = world.client.post(
        "/v1/settlements",
        json=world.claim("e1", level=2, person="registered_poor"),
        headers=world.hospital_headers(2),
    )
    assert first.status_code == 201, first.text
    e4 = world.client.post(
        "/v1/settlements",
        json=world.claim("e4", level=2, person="registered_poor"),
        headers=world.hospital_headers(2),
    )
    assert e4.status_code == 201, e4.text
    funds = {fund["fund"]: fund for fund in e4.json()["funds"]}
    assert funds["basic_insurance"]["explanation"][2].startswith(
        "later admission of 2018 (1 before)"
    )
    assert e4.json()["accumulators_after"]["admissions"] == 2


# ---------------------------------------------------------------- X1, H1, R1 (rules §12–14)
# The figures of tests/settlement/test_additions_examples.py, settled over HTTP.


def _settled(world: World, claim: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST the claim, check the answer, and check that a GET of it answers the same."""
    response = world.client.post("/v1/settlements", json=claim, headers=headers)
    assert response.status_code == 201, response.text
    bill: dict[str, Any] = response.json()
    assert bill["status"] == "settled"
    fetched = world.client.get(f"/v1/settlements/{bill['settlement_id']}", headers=headers)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == bill
    return bill


def _paid(bill: dict[str, Any]) -> list[str]:
    return [fund["paid"] for fund in bill["funds"]]


def _fen(text: str) -> int:
    return int(Decimal(text).scaleb(2))


def test_x1_a_dibao_patient_of_jilin_treated_in_liaoning_on_referral_over_http(
    world: World,
) -> None:
    claim = world.claim("x1", person="dibao", hospital_id=world.cross_region_hospital)
    assert claim["filing"] == "referral"
    bill = _settled(world, claim, world.cross_region_headers())
    assert (bill["insured_region"], bill["treatment_region"]) == ("220000", "210000")
    assert bill["filing"] == "referral"
    assert (bill["tariff_version"], bill["catalog_version"]) == ("220000-2018", "210000-2018")
    assert [item["over_cap_selfpay"] for item in bill["items"]] == [
        "0.00", "0.00", "0.00", "0.00", "0.00", "400.00", "0.00", "0.00",
    ]  # fmt: skip
    assert [item["first_selfpay"] for item in bill["items"]] == [
        "0.00", "0.00", "738.30", "0.00", "0.00", "640.00", "0.00", "0.00",
    ]  # fmt: skip
    assert [item["in_scope"] for item in bill["items"]] == [
        "495.00", "12000.00", "4183.70", "375.00", "0.00", "2560.00", "105.00", "275.00",
    ]  # fmt: skip
    assert bill["totals"]["in_scope"] == "19993.70"
    assert bill["totals"]["deductible_applied"] == "450.00"
    assert _paid(bill) == ["10749.04", "2334.56", "3932.58", "2977.52", "0.00"]
    assert bill["totals"]["fund_total"] == "19993.70"
    assert bill["totals"]["patient_pay"] == "4106.30"
    assert bill["charity_disease"] == "肺癌"
    assert bill["findings"] == []
    basic, *_, health = bill["funds"]
    assert "cross-region claim, filing referral: rate − 0.10 = 0.55" in basic["explanation"]
    assert health["fund_code"] == "610103"
    assert health["explanation"] == ["no health fund under tariff 220000-2018: pays 0.00"]


def test_h1_a_registered_poor_patients_2019_claim_reaches_the_health_fund_over_http(
    world: World,
) -> None:
    person_id = world.persons["registered_poor"]
    bill = _settled(
        world, world.claim("h1", level=2, person="registered_poor"), world.hospital_headers(2)
    )
    assert (bill["insured_region"], bill["treatment_region"]) == ("220000", "220000")
    assert bill["filing"] is None
    assert bill["tariff_version"] == bill["catalog_version"] == "220000-2019"
    assert bill["totals"]["in_scope"] == "2858.80"
    assert _paid(bill) == ["2087.04", "0.00", "385.88", "0.00", "100.00"]
    assert bill["totals"]["health_fund"] == "100.00"
    assert bill["totals"]["fund_total"] == "2572.92"
    assert bill["totals"]["patient_pay"] == "778.08"
    assert sum(_fen(item["health_fund"]) for item in bill["items"]) == 100_00
    assert bill["findings"] == []
    assert bill["funds"][-1]["explanation"] == [
        "in scope left 385.88 − patient's share at most 2858.80 × 0.10 = 285.88 → 100.00",
        "no annual cap: pays 100.00",
    ]
    assert bill["accumulators_after"]["health_paid"] == "100.00"
    stored = world.client.get(
        f"/v1/persons/{person_id}/accumulators",
        params={"year": 2019},
        headers=world.hospital_headers(2),
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["health_paid"] == "100.00"


def test_r1_a_bill_breaking_each_rule_gives_its_findings_over_http(world: World) -> None:
    bill = _settled(world, world.claim("r1", level=2, person="male"), world.hospital_headers(2))
    found = [
        (f["rule"], f["name"], f["line_no"], f["action"], f["amount"]) for f in bill["findings"]
    ]
    assert found == [
        ("R03", "超住院天数", 1, "refused", "90.00"),
        ("R01", "超性别", 2, "refused", "120.00"),
        ("R02", "超年龄", 3, "refused", "80.00"),
        ("R04", "超限量", 4, "refused", "3000.00"),
        ("R03", "超住院天数", 5, "refused", "40.00"),
    ]
    assert bill["findings"][0]["message"] == (
        "line 1: S0001 普通病房床位费 is billed at most once per inpatient day; the stay has 5 "
        "days, 5 left for this code: quantity 7 → 5, 90.00 refused"
    )
    assert "message_zh" not in bill["findings"][0]
    assert [item["refused_selfpay"] for item in bill["items"]] == [
        "90.00", "120.00", "80.00", "3000.00", "40.00", "0.00",
    ]  # fmt: skip
    assert [item["in_scope"] for item in bill["items"]] == [
        "200.00", "0.00", "0.00", "3150.00", "0.00", "35.00",
    ]  # fmt: skip
    totals = bill["totals"]
    assert totals["total"] == "8090.00"
    assert totals["refused_selfpay"] == "3330.00"
    assert totals["over_cap_selfpay"] == "25.00"
    assert totals["first_selfpay"] == "1350.00"
    assert totals["in_scope"] == "3385.00"
    assert _paid(bill) == ["2163.75", "0.00", "0.00", "0.00", "0.00"]
    assert totals["patient_pay"] == "5926.25"
