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

A key given twice in one JSON object is refused (422 `duplicate_key`, naming the key) while the
body is decoded, on this fast way and, through `StrictJsonRoute`, on every route whose body
FastAPI parses: JSON parsers keep the last value silently, and a hospital system that sends
`amount` twice must not have one of them chosen for it. On the fast way the check costs a few
microseconds: when every object of the model has only required keys, each key's count in the
bytes proves it unique (a count off by any string that happens to spell a key, or any escape,
sends the body to the exact check, `duplicate_key`).
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.responses import Response

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

    keys = _key_counts(model)

    async def parse(request: Request) -> ParsedBody[M]:
        body = await _read(request)
        content_type = request.headers.get("content-type")
        if body and content_type and _parsed_as_json(content_type):
            try:
                parsed = model.model_validate_json(body)
            except ValidationError:
                # The errors and their order are FastAPI's: read the body its way, after the
                # check for keys given twice, as StrictJsonRoute checks the bodies it parses.
                refuse_duplicate_keys(body)
            else:
                if keys is None or not _counted_once(keys, body, parsed):
                    refuse_duplicate_keys(body)
                return ParsedBody(parsed)
        return _as_fastapi_does(model, body, content_type)

    return parse


KeyCounts = tuple[tuple[bytes, str | None], ...]
"""Each key of a model as it appears in JSON (`b'"name"'`), and where its count comes from:
None for a required top-level key (once), `?name` for an optional top-level field `name`
(once if given, else never), or the list field whose every item holds it once."""


def _key_counts(model: type[BaseModel]) -> KeyCounts | None:
    """The key counts that prove a valid body of `model` free of duplicates, or None when
    they cannot (an optional key may be missing from one object and doubled in another)."""
    counts: list[tuple[bytes, str | None]] = []
    for name, field in model.model_fields.items():
        if not field.is_required():
            # A top-level object is one object: an optional key's count is 1 if given, else 0.
            if _list_item_model(field.annotation) is not None:
                return None
            counts.append((f'"{field.alias or name}"'.encode(), f"?{name}"))
            continue
        counts.append((f'"{field.alias or name}"'.encode(), None))
        item = _list_item_model(field.annotation)
        if item is not None:
            for item_name, item_field in item.model_fields.items():
                if not item_field.is_required() or _list_item_model(item_field.annotation):
                    return None
                counts.append((f'"{item_field.alias or item_name}"'.encode(), name))
    return tuple(counts)


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    """M for `list[M]` (M a model), else None."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if get_origin(item) is Annotated:
            item = get_args(item)[0]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def _counted_once(keys: KeyCounts, body: bytes, parsed: BaseModel) -> bool:
    """True when the counts prove every key once per object; False sends the body to the
    exact check (an escape could spell a key another way; a value could spell a key)."""
    if b"\\" in body:
        return False
    given = parsed.model_fields_set
    for key, within in keys:
        if within is None:
            expected = 1
        elif within.startswith("?"):
            expected = 1 if within[1:] in given else 0
        else:
            expected = len(getattr(parsed, within))
        if body.count(key) != expected:
            return False
    return True


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def no_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict (`object_pairs_hook`); a key given twice raises."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return found


def refuse_duplicate_keys(body: bytes) -> None:
    """Raise the 422 `duplicate_key` problem naming the first key given twice in one object of
    the JSON body; a body that is no JSON at all is left to the parse that follows."""
    try:
        json.loads(body, object_pairs_hook=no_duplicate_pairs)
    except DuplicateKeyError as duplicate:
        error = {
            "type": "duplicate_key",
            "loc": ("body",),
            "msg": f"the key {duplicate.key!r} is given more than once in one object",
            "input": None,
        }
        raise RequestValidationError([error], body=None) from None
    except Exception:  # not JSON: the parse that follows refuses it as it always did
        return


class StrictJsonRoute(APIRoute):
    """A route whose JSON body, as FastAPI parses it, may not give a key twice in one object
    (422 `duplicate_key` before the body is validated, as a malformed body is refused)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler  # no body, or one the route reads itself (json_body, streams)

        async def checked(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if content_type and _parsed_as_json(content_type):
                refuse_duplicate_keys(await _read(request))
            return await handler(request)

        return checked


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
