"""Finance routes: reconciliation totals (3201) and clearing (3203).

A hospital key sees only its own hospital; finance and admin keys see all (`scope_hospital`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.core.access import scope_hospital
from api.core.contract import ID_PATTERN, IsoDate
from api.core.deps import CurrentPrincipal, State
from api.core.problems import invalid_request, item
from api.routes.responses import PROBLEMS, json_response
from api.services.clearing import XLSX_MEDIA_TYPE, clearing_download, clearing_json
from api.services.finance import DATE_MAX, DATE_MIN, checked_period, month_in_range, totals_json

router = APIRouter(prefix="/v1", tags=["finance"])

HospitalFilter = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]
Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2018-03"])]


@router.get(
    "/reconciliation/totals",
    responses=PROBLEMS,
    summary="Totals of settled, reversed and net (3201)",
)
def totals(
    date_from: IsoDate,
    date_to: IsoDate,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
) -> Response:
    """Counts and sums, per fund, patient pay and total, of what was settled in the period (by
    settlement time), what was reversed in it (by reversal time) and the net, in the business
    time zone's calendar days."""
    scoped = scope_hospital(principal, hospital_id)
    period = checked_period(date_from, date_to, state.settings.business_timezone)
    return json_response(totals_json(state.engine, period, scoped))


@router.get(
    "/clearing",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                XLSX_MEDIA_TYPE: {},
            }
        },
        **PROBLEMS,
    },
    summary="What each fund owes each hospital for a month (3203)",
)
def clearing(
    month: Month,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """Per hospital and fund: settlement postings of the month, reversal postings of the month,
    and what is owed (their sum), with the tariff's fund codes; totals tie out to the totals
    route for the same month to the fen."""
    scoped = scope_hospital(principal, hospital_id)
    if not month_in_range(month):
        raise invalid_request(
            f"The month {month} is outside the years the service covers.",
            [
                item(
                    ["query", "month"],
                    f"the year must be {DATE_MIN.year} to {DATE_MAX.year}",
                    "date_out_of_range",
                )
            ],
        )
    document = clearing_json(state.engine, month, state.settings.business_timezone, scoped)
    name = f"clearing-{month}" + (f"-{scoped}" if scoped else "")
    if format != "json":
        content, media_type = clearing_download(document, format)
        return Response(content, media_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})  # fmt: skip
    return json_response(document)
