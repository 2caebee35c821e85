"""The national platform's inpatient interface (INTEROP.md): `POST /v1/nhsa`, one route for
every transaction, dispatched on the envelope's `infno` (api.services.nhsa)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.core.access import require_roles
from api.core.deps import CurrentPrincipal, State
from api.core.nhsa import AnswerOut, Envelope
from api.core.problems import unsupported_media_type
from api.routes.responses import PROBLEMS
from api.routes.settlements import Writer
from api.services import nhsa

router = APIRouter(prefix="/v1", tags=["national platform"])

_ENVELOPE_SCHEMA = Envelope.model_json_schema()


@router.post(
    "/nhsa",
    response_model=AnswerOut,
    responses={status: PROBLEMS[status] for status in (401, 403, 413, 415)},
    summary="A national-platform message (infno 1101, 2401, 2301, 2302, 2402, 2303, 2304, "
    "2305, 5203, 3201)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": _ENVELOPE_SCHEMA}},
            "required": True,
        }
    },
)
async def message(
    request: Request, principal: CurrentPrincipal, state: State, writer: Writer
) -> Response:
    """Answer one message of the platform's hospital interface as the platform does: HTTP 200
    with `infcode 0` and the transaction's `output`, or `infcode -1` and `err_msg` naming every
    problem (nothing written). A repeated `msgid` of a writing transaction answers the first
    answer again, byte for byte. Only a missing or wrong key (401), a key of another role
    (403), a body too large (413) or not JSON (415) are answered as HTTP errors."""
    require_roles(principal, "hospital", "admin")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise unsupported_media_type("Send application/json.", content_type, "application/json")
    body = await request.body()
    answer = await run_in_threadpool(nhsa.answer, state, writer, principal, body)
    return Response(answer, media_type="application/json")
