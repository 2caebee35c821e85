"""The worked examples settled over HTTP give the engine's figures, on both databases."""

from __future__ import annotations

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
