"""RFC 9457 problem details: every error the service returns, with every problem listed.

The one place that builds a problem item (`item`) and each kind of problem answer (the
constructors below); routes, services and the web pages raise what these return, and
`install` renders them, and every other error, as `application/problem+json`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.core.metrics import DATABASE_ERRORS, REFUSALS
from settlement.rejection import Rejection

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://onestop.example/problems/"
BODY_UNREADABLE = "There was an error parsing the body"
"""FastAPI's detail when a JSON body cannot be decoded at all (bad UTF-8, nesting too deep)."""
RETRY_AFTER = {"Retry-After": "1"}
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

    def response(self, instance: str | None) -> Response:
        """The problem as `application/problem+json`, naming the path it answers."""
        REFUSALS.labels(self.kind).inc()
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "errors": self.errors,
        }
        if instance is not None:
            body["instance"] = instance
        return Response(
            orjson.dumps(body),
            status_code=self.status,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=self.headers,
        )


class LockUnavailable(Exception):
    """A lock could not be had within the configured wait: answered 503 with Retry-After."""


def item(loc: Sequence[str | int], msg: str, code: str) -> dict[str, Any]:
    """One problem: where (`loc`, in the contract's field names), what, and a stable code."""
    return {"loc": list(loc), "msg": msg, "code": code}


# ---------------------------------------------------------------- the kinds of problem


def invalid_request(detail: str, errors: list[dict[str, Any]]) -> ApiProblem:
    return ApiProblem(422, "Request refused", detail, kind="invalid-request", errors=errors)


def claim_refused(errors: list[dict[str, Any]]) -> ApiProblem:
    return ApiProblem(
        422,
        "Claim refused",
        f"The claim has {len(errors)} problem(s); nothing was settled.",
        kind="claim-refused",
        errors=errors,
    )


def rejection_problem(rejection: Rejection) -> ApiProblem:
    """The engine's refusal of a claim, every problem with its place in the body."""
    return claim_refused(
        [
            item(["body", *problem.loc], problem.msg, problem.code.value)
            for problem in rejection.problems
        ]
    )


def records_refused(detail: str, errors: list[dict[str, Any]]) -> ApiProblem:
    return ApiProblem(422, "Records refused", detail, kind="records-refused", errors=errors)


def not_found(what: str, key: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"No {what} {key}.", kind="not-found")


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "Unauthorized", detail, kind="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, "Forbidden", detail, kind="forbidden")


def claim_conflict(claim_id: str, settlement_id: str) -> ApiProblem:
    return ApiProblem(
        409,
        "Claim already settled with another body",
        f"Claim {claim_id} is settled as {settlement_id} with a different body; "
        "reverse that settlement before settling the claim anew.",
        kind="claim-conflict",
        errors=[item(["body", "claim_id"], f"settled as {settlement_id}", "conflict")],
    )


def body_too_large(limit_bytes: int) -> ApiProblem:
    message = f"The body is larger than {limit_bytes} bytes."
    return ApiProblem(
        413,
        "Request body too large",
        message,
        kind="body-too-large",
        errors=[item(["body"], message, "body_too_large")],
    )


def unsupported_media_type(detail: str, content_type: str | None, accepted: str) -> ApiProblem:
    shown = (content_type or "no content type")[:100]
    return ApiProblem(
        415,
        "Unsupported media type",
        detail,
        kind="unsupported-media-type",
        errors=[
            item(["header", "content-type"], f"{shown} is not {accepted}", "unsupported_media_type")
        ],
    )


def lock_unavailable() -> ApiProblem:
    return ApiProblem(
        503,
        "Busy: the person's accumulators are locked",
        "Another settlement for this person holds the lock; retry shortly.",
        kind="lock-unavailable",
        headers=RETRY_AFTER,
    )


def database_unavailable() -> ApiProblem:
    return ApiProblem(
        503,
        "Database unavailable",
        "The database cannot be reached just now; nothing was committed. Retry shortly.",
        kind="database-unavailable",
        headers=RETRY_AFTER,
    )


