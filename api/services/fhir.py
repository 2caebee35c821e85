"""A settlement as an HL7 FHIR R5 `ClaimResponse` (INTEROP.md, "FHIR").

Built from the settlement's contract document as plain dicts and written with orjson
(`api.core.exact_json`) in pieces of a few hundred lines, which the route streams: a settlement
of 5,000 lines (the claim's limit) is a 10 MB resource of 50,000 adjudications, and building it
whole costs ~50 MB a read, validating it with the `fhir.resources` models ~330 MB and seconds
(docs/performance.md). So the models validate in the tests, not per read: tests/api/routes/
test_fhir.py and test_fhir_large.py validate whole documents (cross-region with findings,
reversed, and of the largest size) with them. The resource is fixed shapes with only the stored
document's ids, codes, dates, texts and exact amounts filled in, each of a form the contract
already fixes, so what validates there validates for every settlement.

Money is `{"value": <decimal>, "currency": "CNY"}`: the values are written into the JSON as
the document's exact two-decimal strings, never through a binary float.

Each line's adjudication says how its amount splits: `submitted` = `noncovered` (full,
over-cap and refused self-pay) + `copay` (first self-pay) + `eligible` (in scope); one
`benefit` a fund, its `reason` the fund's code in onestop's fund code system, and
`paidbypatient`. The claim-level `adjudication` lists each fund's benefit, `total` each
category's sum, and `processNote` every fund's explanation and every rule finding.
"""

from __future__ import annotations

from collections.abc import Iterator
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
_NONCOVERED = ("full_selfpay", "over_cap_selfpay", "refused_selfpay")
LINES_A_PIECE: Final = 250
"""Lines written per piece of the answer: about 0.5 MB (a line's item is about 2 kB)."""


def _category(code: str) -> dict[str, Any]:
    system = (
        ADJUDICATION
        if code in ("submitted", "eligible", "copay", "benefit")
        else (ONESTOP_ADJUDICATION)
    )
    return {"coding": [{"system": system, "code": code}]}


_CATEGORIES: Final = {
    code: _category(code)
    for code in ("submitted", "noncovered", "copay", "eligible", "benefit", "paidbypatient")
}
"""Each category's coding, built once and shared by every entry that names it (orjson writes a
shared dict as often as it is referenced)."""


def _money(text: str) -> dict[str, Any]:
    return {"value": exact_json.number(text), "currency": "CNY"}


def _reason(fund: dict[str, Any]) -> dict[str, Any]:
    """The fund as an adjudication's reason: its code in onestop's fund code system."""
    coding = {
        "system": FUND_SYSTEM,
        "code": fund["fund_code"],
        "display": FUND_LABELS[fund["fund"]],
    }
    return {"coding": [coding], "text": fund["fund"]}


def _adjudication(
    category: str, amount: str, reason: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"category": _CATEGORIES[category]}
    if reason is not None:
        entry["reason"] = reason
    entry["amount"] = _money(amount)
    return entry


def _noncovered(amounts: dict[str, str]) -> str:
    """Full self-pay + over-cap self-pay + refused self-pay (what no fund looks at)."""
    total = sum(Decimal(amounts[name]) for name in _NONCOVERED)
    return f"{total:.2f}"


def _split(
    amounts: dict[str, str], funds: list[tuple[str, dict[str, Any]]], paid: str
) -> list[Any]:
    """One line's (or the claim's) adjudication: how its amount splits, fund by fund (each fund
    its name in the document and its reason)."""
    return [
        _adjudication("submitted", amounts["total" if "total" in amounts else "amount"]),
        _adjudication("noncovered", _noncovered(amounts)),
        _adjudication("copay", amounts["first_selfpay"]),
        _adjudication("eligible", amounts["in_scope"]),
        *(_adjudication("benefit", amounts[name], reason) for name, reason in funds),
        _adjudication("paidbypatient", paid),
    ]


def _item(item: dict[str, Any], funds: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "itemSequence": item["line_no"],
        "adjudication": _split(item, funds, item["patient_pay"]),
    }


def _notes(document: dict[str, Any]) -> list[str]:
    """Every fund's explanation, then every rule finding, as process notes' texts."""
    notes = [
        f"{fund['fund_code']} {FUND_LABELS[fund['fund']]}: {line}"
        for fund in document["funds"]
        for line in fund["explanation"]
    ]
    notes += [
        f"{finding['rule']} {finding['name']} line {finding['line_no']}: {finding['message']}"
        for finding in document["findings"]
    ]
    return notes


def claim_response(document: dict[str, Any], hospital_name: str | None) -> Iterator[bytes]:
    """The ClaimResponse of a stored settlement's document, as JSON written in pieces: the
    resource up to its `item` array, the array `LINES_A_PIECE` lines at a time, then the rest.

    Only one piece's dicts and bytes exist at once, so a read costs about the settlement's own
    document, whatever its size. The pieces are orjson's writing of two objects (the fields
    before `item`, those after it) with the lines in between; joined, they are the JSON of the
    one resource with its fields in this order."""
    funds = [(fund["fund"], _reason(fund)) for fund in document["funds"]]
    head = exact_json.dumps(_head(document, hospital_name))
    yield head[:-1] + b',"item":['
    items = document["items"]
    for start in range(0, len(items), LINES_A_PIECE):
        lines = items[start : start + LINES_A_PIECE]
        written = b",".join(exact_json.dumps(_item(item, funds)) for item in lines)
        yield written if start == 0 else b"," + written
    yield b"]," + exact_json.dumps(_tail(document, funds))[1:]


def _head(document: dict[str, Any], hospital_name: str | None) -> dict[str, Any]:
    """The resource's fields before `item`: who, what, when."""
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
    }


def _tail(document: dict[str, Any], funds: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The resource's fields after `item`: each fund's benefit, the totals, the notes."""
    totals = document["totals"]
    return {
        "adjudication": [
            _adjudication("benefit", fund["paid"], reason)
            for fund, (_, reason) in zip(document["funds"], funds, strict=True)
        ],
        "total": [
            {"category": _CATEGORIES[category], "amount": _money(amount)}
            for category, amount in (
                ("submitted", totals["total"]),
                ("noncovered", _noncovered(totals)),
                ("copay", totals["first_selfpay"]),
                ("eligible", totals["in_scope"]),
                ("benefit", totals["fund_total"]),
                ("paidbypatient", totals["patient_pay"]),
            )
        ],
        "processNote": [
            {
                "number": number,
                "type": {"coding": [{"system": NOTE_TYPE, "code": "display"}]},
                "text": text,
            }
            for number, text in enumerate(_notes(document), start=1)
        ],
    }


def claim_response_json(engine: Engine, document: dict[str, Any]) -> Iterator[bytes]:
    """The stored settlement's ClaimResponse as `application/fhir+json`, in pieces (its
    hospital's name read for the requestor's display before the first)."""
    with read_session(engine) as session:
        hospital = session.get(Hospital, document["hospital_id"])
    return claim_response(document, None if hospital is None else hospital.name)
