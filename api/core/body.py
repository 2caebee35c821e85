"""JSON request bodies parsed and validated in one step, refused exactly as FastAPI refuses them.

FastAPI reads a JSON body in two steps: `json.loads` builds Python objects, then pydantic
validates them (`validate_python`). pydantic can do both at once from the bytes
(`model_validate_json`), several times faster for a claim of many lines (issue 10, a lean
request path). A route takes its body through the `json_body(Model)` dependency to be served
that way, and names the body in its OpenAPI operation with `openapi_body(Model)` (FastAPI no
longer sees a body parameter).

Only a body the one-step parse accepts takes the fast way. Any other body is read again in
FastAPI's two steps, here (`_as_fastapi_does`), so that what a client is answered for it is what
FastAPI answers, in the same order:

* a body FastAPI cannot decode as JSON (malformed, not UTF-8, nested too deeply, an integer of
  more than 4,300 digits) is refused while the body is read, before any other dependency runs:
  the 422 `json_invalid` (or the 400 the problem handler answers as one) comes even without an
  API key;
* a body that is JSON but not a valid model, an empty body, and a body sent as another media
  type (or none named: validated as raw bytes) are refused after the dependencies have run, as
  FastAPI does once it has solved them: without a valid key the answer is 401; with one, the
  RequestValidationError (every `loc` starting with "body") that the problem handler renders;
* a body only `json.loads` reads (UTF-16 or UTF-32, a UTF-8 byte order mark) is still accepted.

The dependency must come first among the route's parameters (FastAPI solves dependencies in
that order), and the route must call `ParsedBody.value()` before anything else.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from api.core.problems import BODY_UNREADABLE

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ParsedBody(Generic[M]):
    """A request body as the dependency read it: the model, or the validation error that
    FastAPI would raise once the route's dependencies are solved."""

    model: M | None
    error: RequestValidationError | None = None

    def value(self) -> M:
        """The model; raises the body's RequestValidationError if it has one."""
        if self.error is not None:
            raise self.error
        if self.model is None:  # pragma: no cover - one of the two is always set
            raise RuntimeError("a parsed body holds a model or an error")
        return self.model


def json_body(model: type[M]) -> Callable[[Request], Awaitable[ParsedBody[M]]]:
    """A dependency that reads the request body as `model` (see the module's docstring)."""

    async def parse(request: Request) -> ParsedBody[M]:
        body = await _read(request)
        content_type = request.headers.get("content-type")
        if body and content_type and _parsed_as_json(content_type):
            try:
                return ParsedBody(model.model_validate_json(body))
            except ValidationError:
                pass  # the errors and their order are FastAPI's: read the body its way
        return _as_fastapi_does(model, body, content_type)

    return parse


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra` naming the JSON body, as FastAPI names a required body parameter.

    The schema is a reference: `model` must be in the document's components, through another
    route that takes it as a body parameter (ClaimIn: the preview route).
    """
    reference = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {"content": {"application/json": {"schema": reference}}, "required": True}
    }


async def _read(request: Request) -> bytes:
    """The body, or the error FastAPI answers when it cannot be read (a client gone: 400)."""
    try:
        return await request.body()
    except HTTPException:
        raise
    except Exception as exc:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope:
            raise  # Starlette's body limit (this service has its own, api.core.middleware)
        raise HTTPException(status_code=400, detail=BODY_UNREADABLE) from exc


@lru_cache(maxsize=64)
def _parsed_as_json(content_type: str) -> bool:
    """Whether FastAPI decodes a body of this Content-Type as JSON: its own test, word for word
    (an `email.message` parse, a few microseconds, hence the cache of the few types clients
    send)."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() == "application":
        subtype = message.get_content_subtype()
        return subtype == "json" or subtype.endswith("+json")
    return False


def _as_fastapi_does(model: type[M], body: bytes, content_type: str | None) -> ParsedBody[M]:
    """FastAPI's two steps for a required, non-embedded JSON body of `model`
    (fastapi.routing.get_request_handler, then fastapi.dependencies.utils.request_body_to_args).
    The content type is strict: a body without one is not decoded as JSON."""
    if not body:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        return ParsedBody(None, RequestValidationError([missing], body=None))
    value: Any = body
    if content_type and _parsed_as_json(content_type):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            decode_error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([decode_error], body=exc.doc) from exc
        except Exception as exc:  # not UTF-8, nested too deeply, an integer too long, …
            raise HTTPException(status_code=400, detail=BODY_UNREADABLE) from exc
    try:
        return ParsedBody(model.model_validate(value, from_attributes=True))
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        return ParsedBody(None, RequestValidationError(errors, body=value))
