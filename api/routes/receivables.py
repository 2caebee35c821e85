"""Receivables of patients who pay later (先诊疗后付费, rules §15; API_CONTRACT.md "after the
bill"): the hospital records the plan and the payments; finance reads what is owed and how
long overdue. A hospital key sees and records its own only; finance reads all; admin does all."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.core.access import require_roles, scope_hospital
from api.core.after_bill import (
    PaymentIn,
    ReceivableIn,
    ReceivableOut,
    ReceivablesOut,
    example_receivable,
)
from api.core.contract import ID_PATTERN, IsoDate
from api.core.deps import CurrentPrincipal, State
from api.routes.responses import PROBLEMS, json_response
from api.services import receivables
from api.services.clearing import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE

router = APIRouter(prefix="/v1", tags=["after the bill"])

SettlementId = Annotated[str, Path(max_length=40, pattern=ID_PATTERN)]
ReceivableId = Annotated[str, Path(max_length=40, pattern=ID_PATTERN)]
HospitalFilter = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]
Format = Literal["json", "csv", "xlsx"]
_ANSWERED = {
    200: {"model": ReceivableOut, "description": "The same body again: answered as recorded"},
    **PROBLEMS,
}


def _answer(created: bool, document: dict[str, object], location: str) -> Response:
    if created:
        return json_response(document, 201, {"Location": location})
    return json_response(document, 200, {"Idempotent-Replayed": "true"})


@router.post(
    "/settlements/{settlement_id}/receivable",
    status_code=201,
    response_model=ReceivableOut,
    responses=_ANSWERED,
    summary="Record the plan of a patient who pays later (先诊疗后付费)",
)
def create(
    settlement_id: SettlementId, body: ReceivableIn, principal: CurrentPrincipal, state: State
) -> Response:
    """The settlement's `patient_pay` less `paid_at_discharge`, in installments that add up to
    it exactly, due on increasing dates from the discharge date to at most the tariff's
    `months_max` months after it. Refused (422, every problem) when the patient may not pay
    later, the settlement is reversed or nothing is owed. The same body again answers 200."""
    require_roles(principal, "hospital", "admin")
    created, document = receivables.create_receivable(
        state.engine, state.tariffs, state.clock, settlement_id, body, principal
    )
    return _answer(created, document, f"/v1/receivables/{document['receivable_id']}")


@router.get(
    "/receivables/{receivable_id}",
    response_model=ReceivableOut,
    responses={200: {"content": {"application/json": {"example": example_receivable()}}},
               **PROBLEMS},
    summary="A receivable, its installments and payments",
)  # fmt: skip
def get(receivable_id: ReceivableId, principal: CurrentPrincipal, state: State) -> Response:
    return json_response(receivables.get_receivable(state, receivable_id, principal))


@router.post(
    "/receivables/{receivable_id}/payments",
    status_code=201,
    response_model=ReceivableOut,
    responses=_ANSWERED,
    summary="Record a patient's payment on their receivable",
)
def pay(
    receivable_id: ReceivableId, body: PaymentIn, principal: CurrentPrincipal, state: State
) -> Response:
    """Filled into the installments earliest due first; a receivable paid to 0.00 is `paid`.
    Refused (422): an amount not above 0.00 or above what is outstanding, `paid_on` before the
    discharge date or after today, a receivable not open, the method `temporary_assistance`
    (only a grant pays so). The same `payment_id` and body again answers 200."""
    require_roles(principal, "hospital", "admin")
    created, document = receivables.record_payment(state, receivable_id, body, principal)
    return _answer(created, document, f"/v1/receivables/{receivable_id}")


@router.get(
    "/receivables",
    response_model=ReceivablesOut,
    responses={
        200: {
            "description": "JSON, or CSV/XLSX (`format`): the receivables, then the aging",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **PROBLEMS,
    },
    summary="Receivables as of a day, and their aging per hospital",
)
def listed(
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    status: Literal["open", "paid", "cancelled"] | None = None,
    as_of: IsoDate | None = None,
    format: Format = "json",
) -> Response:
    """Receivables of settlements discharged on or before `as_of` (today, in the business time
    zone, by default), each as of that day (payments paid on or before it); per hospital the
    outstanding amount aged by each unpaid installment's due date: `not_due`, `1_30`, `31_90`,
    `91_180`, `over_180` days overdue. Cancelled receivables are listed, not aged."""
    scoped = scope_hospital(principal, hospital_id)
    day = receivables.business_today(state) if as_of is None else as_of
    zone = state.settings.business_timezone
    document = receivables.list_receivables(
        state.engine, zone, principal, hospital_id=scoped, status=status, as_of=day
    )
    if format == "json":
        return json_response(document)
    name = f"receivables-{document['as_of']}"
    if format == "csv":
        content: str | bytes = receivables.receivables_csv(document)
        media_type = CSV_MEDIA_TYPE
    else:
        content, media_type = receivables.receivables_xlsx(document), XLSX_MEDIA_TYPE
    headers = {"Content-Disposition": f'attachment; filename="{name}.{format}"'}
    return Response(content, media_type=media_type, headers=headers)
