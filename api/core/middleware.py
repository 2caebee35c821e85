"""ASGI middleware: request bodies refused over their size before they are read whole, an
unexpected error answered whole on a connection kept open, and the security headers every
answer carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.core.problems import body_too_large, internal, logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over the configured size with 413, before reading them whole."""

    def __init__(self, app: ASGIApp, limit_bytes: int, path_limits: dict[str, int]) -> None:
        self.app = app
        self.default_limit_bytes = limit_bytes
        self.path_limits = path_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.default_limit_bytes)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        if declared is not None or limit != self.default_limit_bytes:
            # A declared length decides (the server delivers no more than it); routes with
            # their own limit stream their bodies and count what they read.
            await self.app(scope, receive, send)
            return
        await self._chunked(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No declared length (chunked): read up to the limit first, then hand the body on."""
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.default_limit_bytes:
                await self._refuse(scope, receive, send, self.default_limit_bytes)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = body_too_large(limit).response(scope.get("path"))
        await response(scope, receive, send)


class UnexpectedErrors:
    """An unexpected error (a bug) answered as a whole 500 problem, and the connection kept open.

    Without this, Starlette's outermost middleware answers the 500 and then raises the error
    again for the server to log; uvicorn, finding the answer already sent, closes the
    connection, without having said `Connection: close`. A client that keeps its connection
    for the next request (a HIS sends every message of a stay on one) then writes its next
    request into a closed socket and loses it. Here the error is logged with its traceback and
    answered, and not raised again: uvicorn keeps the connection and serves its next request.

    An error after the answer has started (a streamed answer failing half-way) cannot be
    answered: it is raised, and uvicorn cuts the connection, which the client sees as an
    answer short of its end (a chunked body without its last chunk, or short of its
    Content-Length), never as a whole one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception:
            if started:
                raise
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await internal().response(scope["path"])(scope, receive, send)


HTML_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The policy of every HTML page that does not set its own: no script, no fetch, no frame, no
plugin; only inline styles (the finance view and the statement are server-rendered without
JavaScript). The documentation pages set their own (`api.web.docs`), which admits their scripts."""
HTML_REFERRER_POLICY = "same-origin"
NOSNIFF = (b"x-content-type-options", b"nosniff")
HTML_HEADERS = (
    (b"content-security-policy", HTML_CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", HTML_REFERRER_POLICY.encode()),
)


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every answer, and on every HTML answer a
    Content-Security-Policy and a Referrer-Policy, unless the route set its own.

    One place for them, so that no HTML route (the statement, the finance view, the login form,
    the documentation pages, an error page) can be added without them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers (lower-case names, as ASGI sends them) with those it lacks."""
    present = {name.lower() for name, _ in headers}
    added = [NOSNIFF] if NOSNIFF[0] not in present else []
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    if content_type.split(b";")[0].strip().lower() == b"text/html":
        added += [header for header in HTML_HEADERS if header[0] not in present]
    return headers + added
