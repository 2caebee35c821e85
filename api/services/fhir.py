"""A settlement as an HL7 FHIR R5 `ClaimResponse` (INTEROP.md, "FHIR").

Built from the settlement's contract document and checked with the `fhir.resources` package
(its pydantic models of R5) before it is answered, so that what leaves is a valid resource.
Money is `{"value": <decimal>, "currency": "CNY"}`: the values are written into the JSON as
the document's exact two-decimal strings, never through a binary float (the package's own
serializer would write `24100.0` from a float; the validated model is used for checking only).

Each line's adjudication says how its amount splits: `submitted` = `noncovered` (full,
over-cap and refused self-pay) + `copay` (first self-pay) + `eligible` (in scope); one
`benefit` a fund, its `reason` the fund's code in onestop's fund code system, and
`paidbypatient`. The claim-level `adjudication` lists each fund's benefit, `total` each
category's sum, and `processNote` every fund's explanation and every rule finding.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from api.core import exact_json
from api.db.engine import read_session
from api.db.tables import Hospital
from api.services.statement import FUND_LABELS

ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
"""HL7's adjudication categories: submitted, eligible, copay, benefit."""
ONESTOP_ADJUDICATION: Final = "urn:onestop:adjudication"
"""onestop's categories for what HL7's code system has no code for: noncovered, paidbypatient."""
FUND_SYSTEM: Final = "urn:onestop:fund-code"
"""The national platform's fund codes (基金支付类型) as onestop's code system."""
PERSON_SYSTEM: Final = "urn:onestop:person"
HOSPITAL_SYSTEM: Final = "urn:onestop:hospital"
SETTLEMENT_SYSTEM: Final = "urn:onestop:settlement"
CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
NOTE_TYPE: Final = "http://hl7.org/fhir/note-type"
MEDIA_TYPE: Final = "application/fhir+json"

_STATUS = {"settled": "active", "reversed": "cancelled"}


def _category(code: str) -> dict[str, Any]:
    system = (
        ADJUDICATION
        if code in ("submitted", "eligible", "copay", "benefit")
        else (ONESTOP_ADJUDICATION)
    )
    return {"coding": [{"system": system, "code": code}]}


def _money(text: str) -> dict[str, Any]:
    return {"value": exact_json.number(text), "currency": "CNY"}


def _adjudication(category: str, amount: str, fund: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"category": _category(category)}
    if fund is not None:
        entry["reason"] = {
            "coding": [
                {
                    "system": FUND_SYSTEM,
                    "code": fund["fund_code"],
                    "display": FUND_LABELS[fund["fund"]],
                }
            ],
            "text": fund["fund"],
        }
    entry["amount"] = _money(amount)
    return entry


def _noncovered(amounts: dict[str, str]) -> str:
    """Full self-pay + over-cap self-pay + refused self-pay (what no fund looks at)."""
    total = sum(
        Decimal(amounts[name]) for name in ("full_selfpay", "over_cap_selfpay", "refused_selfpay")
    )
    return f"{total:.2f}"


def _split(amounts: dict[str, str], funds: list[dict[str, Any]], paid: str) -> list[Any]:
    """One line's (or the claim's) adjudication: how its amount splits, fund by fund."""
    return [
        _adjudication("submitted", amounts["total" if "total" in amounts else "amount"]),
        _adjudication("noncovered", _noncovered(amounts)),
        _adjudication("copay", amounts["first_selfpay"]),
        _adjudication("eligible", amounts["in_scope"]),
        *(_adjudication("benefit", amounts[fund["fund"]], fund) for fund in funds),
        _adjudication("paidbypatient", paid),
    ]


def claim_response(document: dict[str, Any], hospital_name: str | None) -> dict[str, Any]:
    """The ClaimResponse of a stored settlement's document, money values as JSON fragments."""
    funds = document["funds"]
    totals = document["totals"]
    notes = [
        f"{fund['fund_code']} {FUND_LABELS[fund['fund']]}: {line}"
        for fund in funds
        for line in fund["explanation"]
    ]
    notes += [
        f"{finding['rule']} {finding['name']} line {finding['line_no']}: {finding['message']}"
        for finding in document["findings"]
    ]
    requestor: dict[str, Any] = {
        "identifier": {"system": HOSPITAL_SYSTEM, "value": document["hospital_id"]},
        "display": hospital_name or document["hospital_id"],
    }
    return {
        "resourceType": "ClaimResponse",
        "id": document["settlement_id"],
        "identifier": [{"system": SETTLEMENT_SYSTEM, "value": document["settlement_id"]}],
        "status": _STATUS[document["status"]],
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "institutional"}]},
        "use": "claim",
        "patient": {"identifier": {"system": PERSON_SYSTEM, "value": document["person_id"]}},
        "created": document["settled_at"],
        "insurer": {
            "display": f"参保地 {document['insured_region']} (policy {document['tariff_version']})"
        },
        "requestor": requestor,
        "outcome": "complete",
        "disposition": f"{document['status']}: claim {document['claim_id']}, "
        f"{document['admission_date']} to {document['discharge_date']}",
        "item": [
            {
                "itemSequence": item["line_no"],
                "adjudication": _split(item, funds, item["patient_pay"]),
            }
            for item in document["items"]
        ],
        "adjudication": [_adjudication("benefit", fund["paid"], fund) for fund in funds],
        "total": [
            {"category": _category("submitted"), "amount": _money(totals["total"])},
            {"category": _category("noncovered"), "amount": _money(_noncovered(totals))},
            {"category": _category("copay"), "amount": _money(totals["first_selfpay"])},
            {"category": _category("eligible"), "amount": _money(totals["in_scope"])},
            {"category": _category("benefit"), "amount": _money(totals["fund_total"])},
            {"category": _category("paidbypatient"), "amount": _money(totals["patient_pay"])},
        ],
        "processNote": [
            {
                "number": number,
                "type": {"coding": [{"system": NOTE_TYPE, "code": "display"}]},
                "text": text,
            }
            for number, text in enumerate(notes, start=1)
        ],
    }


def claim_response_json(engine: Engine, document: dict[str, Any]) -> bytes:
    """The stored settlement's ClaimResponse as `application/fhir+json`, validated by
    `fhir.resources` first (a resource it refuses is a bug: it raises)."""
    from fhir.resources.claimresponse import ClaimResponse  # a large module: load on first use

    with read_session(engine) as session:
        hospital = session.get(Hospital, document["hospital_id"])
    resource = claim_response(document, None if hospital is None else hospital.name)
    data = exact_json.dumps(resource)
    ClaimResponse.model_validate(exact_json.loads(data))
    return data
