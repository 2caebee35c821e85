"""Settlement routes (hospital): settle, preview, get, reverse, statement, FHIR, accumulators."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.core.access import Principal, authorize_hospital, require_roles
from api.core.body import ParsedBody, json_body, openapi_body
from api.core.contract import ID_PATTERN, AccumulatorsOut, ClaimIn, ReversalIn, SettlementOut
from api.core.deps import AppState, CurrentPrincipal, State
from api.core.lean import LeanRoute
from api.routes.responses import PROBLEMS
from api.routes.responses import json_response as _json
from api.services.fhir import MEDIA_TYPE as FHIR_JSON
from api.services.fhir import claim_response_json
from api.services.group_commit import SettlementWriter
from api.services.settlements import (
    Stored,
    get_settlement,
    preview_claim,
    read_accumulators,
    reverse_settlement,
    settle_claim,
)
from api.services.statement import render_statement

router = APIRouter(prefix="/v1", tags=["settlement"], route_class=LeanRoute)


async def get_writer(request: Request) -> SettlementWriter | None:
    writer: SettlementWriter | None = request.app.state.writer
    return writer


Writer = Annotated[SettlementWriter | None, Depends(get_writer)]
ClaimBody = Annotated[ParsedBody[ClaimIn], Depends(json_body(ClaimIn))]
"""The claim parsed and validated from the body's bytes in one step (api.core.body)."""


@router.post(
    "/settlements",
    status_code=201,
    response_model=SettlementOut,
    responses={
        200: {
            "model": SettlementOut,
            "description": "Replay of a claim already settled with the same body "
            "(header Idempotent-Replayed: true)",
        },
        **PROBLEMS,
    },
    summary="Settle a discharge claim",
    openapi_extra=openapi_body(ClaimIn),
)
async def settle(
    body: ClaimBody, principal: CurrentPrincipal, state: State, writer: Writer
) -> Response:
    """Settle a discharge claim and answer with the itemized bill.

    Posting the same claim again (same hospital_id and claim_id, same body) answers 200 with
    the same settlement and `Idempotent-Replayed: true`; a different body while the first
    is settled answers 409. After a reversal the claim id may be settled anew.
    """
    # The body dependency comes first, as FastAPI reads a body before solving dependencies;
    # a body that is not a valid claim is refused here, after them, as FastAPI refuses it.
    claim = body.value()
    require_roles(principal, "hospital", "admin")
    authorize_hospital(principal, claim.hospital_id)
    if writer is not None:
        outcome = await asyncio.wrap_future(writer.submit(claim, principal))
    else:
        outcome = await run_in_threadpool(
            settle_claim,
            state.engine, state.tariffs, claim, principal, state.clock,
        )  # fmt: skip
    if outcome.created:
        headers = {"Location": f"/v1/settlements/{outcome.settlement_id}"}
        return Response(outcome.body, 201, headers, media_type="application/json")
    return Response(outcome.body, 200, {"Idempotent-Replayed": "true"}, "application/json")


@router.post(
    "/settlements/preview",
    response_model=SettlementOut,
    responses=PROBLEMS,
    summary="Pre-settle a claim: the same bill, nothing written",
)
def preview(claim: ClaimIn, principal: CurrentPrincipal, state: State) -> Response:
    require_roles(principal, "hospital", "admin")
    authorize_hospital(principal, claim.hospital_id)
    return _json(preview_claim(state.engine, state.tariffs, claim))


SettlementId = Annotated[str, Path(max_length=40, pattern=ID_PATTERN)]


@router.get(
    "/settlements/{settlement_id}",
    response_model=SettlementOut,
    responses=PROBLEMS,
    summary="Get a settlement",
)
def get(settlement_id: SettlementId, principal: CurrentPrincipal, state: State) -> Response:
    return _json(_readable(settlement_id, principal, state).document)


def _readable(settlement_id: str, principal: Principal, state: AppState) -> Stored:
    """The stored settlement, for a role that may read settlements and its hospital."""
    require_roles(principal, "hospital", "finance", "admin")
    stored = get_settlement(state.engine, settlement_id)
    authorize_hospital(principal, stored.row.hospital_id)
    return stored


@router.post(
    "/settlements/{settlement_id}/reversal",
    response_model=SettlementOut,
    responses=PROBLEMS,
    summary="Reverse a settlement (repeating it returns the same)",
)
def reverse(
    settlement_id: SettlementId, body: ReversalIn, principal: CurrentPrincipal, state: State
) -> Response:
    require_roles(principal, "hospital", "admin")
    document = reverse_settlement(
        state.engine,
        settlement_id,
        body.reason,
        principal,
        state.clock,
    )
    return _json(document)


@router.get(
    "/settlements/{settlement_id}/statement",
    response_class=HTMLResponse,
    responses=PROBLEMS,
    summary="The printable discharge settlement slip (结算单)",
)
def statement(
    settlement_id: SettlementId, principal: CurrentPrincipal, state: State
) -> HTMLResponse:
    stored = _readable(settlement_id, principal, state)
    return HTMLResponse(render_statement(state.engine, state.templates, stored))


@router.get(
    "/settlements/{settlement_id}/fhir",
    response_class=Response,
    responses={
        200: {
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
            "description": "The settlement as an HL7 FHIR R5 ClaimResponse: one item a line "
            "with its adjudication (submitted, noncovered, copay, eligible, one benefit a fund "
            "coded by its fund code, paidbypatient), each fund's benefit, the totals, and the "
            "explanations as process notes. Amounts are exact decimals in CNY.",
        },
        **PROBLEMS,
    },
    summary="The settlement as a FHIR R5 ClaimResponse",
)
def fhir(settlement_id: SettlementId, principal: CurrentPrincipal, state: State) -> Response:
    """Streamed in pieces of a few hundred lines (api.services.fhir), so that reading the
    largest settlement costs about what its JSON view does."""
    document = _readable(settlement_id, principal, state).document
    return StreamingResponse(claim_response_json(state.engine, document), media_type=FHIR_JSON)


@router.get(
    "/persons/{person_id}/accumulators",
    response_model=AccumulatorsOut,
    responses=PROBLEMS,
    summary="A person's year-to-date accumulators",
)
def accumulators(
    person_id: Annotated[str, Path(max_length=64, pattern=ID_PATTERN)],
    year: Annotated[int, Query(ge=1900, le=9999)],
    principal: CurrentPrincipal,
    state: State,
) -> Response:
    """A hospital key reads only the persons it has settled for (any other id answers 404, as
    an unknown one does); finance and admin read every person."""
    require_roles(principal, "hospital", "finance", "admin")
    treated_at = principal.hospital_id if principal.role == "hospital" else None
    return _json(read_accumulators(state.engine, person_id, year, treated_at))
