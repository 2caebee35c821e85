"""The national platform's inpatient interface (INTEROP.md): `POST /v1/nhsa`, one route for
every transaction, dispatched on the envelope's `infno` (api.services.nhsa)."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.core.access import require_roles
from api.core.deps import AppState, CurrentPrincipal, State
from api.core.lean import LeanRoute
from api.core.nhsa import INFNOS, AnswerOut, Envelope
from api.core.problems import logger, unexpected, unsupported_media_type
from api.routes.responses import PROBLEMS
from api.routes.settlements import Writer
from api.services import nhsa

router = APIRouter(prefix="/v1", tags=["national platform"], route_class=LeanRoute)

_ENVELOPE_SCHEMA = Envelope.model_json_schema()


@router.post(
    "/nhsa",
    response_model=AnswerOut,
    responses={status: PROBLEMS[status] for status in (401, 403, 413, 415)},
    summary=f"A national-platform message (infno {', '.join(INFNOS)})",
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
    answer again, byte for byte. The corrections are messages like the others: 2403 changes
    the admission (begntime, diagnoses, filing), 2404 cancels it, 2405 cancels the discharge;
    none applies to a settled encounter (cancel the settlement with 2305 first) nor to one
    being settled. Only a missing or wrong key (401), a key of another role (403), a body
    too large (413) or not JSON in UTF-8 (415) are answered as HTTP errors, and
    a fault of onestop's as HTTP 500 with an envelope of `infcode -1` (`_failed`)."""
    require_roles(principal, "hospital", "admin")
    content_type = request.headers.get("content-type", "")
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != "application/json":
        raise unsupported_media_type("Send application/json.", content_type, "application/json")
    if _charset(parameters) not in (None, "utf-8", "utf8"):
        # JSON is UTF-8 (RFC 8259); a body its sender says is latin-1 would be read as other text.
        raise unsupported_media_type(
            "Send the message in UTF-8.", content_type, "application/json; charset=utf-8"
        )
    body = await request.body()
    try:
        answer = await run_in_threadpool(nhsa.answer, state, writer, principal, body)
    except Exception as error:
        if not unexpected(error):
            raise
        logger.exception("unexpected error on POST /v1/nhsa")
        return Response(_failed(state), status_code=500, media_type="application/json")
    return Response(answer, media_type="application/json")


FAILED: Final = (
    "onestop failed on this message unexpectedly (the fault is logged): "
    "send it again with the same msgid"
)


def _failed(state: AppState) -> bytes:
    """The answer to a message onestop failed on (a bug): an envelope of `infcode -1`, with
    HTTP 500, on a connection kept open.

    An envelope, so that a HIS that reads the body whatever the status finds `infcode -1` (a
    problem+json body has no `infcode`, which a C# `int` or a fastjson `getIntValue` reads as
    0: success). HTTP 500, because the message was not refused (a refusal is final and wrote
    nothing) but failed, and may have failed after writing: the HIS sends it again under the
    same msgid, which answers the first answer if it was kept."""
    now = state.clock()
    return nhsa.envelope_bytes(state, now, -1, FAILED, None)


def _charset(parameters: list[str]) -> str | None:
    """The charset a Content-Type's parameters name (lower case, unquoted), None when none."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None
