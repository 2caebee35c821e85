"""Finance view sessions: logging in with an API key, the session cookie, logging out.

Logging in (POST /finance/login) checks an API key once and never keeps it: the browser gets
a random token in the `onestop_session` cookie (HttpOnly, SameSite=Strict, Path=/finance,
8 hours, Secure over https) and the `web_session` table keeps only the token's SHA-256 with
the key's prefix, role and hospital. Every page looks the key up again by that prefix, so
revoking the key ends its sessions (within the key cache's few seconds).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from sqlalchemy import delete
from sqlmodel import col
from starlette.responses import RedirectResponse, Response

from api.core.access import Principal
from api.core.deps import AppState
from api.db.engine import read_session, write_session
from api.db.store import audit
from api.db.tables import WebSession

SESSION_COOKIE = "onestop_session"
SESSION_PATH = "/finance"
SESSION_SECONDS = 8 * 60 * 60
SESSION_TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""What `secrets.token_urlsafe(SESSION_TOKEN_BYTES)` makes; any other cookie is ignored unread."""
LOGIN_BODY_BYTES_MAX = 4 * 1024
LOGIN_FIELDS_MAX = 8


class PageRefused(Exception):
    """A request the view answers with an error page (bad month, another hospital, not found)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(state: AppState, principal: Principal, replaced_token: str | None) -> str:
    """A new session for the principal (the token for the cookie); expired ones are purged."""
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    assert TOKEN_PATTERN.fullmatch(token)
    now = state.clock()
    with write_session(state.engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
        if replaced_token is not None:
            # A new login never keeps the session cookie it arrived with (no fixation).
            session.execute(
                delete(WebSession).where(col(WebSession.token_hash) == token_hash(replaced_token))
            )
        session.add(
            WebSession(
                token_hash=token_hash(token),
                key_prefix=principal.key_prefix,
                role=principal.role,
                hospital_id=principal.hospital_id,
                created_at=now,
                expires_at=now + timedelta(seconds=SESSION_SECONDS),
            )
        )
        audit(session, principal.actor, "web.login", "finance view", now)
        session.commit()
    return token


def end_session(state: AppState, token: str, actor: Principal | None) -> None:
    """End the session of the token; `actor`, when known, is audited as logging out."""
    with write_session(state.engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash(token)))
        if actor is not None:
            audit(session, actor.actor, "web.logout", "finance view", state.clock())
        session.commit()


def session_principal(state: AppState, request: Request) -> Principal | None:
    """Who the session cookie belongs to, if the session is current and its key still valid."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is None or not TOKEN_PATTERN.fullmatch(token):
        return None
    with read_session(state.engine) as session:
        row = session.get(WebSession, token_hash(token))
    if row is None:
        return None
    principal = (
        state.keys.principal_for_prefix(row.key_prefix) if row.expires_at > state.clock() else None
    )
    if principal is None or (principal.role, principal.hospital_id) != (row.role, row.hospital_id):
        end_session(state, token, actor=None)  # expired, or its key was revoked
        return None
    return principal


def session_cookie(request: Request, token: str, max_age: int) -> str:
    """The Set-Cookie value, written out so that its attributes read exactly as documented."""
    secure = "; Secure" if request.url.scheme == "https" else ""
    return (
        f"{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path={SESSION_PATH}; "
        f"Max-Age={max_age}{secure}"
    )


def redirect(location: str, cookie: str | None = None) -> Response:
    response = RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
    if cookie is not None:
        response.headers.append("set-cookie", cookie)
    return response


def to_login(request: Request) -> Response:
    """To the login form, clearing a stale session cookie if the browser sent one."""
    stale = SESSION_COOKIE in request.cookies
    return redirect(f"{SESSION_PATH}/login", session_cookie(request, "", 0) if stale else None)


def same_origin(request: Request) -> bool:
    """A form post's Origin, when the browser sends one, names this host (else: refused)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def form_fields(
    request: Request,
    names: tuple[str, ...],
    bytes_max: int = 16 * 1024,
    form: tuple[str, str] = ("表单", "the form"),
) -> dict[str, str]:
    """The named fields of a small form (application/x-www-form-urlencoded), parsed with the
    standard library rather than `request.form()`, which needs python-multipart, not a
    dependency of the service. Another media type, a body over `bytes_max` (BodyLimit has
    refused more already; 500 Chinese characters are 4.5 kB encoded) or one that is not text
    is refused, naming the `form` (Chinese, English); a field given twice takes its first
    value."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise PageRefused(415, f"请使用{form[0]}提交。Send {form[1]}.")
    body = await request.body()
    if len(body) > bytes_max:
        raise PageRefused(413, "表单过大。The form is too large.")
    try:
        fields = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=LOGIN_FIELDS_MAX
        )
    except (UnicodeDecodeError, ValueError):
        raise PageRefused(400, "表单无法读取。The form could not be read.") from None
    return {name: fields.get(name, [""])[0].strip() for name in names}


async def login_key(request: Request) -> str:
    """The `key` field of the login form; a login form is far smaller than other forms, so
    more is refused here (`LOGIN_BODY_BYTES_MAX`)."""
    form = ("登录表单", "the login form")
    return (await form_fields(request, ("key",), LOGIN_BODY_BYTES_MAX, form))["key"]
