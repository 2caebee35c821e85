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
        return problem_response(
            exc.status_code,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            kind=f"http-{exc.status_code}",
            headers=dict(exc.headers or {}),
            instance=request.url.path,
        )
