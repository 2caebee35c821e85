"""RFC 9457 problem details: every error the service returns, with every problem listed."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from settlement.rejection import Rejection

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://onestop.example/problems/"
BODY_UNREADABLE = "There was an error parsing the body"
"""FastAPI's detail when a JSON body cannot be decoded at all (bad UTF-8, nesting too deep)."""
logger = logging.getLogger("onestop")


class ApiProblem(Exception):
    """An answer other than success, carried up to the handler that renders it."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind
        self.errors = errors or []
        self.headers = headers or {}


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    if instance is not None:
        body["instance"] = instance
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def rejection_problem(rejection: Rejection) -> ApiProblem:
    errors = [
        {"loc": ["body", *problem.loc], "msg": problem.msg, "code": problem.code.value}
        for problem in rejection.problems
    ]
    return ApiProblem(
        422,
        "Claim refused",
        f"The claim has {len(errors)} problem(s); nothing was settled.",
        kind="claim-refused",
        errors=errors,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "string_type" and isinstance(error.get("input"), int | float):
            message = "write the number as a JSON string (a float has already lost the fen)"
        errors.append({"loc": loc, "msg": message, "code": str(error.get("type", "invalid"))})
    return errors


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _wrong_media_type(request: Request, errors: list[dict[str, Any]]) -> bool:
    """A JSON route was sent a body of another media type (or none named).

    FastAPI then validates the raw bytes against the model and says the body is not an object;
    the client's actual mistake is the media type, so the answer says that.
    """
    if _is_json(request.headers.get("content-type")):
        return False
    return any(error["loc"] == ["body"] and error["code"] != "missing" for error in errors)


def install(app: FastAPI) -> None:
    """Render every error as problem+json."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        if _wrong_media_type(request, errors):
            content_type = request.headers.get("content-type") or "no content type"
            return problem_response(
                415,
                "Unsupported media type",
                "Send the body as application/json.",
                kind="unsupported-media-type",
                errors=[
                    {
                        "loc": ["header", "content-type"],
                        "msg": f"{content_type[:100]} is not application/json",
                        "code": "unsupported_media_type",
                    }
                ],
                instance=request.url.path,
            )
        return problem_response(
            422,
            "Request refused",
            f"The request has {len(errors)} problem(s); nothing was written.",
            kind="invalid-request",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug: logged with its traceback by the server, answered without internals.
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "The request failed unexpectedly; nothing was committed. It has been logged.",
            kind="internal",
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == BODY_UNREADABLE:
            # Answered like malformed JSON (422 json_invalid): one kind of problem, one answer.
            message = "the body cannot be read as JSON (not UTF-8, or nested too deeply)"
            return problem_response(
                422,
                "Request refused",
                "The request has 1 problem(s); nothing was written.",
                kind="invalid-request",
                errors=[{"loc": ["body"], "msg": message, "code": "json_invalid"}],
                instance=request.url.path,
            )
        return problem_response(
            exc.status_code,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            kind=f"http-{exc.status_code}",
            headers=dict(exc.headers or {}),
            instance=request.url.path,
        )
