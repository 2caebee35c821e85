"""The framework's ceiling: a bare FastAPI app of the settle route's shape, for `make loadtest`.

`POST /v1/settlements` parses a claim with a declared pydantic model (the same fields and
string formats as the contract's `ClaimIn`, `filing` included) and answers a bill-sized JSON
document (every line with the bill's eighteen fields, the totals, five funds, the regions and
an empty findings list) written with orjson — and does nothing else: no key check, no engine,
no database. Served by uvicorn with the same options as `onestop serve`, and driven by the same
driver in the same run as the service, its rate is the ceiling the service's rate is compared
with (docs/performance.md).

    python -m loadtests.bare --port 8100
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.responses import Response

Text = Annotated[StrictStr, Field(pattern=r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$")]
Identifier = Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z_.-]{1,64}$")]
AMOUNTS = (
    "amount", "full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope", "basic_insurance",
    "critical_illness", "medical_assistance", "charity", "patient_pay", "refused_selfpay",
    "health_fund",
)  # fmt: skip
FUNDS = ("basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund")


class BareItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    item_code: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    quantity: Text
    unit_price: Text
    amount: Text


class BareClaim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    claim_id: Identifier
    hospital_id: Identifier
    person_id: Identifier
    admission_date: date
    discharge_date: date
    diagnoses: Annotated[list[Annotated[StrictStr, Field(max_length=16)]], Field(min_length=1)]
    surgery: StrictBool
    items: Annotated[list[BareItem], Field(max_length=100_000)]
    filing: Literal["resident", "referral", "emergency", "temporary"] | None = None


def bill(claim: BareClaim) -> dict[str, Any]:
    """A document the size and shape of the service's bill for this claim."""
    items = [
        {
            "line_no": item.line_no,
            "item_code": item.item_code,
            "item_name": item.item_code,
            "item_class": "A",
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            **dict.fromkeys(AMOUNTS, item.amount),
        }
        for item in claim.items
    ]
    money = "0.00"
    return {
        "settlement_id": f"BARE{claim.claim_id}",
        "status": "settled",
        "claim_id": claim.claim_id,
        "hospital_id": claim.hospital_id,
        "person_id": claim.person_id,
        "admission_date": claim.admission_date.isoformat(),
        "discharge_date": claim.discharge_date.isoformat(),
        "insured_region": "220000",
        "treatment_region": "220000",
        "filing": claim.filing,
        "catalog_version": "220000-2018",
        "totals": dict.fromkeys(("total", "fund_total", "patient_pay", *AMOUNTS[1:]), money),
        "items": items,
        "funds": [
            {"fund": fund, "base": money, "payable": money, "paid": money, "explanation": [fund]}
            for fund in FUNDS
        ],
        "findings": [],
    }


app = FastAPI(title="bare")


@app.post("/v1/settlements", status_code=201)
async def settle(claim: BareClaim) -> Response:
    return Response(orjson.dumps(bill(claim)), status_code=201, media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(
        "loadtests.bare:app", host="127.0.0.1", port=args.port, log_level="warning",
        access_log=False, loop="uvloop", http="httptools",
    )  # fmt: skip


if __name__ == "__main__":
    main()
