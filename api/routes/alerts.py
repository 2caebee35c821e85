"""High-burden alerts and temporary assistance (rules §16; API_CONTRACT.md "after the bill"):
finance reads the raised alerts and decides each once. Finance and admin only: an alert names a
person across every hospital they were treated at."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.core.after_bill import AlertsOut, DecisionIn, DecisionOut
from api.core.contract import ID_PATTERN
from api.core.deps import CurrentPrincipal, State
from api.routes.responses import PROBLEMS, json_response
from api.services import alerts
from api.services.clearing import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE

router = APIRouter(prefix="/v1", tags=["after the bill"])

PersonId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
Year = Annotated[int, Path(ge=1900, le=2099)]


@router.get(
    "/alerts",
    response_model=AlertsOut,
    responses={
        200: {
            "description": "JSON, or CSV/XLSX (`format`)",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **PROBLEMS,
    },
    summary="High-burden alerts (高额医疗费用预警)",
)
def listed(
    principal: CurrentPrincipal,
    state: State,
    year: Annotated[int | None, Query(ge=1900, le=2099)] = None,
    status: Literal["raised", "withdrawn", "granted", "declined"] | None = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """Each person-year whose own payments reached its tariff's threshold: the person (ID
    number masked), the year's burden and threshold, the crossing settlement, the year's
    settlements in force, what is still owed on open receivables, the status and the decision."""
    document = alerts.list_alerts(state.engine, principal, year=year, status=status, region=region)
    if format == "json":
        return json_response(document)
    if format == "csv":
        content: str | bytes = alerts.alerts_csv(document)
        media_type = CSV_MEDIA_TYPE
    else:
        content, media_type = alerts.alerts_xlsx(document), XLSX_MEDIA_TYPE
    headers = {"Content-Disposition": f'attachment; filename="alerts.{format}"'}
    return Response(content, media_type=media_type, headers=headers)


@router.post(
    "/alerts/{person_id}/{year}/decision",
    status_code=201,
    response_model=DecisionOut,
    responses={
        200: {"model": DecisionOut, "description": "The same decision again, as recorded"},
        **PROBLEMS,
    },
    summary="Decide a raised alert: grant temporary assistance (临时救助) or decline",
)
def decide(
    person_id: PersonId, year: Year, body: DecisionIn, principal: CurrentPrincipal, state: State
) -> Response:
    """A grant (at most the year's burden) is paid by fund 999998 first onto the person's open
    receivables of that year, earliest due first across hospitals, the rest to the person;
    each application is in the answer. Only a raised alert can be decided, once. The same
    `decision_id` and body again answers 200; another body 409."""
    created, document = alerts.decide(state, person_id, year, body, principal)
    if created:
        return json_response(document, 201)
    return json_response(document, 200, {"Idempotent-Replayed": "true"})