def commit_in_doubt() -> ApiProblem:
    """The connection was lost while the database committed: the commit may have landed.
    Never "nothing was committed" (503): a client told so might not send it again, or might
    count it undone. The same request sent again is answered as a replay if it landed."""
    return ApiProblem(
        500,
        "Commit in doubt",
        "The connection to the database was lost while the transaction committed: it may or "
        "may not have been carried out. Send the same request again: what was carried out is "
        "answered as a replay.",
        kind="commit-in-doubt",
    )


def internal() -> ApiProblem:
    return ApiProblem(
        500,
        "Internal error",
        "The request failed unexpectedly; nothing was committed. It has been logged.",
        kind="internal",
    )


# ---------------------------------------------------------------- rendering


def unexpected(error: Exception) -> bool:
    """Whether `install` answers the error as a bug (500, its traceback logged) rather than by
    its kind (a 4xx, or a 503 to retry): for a route that answers bugs its own way."""
    if isinstance(error, DBAPIError):
        return not unavailable(error)
    if isinstance(error, ApiProblem) and error.kind == "commit-in-doubt":
        return True  # a platform message answers it as any fault: send it again, same msgid
    answered = ApiProblem | RequestValidationError | StarletteHTTPException | LockUnavailable
    return not isinstance(error, answered)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "string_type" and isinstance(error.get("input"), int | float):
            message = "write the number as a JSON string (a float has already lost the fen)"
        errors.append(item(loc, message, str(error.get("type", "invalid"))))
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


def _validation_problem(request: Request, exc: RequestValidationError) -> ApiProblem:
    errors = _validation_errors(exc)
    if _wrong_media_type(request, errors):
        return unsupported_media_type(
            "Send the body as application/json.",
            request.headers.get("content-type"),
            "application/json",
        )
    return invalid_request(
        f"The request has {len(errors)} problem(s); nothing was written.", errors
    )


def _http_problem(exc: StarletteHTTPException) -> ApiProblem:
    if exc.status_code == 400 and exc.detail == BODY_UNREADABLE:
        # Answered like malformed JSON (422 json_invalid): one kind of problem, one answer.
        message = "the body cannot be read as JSON (not UTF-8, or nested too deeply)"
        return invalid_request(
            "The request has 1 problem(s); nothing was written.",
            [item(["body"], message, "json_invalid")],
        )
    return ApiProblem(
        exc.status_code,
        str(exc.detail) if exc.status_code != 404 else "Not found",
        str(exc.detail),
        kind=f"http-{exc.status_code}",
        headers=dict(exc.headers or {}),
    )


def unavailable(exc: DBAPIError) -> bool:
    """A lost or refused database connection (a restart, a failover): not a bug, answered 503
    so that clients retry; the pool checks connections before use and recovers."""
    return exc.connection_invalidated or (
        type(exc.orig).__module__.startswith("psycopg")
        and isinstance(exc, OperationalError | InterfaceError)
    )


def _database_problem(request: Request, exc: DBAPIError) -> ApiProblem:
    if unavailable(exc):
        DATABASE_ERRORS.labels("unavailable").inc()
        logger.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc.orig).__name__,
        )
        return database_unavailable()
    DATABASE_ERRORS.labels("error").inc()
    logger.exception("database error on %s %s", request.method, request.url.path)
    return internal()


def install(app: FastAPI) -> None:
    """Render every error as problem+json."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return exc.response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _validation_problem(request, exc).response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug outside the routes (theirs are answered by api.core.middleware.UnexpectedErrors
        # on a connection kept open): logged with its traceback, answered without internals.
        # Starlette raises it again after this answer and the server then closes the
        # connection, so the answer says so, for the client not to send another request on it.
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        response = internal().response(request.url.path)
        response.headers["Connection"] = "close"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _http_problem(exc).response(request.url.path)

    @app.exception_handler(LockUnavailable)
    async def _lock_unavailable(request: Request, exc: LockUnavailable) -> Response:
        return lock_unavailable().response(request.url.path)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        return _database_problem(request, exc).response(request.url.path)
