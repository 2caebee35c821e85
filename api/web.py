"""The finance view: server-rendered pages for finance, admin and hospital users (no JavaScript).

Logging in (POST /finance/login) checks an API key once and never keeps it: the browser gets
a random token in the `onestop_session` cookie (HttpOnly, SameSite=Strict, Path=/finance,
8 hours, Secure over https) and the `web_session` table keeps only the token's SHA-256 with
the key's prefix, role and hospital. Every page looks the key up again by that prefix, so
revoking the key ends its sessions (within the key cache's few seconds).

GET /finance shows a month (default: the current one in the business time zone): totals per
fund (settled, reversed, net), a stacked bar chart of daily net fund payments (inline SVG),
the clearing table with CSV and XLSX downloads, and a search by claim or settlement id whose
matches open the printable statement. A hospital user sees its own hospital only, like the
finance routes (`scope_hospital`); finance and admin users may filter by hospital.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlalchemy import delete, select
from sqlmodel import col
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.chart import grouped, stacked_bars
from api.contract import ID_PATTERN
from api.db import read_session, write_session
from api.deps import AppState, State
from api.finance import (
    FUNDS,
    Period,
    clearing_download,
    clearing_json,
    daily_fund_payments,
    month_period,
    search_settlements,
    totals_json,
)
from api.models import AuditRecord, Hospital, WebSession
from api.problems import ApiProblem
from api.routes.finance import scope_hospital
from api.security import Principal
from api.services import get_settlement
from api.statement import FUND_LABELS, STATUS_LABELS, render_statement

router = APIRouter(tags=["finance view"], include_in_schema=False)

SESSION_COOKIE = "onestop_session"
SESSION_PATH = "/finance"
SESSION_SECONDS = 8 * 60 * 60
SESSION_TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""What `secrets.token_urlsafe(SESSION_TOKEN_BYTES)` makes; any other cookie is ignored unread."""
LOGIN_BODY_BYTES_MAX = 4 * 1024
LOGIN_FIELDS_MAX = 8
KEY_CHARS_MAX = 200
KEY_PATTERN = re.compile(r"^osk_[0-9A-Za-z]{1,16}_[0-9A-Za-z_-]{1,180}$")
"""What `api.security.new_key` makes; anything else is refused before the database is asked
(a pasted NUL or other control character must not reach PostgreSQL as a prefix)."""
ROLES = ("finance", "admin", "hospital")
SEARCH_RESULTS_MAX = 50
HOSPITALS_LISTED_MAX = 500
MONTH_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
IDENTIFIER = re.compile(ID_PATTERN)

FUND_NAMES = {
    "basic_insurance": "basic insurance",
    "critical_illness": "critical illness insurance",
    "medical_assistance": "medical assistance",
    "charity": "charity",
}
FUND_COLOURS = {
    "basic_insurance": "#2563eb",
    "critical_illness": "#f59e0b",
    "medical_assistance": "#059669",
    "charity": "#db2777",
}
CHART_FUNDS = {fund: f"{FUND_LABELS[fund]} {FUND_NAMES[fund]}" for fund in FUNDS}
TOTAL_ROWS = (
    ("total", "医疗费总额", "total medical costs"),
    *((fund, FUND_LABELS[fund], FUND_NAMES[fund]) for fund in FUNDS),
    ("fund_total", "基金支付合计", "fund total"),
    ("patient_pay", "个人负担", "patient pay"),
)
ROLE_LABELS = {"finance": "财务 finance", "admin": "管理员 admin", "hospital": "医院 hospital"}

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class PageRefused(Exception):
    """A request the view answers with an error page (bad month, another hospital, not found)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------- sessions


def audit_actor(key_prefix: str) -> str:
    """Who the audit names, written as the API's writes write it (`key:<prefix>`)."""
    return f"key:{key_prefix}"


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
        session.add(
            AuditRecord(
                at=now,
                actor=audit_actor(principal.key_prefix),
                action="web.login",
                subject="finance view",
            )
        )
        session.commit()
    return token


def end_session(state: AppState, token: str, actor: str | None) -> None:
    with write_session(state.engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == token_hash(token)))
        if actor is not None:
            session.add(
                AuditRecord(
                    at=state.clock(),
                    actor=audit_actor(actor),
                    action="web.logout",
                    subject="finance view",
                )
            )
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


def _session_cookie(request: Request, token: str, max_age: int) -> str:
    """The Set-Cookie value, written out so that its attributes read exactly as documented."""
    secure = "; Secure" if request.url.scheme == "https" else ""
    return (
        f"{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path={SESSION_PATH}; "
        f"Max-Age={max_age}{secure}"
    )


def _redirect(location: str, cookie: str | None = None) -> Response:
    response = RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
    if cookie is not None:
        response.headers.append("set-cookie", cookie)
    return response


def _to_login(request: Request) -> Response:
    """To the login form, clearing a stale session cookie if the browser sent one."""
    stale = SESSION_COOKIE in request.cookies
    return _redirect(f"{SESSION_PATH}/login", _session_cookie(request, "", 0) if stale else None)


