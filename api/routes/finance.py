"""Finance routes: reconciliation totals (3201), clearing (3203) and the inter-region table.

A hospital key sees only its own hospital; finance and admin keys see all (`scope_hospital`).
The inter-region table covers every hospital: finance and admin keys only (`REGIONS_ROLES`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from api.core.access import require_roles, scope_hospital
from api.core.contract import ID_PATTERN, IsoDate
from api.core.deps import CurrentPrincipal, State
from api.core.problems import invalid_request, item
from api.routes.responses import PROBLEMS, json_response
from api.services.clearing import (
    REGIONS_ROLES,
    XLSX_MEDIA_TYPE,
    ClearingRow,
    RegionRow,
    clearing_csv,
    clearing_document,
    clearing_download,
    clearing_json,
    regions_csv,
    regions_document,
    regions_download,
    regions_json,
)
from api.services.finance import DATE_MAX, DATE_MIN, checked_period, month_in_range, totals_json

router = APIRouter(prefix="/v1", tags=["finance"])

HospitalFilter = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]
Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2018-03"])]
Format = Literal["json", "csv", "xlsx"]


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


# ---------------------------------------------------------------- the examples the document shows

_E2 = (1218432, 110593, 317864, 272621, 0)
"""Worked example E2 (a dibao patient at a Jilin level-3 hospital): what each fund pays."""
_X1 = (1074904, 233456, 393258, 297752, 0)
"""X1: the same claim at a Liaoning level-3 hospital, referred (rules §12)."""
_CODES = (
    ("basic_insurance", "390100"), ("critical_illness", "390200"),
    ("medical_assistance", "610100"), ("charity", "999997"), ("health_fund", "610103"),
)  # fmt: skip
"""The funds in cascade order with the fund codes of the shipped tariffs."""

# March 2018: E2 settled twice at a Jilin hospital and reversed once; X1 settled once in Liaoning.
_CLEARING_EXAMPLE = clearing_document(
    "2018-03", "Asia/Shanghai", None,
    [ClearingRow("H2101001", "中国医科大学附属第一医院", "220000", fund, code, paid, 0, 1, 0)
     for (fund, code), paid in zip(_CODES, _X1, strict=True)]
    + [ClearingRow("H2201001", "吉林大学第一医院", "220000", fund, code, 2 * paid, -paid, 2, 1)
       for (fund, code), paid in zip(_CODES, _E2, strict=True)],
)  # fmt: skip
_REGIONS_EXAMPLE = regions_document(
    "2018-03", "Asia/Shanghai",
    [RegionRow("220000", "210000", fund, code, paid, 0, 1, 0)
     for (fund, code), paid in zip(_CODES, _X1, strict=True)]
    + [RegionRow("220000", "220000", fund, code, 2 * paid, -paid, 2, 1)
       for (fund, code), paid in zip(_CODES, _E2, strict=True)],
)  # fmt: skip


def _downloads(example: dict[str, Any], csv_example: str, description: str) -> dict[int | str, Any]:
    """The answers of a route that serves a document as JSON, CSV or XLSX (`format`)."""
    return {
        200: {
            "description": description,
            "content": {
                "application/json": {"example": example},
                "text/csv": {"schema": {"type": "string"}, "example": csv_example},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **PROBLEMS,
    }


def _checked_month(month: str) -> None:
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


def _answer(document: dict[str, Any], format: Format, name: str, download: Any) -> Response:
    if format == "json":
        return json_response(document)
    content, media_type = download(document, format)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})  # fmt: skip


# ---------------------------------------------------------------- clearing (3203)


@router.get(
    "/clearing",
    responses=_downloads(
        _CLEARING_EXAMPLE,
        clearing_csv(_CLEARING_EXAMPLE),
        "Per hospital, insured region and fund: settled, reversed (negative) and owed; each "
        "fund's total owed and the total owed. CSV and XLSX: the same rows and a TOTAL row.",
    ),
    summary="What each fund owes each hospital for a month (3203)",
)
def clearing(
    month: Month,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    format: Format = "json",
) -> Response:
    """Per hospital, insured region (whose funds pay) and fund: settlement postings of the
    month, reversal postings of the month, and what is owed (their sum), with the tariff's
    fund codes; totals tie out to the totals route for the same month to the fen."""
    scoped = scope_hospital(principal, hospital_id)
    _checked_month(month)
    document = clearing_json(state.engine, month, state.settings.business_timezone, scoped)
    name = f"clearing-{month}" + (f"-{scoped}" if scoped else "")
    return _answer(document, format, name, clearing_download)


@router.get(
    "/clearing/regions",
    responses=_downloads(
        _REGIONS_EXAMPLE,
        regions_csv(_REGIONS_EXAMPLE),
        "Per insured region, treatment region and fund (cascade order): settled, reversed "
        "(negative) and net, with counts and fund code; each fund's total; the grand total. "
        "CSV and XLSX: the same rows, a TOTAL row per fund and the grand TOTAL row.",
    ),
    summary="What each insured region's funds owe each treatment region's hospitals (跨区域清算)",
)
def clearing_regions(
    month: Month,
    principal: CurrentPrincipal,
    state: State,
    format: Format = "json",
) -> Response:
    """Per insured region (参保地, whose funds pay), treatment region (就医地, the hospitals'
    region) and fund: settlement postings of the month, reversal postings of the month and
    the net, in the business time zone's calendar month, as `/v1/clearing`. Each row is the
    per-hospital clearing added up over the treatment region's hospitals; each fund's total
    ties out to the totals route for the same month to the fen. Finance and admin keys only."""
    require_roles(principal, *REGIONS_ROLES)
    _checked_month(month)
    document = regions_json(state.engine, month, state.settings.business_timezone)
    return _answer(document, format, f"clearing-regions-{month}", regions_download)
