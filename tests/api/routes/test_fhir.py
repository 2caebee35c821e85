"""GET /v1/settlements/{id}/fhir: the settlement as an HL7 FHIR R5 ClaimResponse that the
`fhir.resources` package validates, its amounts exact and adding up as the bill's do."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fhir.resources.claimresponse import ClaimResponse

from tests.support.world import World

FUND_CODES = ["390100", "390200", "610100", "999997", "610103"]


def settle(world: World, claim: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = world.client.post("/v1/settlements", json=claim, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fhir(world: World, settlement_id: str, headers: dict[str, str]) -> Any:
    return world.client.get(f"/v1/settlements/{settlement_id}/fhir", headers=headers)


def amounts(entries: list[dict[str, Any]], category: str) -> list[Decimal]:
    return [
        entry["amount"]["value"]
        for entry in entries
        if entry["category"]["coding"][0]["code"] == category
    ]


def check_resource(response: Any, bill: dict[str, Any]) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    ClaimResponse.model_validate_json(response.content)
    resource: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    assert resource["resourceType"] == "ClaimResponse"
    assert (resource["id"], resource["use"], resource["outcome"]) == (
        bill["settlement_id"], "claim", "complete",
    )  # fmt: skip
    # Every amount is written as the bill's exact two-decimal number, never a float's digits.
    written = re.findall(rb'"value":(-?[0-9.eE+]+)', response.content)
    assert written
    assert all(re.fullmatch(rb"-?[0-9]+\.[0-9]{2}", value) for value in written), written
    totals = bill["totals"]
    benefits = amounts(resource["adjudication"], "benefit")
    assert [b["reason"]["coding"][0]["code"] for b in resource["adjudication"]] == FUND_CODES
    assert benefits == [Decimal(fund["paid"]) for fund in bill["funds"]]
    assert sum(benefits) == Decimal(totals["fund_total"])
    (benefit_total,) = amounts(resource["total"], "benefit")
    assert benefit_total == Decimal(totals["fund_total"])
    (paid_by_patient,) = amounts(resource["total"], "paidbypatient")
    assert paid_by_patient == Decimal(totals["patient_pay"])
    assert [item["itemSequence"] for item in resource["item"]] == [
        item["line_no"] for item in bill["items"]
    ]
    for item, line in zip(resource["item"], bill["items"], strict=True):
        adjudication = item["adjudication"]
        (submitted,) = amounts(adjudication, "submitted")
        (noncovered,) = amounts(adjudication, "noncovered")
        (copay,) = amounts(adjudication, "copay")
        (eligible,) = amounts(adjudication, "eligible")
        (patient,) = amounts(adjudication, "paidbypatient")
        assert submitted == Decimal(line["amount"])
        assert submitted == noncovered + copay + eligible
        assert submitted == sum(amounts(adjudication, "benefit")) + patient
        assert noncovered == sum(
            Decimal(line[name]) for name in ("full_selfpay", "over_cap_selfpay", "refused_selfpay")
        )
    for fund_index, code in enumerate(FUND_CODES):
        per_line = [
            [a for a in item["adjudication"] if a.get("reason")][fund_index]
            for item in resource["item"]
        ]
        assert {entry["reason"]["coding"][0]["code"] for entry in per_line} == {code}
        assert sum(entry["amount"]["value"] for entry in per_line) == benefits[fund_index]
    notes = [note["text"] for note in resource["processNote"]]
    assert len(notes) == sum(len(fund["explanation"]) for fund in bill["funds"]) + len(
        bill["findings"]
    )
    return resource


def test_a_cross_region_bill_with_findings_is_a_valid_claim_response_that_adds_up(
    world: World,
) -> None:
    claim = world.claim("e2", hospital_id=world.cross_region_hospital, filing="referral")
    claim["items"][0]["quantity"] = "15"  # 15 bed days for an 11-day stay: R03 refuses 4
    claim["items"][0]["amount"] = "675.00"
    bill = settle(world, claim, world.cross_region_headers())
    assert bill["findings"]
    resource = check_resource(
        fhir(world, bill["settlement_id"], world.cross_region_headers()), bill
    )
    assert resource["status"] == "active"
    assert resource["requestor"]["identifier"]["value"] == world.cross_region_hospital
    assert resource["patient"]["identifier"]["value"] == world.persons["dibao"]
    assert any(note["text"].startswith("R03 超住院天数") for note in resource["processNote"])


def test_a_reversed_settlement_is_a_cancelled_claim_response(world: World) -> None:
    bill = settle(world, world.claim("e2"), world.hospital_headers())
    reversal = world.client.post(
        f"/v1/settlements/{bill['settlement_id']}/reversal",
        json={"reason": "冲正：测试"},
        headers=world.hospital_headers(),
    )
    assert reversal.status_code == 200, reversal.text
    resource = check_resource(
        fhir(world, bill["settlement_id"], world.auth(world.keys.finance)), reversal.json()
    )
    assert resource["status"] == "cancelled"


def test_another_hospital_cannot_read_the_claim_response(world: World) -> None:
    bill = settle(world, world.claim("e2"), world.hospital_headers())
    other = fhir(world, bill["settlement_id"], world.hospital_headers(1))
    assert other.status_code == 403, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    unknown = fhir(world, "ST20180312DEADBEEFDEADBEEF", world.hospital_headers())
    assert unknown.status_code == 404