def same_origin(request: Request) -> bool:
    """A form post's Origin, when the browser sends one, names this host (else: refused)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def login_key(request: Request) -> str:
    """The `key` field of the login form (application/x-www-form-urlencoded).

    Parsed here with the standard library rather than `request.form()`, which needs
    python-multipart, not a dependency of the service. BodyLimit has already refused bodies
    over the service's limit; a login form is far smaller still, so more is refused here.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise PageRefused(415, "请使用登录表单提交。Send the login form.")
    body = await request.body()
    if len(body) > LOGIN_BODY_BYTES_MAX:
        raise PageRefused(413, "表单过大。The form is too large.")
    try:
        fields = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=LOGIN_FIELDS_MAX
        )
    except (UnicodeDecodeError, ValueError):
        raise PageRefused(400, "表单无法读取。The form could not be read.") from None
    return fields.get("key", [""])[0].strip()


# ---------------------------------------------------------------- rendering


def _html(state: AppState, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    page = state.templates.get_template(template).render(
        role_labels=ROLE_LABELS, session_path=SESSION_PATH, **context
    )
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)


def _refused(state: AppState, principal: Principal | None, refused: PageRefused) -> HTMLResponse:
    return _html(
        state, "finance_error.html", refused.status, principal=principal, message=refused.message
    )


def _link(path: str, **query: str | None) -> str:
    present = {name: value for name, value in query.items() if value}
    return path + ("?" + urlencode(present) if present else "")


# ---------------------------------------------------------------- what a page covers


@dataclass(frozen=True, slots=True)
class View:
    month: str
    period: Period
    hospital_id: str | None
    """The hospital the page covers: a hospital user's own, or the filter (None: all)."""


def current_month(state: AppState) -> str:
    return state.clock().astimezone(ZoneInfo(state.settings.business_timezone)).strftime("%Y-%m")


def shift_month(month: str, months: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def resolve_view(
    state: AppState, principal: Principal, month: str | None, hospital_id: str | None
) -> View:
    month = month or current_month(state)
    if not MONTH_PATTERN.fullmatch(month) or not 1900 <= int(month[:4]) <= 9998:
        raise PageRefused(422, "月份格式应为 YYYY-MM。The month must read YYYY-MM.")
    hospital_id = hospital_id or None
    if hospital_id is not None and not IDENTIFIER.fullmatch(hospital_id):
        raise PageRefused(422, "医院编号无效。The hospital id is not valid.")
    try:
        scoped = scope_hospital(principal, hospital_id)
    except ApiProblem as problem:
        raise PageRefused(problem.status, f"无权查看该医院。{problem.detail}") from None
    return View(month, month_period(month, state.settings.business_timezone), scoped)


def _hospitals(state: AppState, principal: Principal, scoped: str | None) -> dict[str, str]:
    """Hospital id → name for the filter's list (a hospital user's own only, else the first
    HOSPITALS_LISTED_MAX) and for the page's scope line (the scoped hospital, always)."""
    query = select(col(Hospital.hospital_id), col(Hospital.name)).order_by(
        col(Hospital.hospital_id)
    )
    if principal.role == "hospital":
        query = query.where(col(Hospital.hospital_id) == principal.hospital_id)
    with read_session(state.engine) as session:
        names = {row[0]: row[1] for row in session.execute(query.limit(HOSPITALS_LISTED_MAX))}
        if scoped is not None and scoped not in names:
            hospital = session.get(Hospital, scoped)
            if hospital is not None:
                names[scoped] = hospital.name
    return names


def _search(
    state: AppState, view: View, term: str | None
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Matches for the search term (None when there is no search) and a message if refused."""
    if not term:
        return None, None
    if not IDENTIFIER.fullmatch(term):
        return [], "请输入住院号或结算单号（字母、数字、_ . -）。Enter a claim id or settlement id."
    zone = ZoneInfo(state.settings.business_timezone)
    found = search_settlements(state.engine, term, view.hospital_id, SEARCH_RESULTS_MAX)
    for match in found:
        match["settled_local"] = match["settled_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
        match["status_label"] = f"{STATUS_LABELS.get(match['status'], '')} {match['status']}"
        match["link"] = f"{SESSION_PATH}/statement/{match['settlement_id']}"
    return found, None


def month_context(state: AppState, view: View) -> dict[str, Any]:
    """Everything the month's page shows: totals, chart, clearing and the navigation links."""
    series = daily_fund_payments(state.engine, view.period, view.hospital_id)
    zone = state.settings.business_timezone

    def month_link(month: str) -> str:
        return _link(SESSION_PATH, month=month, hospital_id=view.hospital_id)

    return {
        "month": view.month,
        "period": view.period,
        "totals": totals_json(state.engine, view.period, view.hospital_id),
        "total_rows": TOTAL_ROWS,
        "chart": stacked_bars(series, CHART_FUNDS),
        "clearing": clearing_json(state.engine, view.month, zone, view.hospital_id),
        "previous_link": month_link(shift_month(view.month, -1)),
        "next_link": month_link(shift_month(view.month, 1)),
        "previous_month": shift_month(view.month, -1),
        "next_month": shift_month(view.month, 1),
        "csv_link": _link(
            f"{SESSION_PATH}/clearing.csv", month=view.month, hospital_id=view.hospital_id
        ),
        "xlsx_link": _link(
            f"{SESSION_PATH}/clearing.xlsx", month=view.month, hospital_id=view.hospital_id
        ),
    }


# ---------------------------------------------------------------- routes


@router.get("/finance/login")
async def login_page(request: Request, state: State) -> Response:
    if session_principal(state, request) is not None:
        return _redirect(SESSION_PATH)
    return _html(state, "finance_login.html", principal=None, message=None)


@router.post("/finance/login")
async def login(request: Request, state: State) -> Response:
    if not same_origin(request):
        return _refused(state, None, PageRefused(403, "来源不符。The form came from another site."))
    try:
        key = await login_key(request)
    except PageRefused as refused:
        return _html(
            state, "finance_login.html", refused.status, principal=None, message=refused.message
        )
    well_formed = len(key) <= KEY_CHARS_MAX and KEY_PATTERN.fullmatch(key) is not None
    principal = state.keys.authenticate(key) if well_formed else None
    if principal is None or principal.role not in ROLES:
        message = "API 密钥无效或已吊销。The API key is unknown or revoked."
        return _html(state, "finance_login.html", 401, principal=None, message=message)
    token = start_session(state, principal, request.cookies.get(SESSION_COOKIE))
    return _redirect(SESSION_PATH, _session_cookie(request, token, SESSION_SECONDS))


@router.post("/finance/logout")
async def logout(request: Request, state: State) -> Response:
    if not same_origin(request):
        return _refused(state, None, PageRefused(403, "来源不符。The form came from another site."))
    principal = session_principal(state, request)
    token = request.cookies.get(SESSION_COOKIE)
    if token is not None and TOKEN_PATTERN.fullmatch(token):
        end_session(state, token, principal.key_prefix if principal else None)
    return _redirect(f"{SESSION_PATH}/login", _session_cookie(request, "", 0))


@router.get("/finance")
async def finance_page(
    request: Request,
    state: State,
    month: str | None = None,
    hospital_id: str | None = None,
    q: str | None = None,
) -> Response:
    principal = session_principal(state, request)
    if principal is None:
        return _to_login(request)
    try:
        view = resolve_view(state, principal, month, hospital_id)
    except PageRefused as refused:
        return _refused(state, principal, refused)
    results, search_message = _search(state, view, (q or "").strip())
    return _html(
        state,
        "finance.html",
        principal=principal,
        view=view,
        hospitals=_hospitals(state, principal, view.hospital_id),
        query=(q or "").strip()[:64],
        results=results,
        search_message=search_message,
        fund_labels=FUND_LABELS,
        fund_names=FUND_NAMES,
        fund_colours=FUND_COLOURS,
        grouped=grouped,
        **month_context(state, view),
    )


def _clearing_for(
    request: Request, state: AppState, month: str | None, hospital_id: str | None
) -> tuple[View, dict[str, Any]] | Response:
    """The clearing document of the month the session may see, or the page to answer instead."""
    principal = session_principal(state, request)
    if principal is None:
        return _to_login(request)
    try:
        view = resolve_view(state, principal, month, hospital_id)
    except PageRefused as refused:
        return _refused(state, principal, refused)
    zone = state.settings.business_timezone
    return view, clearing_json(state.engine, view.month, zone, view.hospital_id)


def _attachment(view: View, extension: str) -> dict[str, str]:
    name = f"clearing-{view.month}" + (f"-{view.hospital_id}" if view.hospital_id else "")
    return {
        "Content-Disposition": f'attachment; filename="{name}.{extension}"',
        "Cache-Control": "no-store",
    }


@router.get("/finance/clearing.{extension}")
async def clearing_download_page(
    request: Request,
    state: State,
    extension: Literal["csv", "xlsx"],
    month: str | None = None,
    hospital_id: str | None = None,
) -> Response:
    """The month's clearing as a CSV or XLSX file, under the session's scope."""
    found = _clearing_for(request, state, month, hospital_id)
    if isinstance(found, Response):
        return found
    view, document = found
    content, media_type = clearing_download(document, extension)
    return Response(content, media_type=media_type, headers=_attachment(view, extension))


@router.get("/finance/statement/{settlement_id}")
async def statement_page(request: Request, state: State, settlement_id: str) -> Response:
    principal = session_principal(state, request)
    if principal is None:
        return _to_login(request)
    try:
        if not IDENTIFIER.fullmatch(settlement_id) or len(settlement_id) > 40:
            raise PageRefused(404, f"没有该结算单。No settlement {settlement_id[:40]}.")
        try:
            row, document = get_settlement(state.engine, settlement_id)
        except ApiProblem as problem:
            raise PageRefused(problem.status, f"没有该结算单。{problem.detail}") from None
        if principal.role == "hospital" and row.hospital_id != principal.hospital_id:
            raise PageRefused(
                403, "该结算单不属于本医院。The settlement belongs to another hospital."
            )
    except PageRefused as refused:
        return _refused(state, principal, refused)
    return HTMLResponse(render_statement(state, document), headers=PAGE_HEADERS)
