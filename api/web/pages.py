"""The finance view: server-rendered pages for finance, admin and hospital users (no JavaScript).

Sessions (logging in with a key, the cookie) are `api.web.sessions`; the chart's geometry is
`api.core.chart`; the figures come from the finance and clearing services.

GET /finance shows a month (default: the current one in the business time zone): totals per
fund (settled, reversed, net), a stacked bar chart of daily net fund payments (inline SVG),
the clearing table with CSV and XLSX downloads, the inter-region table under it (what each
insured region's funds owe each treatment region's hospitals, with its downloads), and a
search by claim or settlement id whose matches open the printable statement. A hospital user
sees its own hospital only, like the finance routes (`scope_hospital`), and never the
inter-region table, which covers every hospital (`REGIONS_ROLES`); finance and admin users
may filter by hospital, and see the inter-region table on the unfiltered page.

After the bill (rules §15–16): the aged receivables of the page's hospitals as of the month's
last day (or today), with their downloads; and, to finance and admin only, every high-burden
alert, each raised one with a decision form posted to `/finance/alerts/{person}/{year}/decision`
(same origin, recorded as the API records it, every refusal shown, nothing written).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from api.core.access import ROLES, Principal, may_see_hospital, require_roles, scope_hospital
from api.core.after_bill import DecisionIn
from api.core.chart import grouped, stacked_bars
from api.core.contract import ID_PATTERN
from api.core.deps import AppState, State
from api.core.problems import ApiProblem
from api.db.engine import read_session
from api.db.tables import Hospital
from api.services.alerts import decide, list_alerts
from api.services.clearing import (
    CSV_MEDIA_TYPE,
    REGIONS_ROLES,
    XLSX_MEDIA_TYPE,
    clearing_download,
    clearing_json,
    regions_download,
    regions_json,
)
from api.services.finance import (
    DATE_MAX,
    DATE_MIN,
    FUND_ORDER,
    Period,
    daily_fund_payments,
    month_period,
    search_settlements,
    totals_json,
)
from api.services.receivables import (
    business_today,
    fen_of,
    list_receivables,
    receivables_csv,
    receivables_xlsx,
)
from api.services.settlements import get_settlement
from api.services.statement import FUND_LABELS, STATUS_LABELS, render_statement
from api.web.sessions import (
    SESSION_COOKIE,
    SESSION_PATH,
    SESSION_SECONDS,
    TOKEN_PATTERN,
    PageRefused,
    end_session,
    form_fields,
    login_key,
    redirect,
    same_origin,
    session_cookie,
    session_principal,
    start_session,
    to_login,
)

router = APIRouter(tags=["finance view"], include_in_schema=False)

SEARCH_RESULTS_MAX = 50
HOSPITALS_LISTED_MAX = 500
MONTH_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
IDENTIFIER = re.compile(ID_PATTERN)

FUND_ENGLISH_NAMES = {
    "basic_insurance": "basic insurance",
    "critical_illness": "critical illness insurance",
    "medical_assistance": "medical assistance",
    "charity": "charity",
    "health_fund": "health poverty fund",
}
FUND_COLOURS = {
    "basic_insurance": "#2563eb",
    "critical_illness": "#f59e0b",
    "medical_assistance": "#059669",
    "charity": "#db2777",
    "health_fund": "#7c3aed",
}
CHART_FUNDS = {fund: f"{FUND_LABELS[fund]} {FUND_ENGLISH_NAMES[fund]}" for fund in FUND_ORDER}
TOTAL_ROWS = (
    ("total", "医疗费总额", "total medical costs"),
    *((fund, FUND_LABELS[fund], FUND_ENGLISH_NAMES[fund]) for fund in FUND_ORDER),
    ("fund_total", "基金支付合计", "fund total"),
    ("patient_pay", "个人负担", "patient pay"),
)
ROLE_LABELS = {"finance": "财务 finance", "admin": "管理员 admin", "hospital": "医院 hospital"}

PAGE_HEADERS = {"Cache-Control": "no-store"}
"""The pages' own header; their Content-Security-Policy, Referrer-Policy and nosniff are those
of every HTML answer (`api.core.middleware.SecurityHeaders`)."""


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
    if not MONTH_PATTERN.fullmatch(month) or not DATE_MIN.year <= int(month[:4]) <= DATE_MAX.year:
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


def month_context(state: AppState, view: View, principal: Principal) -> dict[str, Any]:
    """Everything the month's page shows: totals, chart, clearing, the inter-region table (to
    finance and admin, on the page of every hospital) and the navigation links."""
    series = daily_fund_payments(state.engine, view.period, view.hospital_id)
    zone = state.settings.business_timezone

    def month_link(month: str) -> str:
        return _link(SESSION_PATH, month=month, hospital_id=view.hospital_id)

    def download(name: str, hospital_id: str | None = None) -> str:
        return _link(f"{SESSION_PATH}/{name}", month=view.month, hospital_id=hospital_id)

    may_see_regions = principal.role in REGIONS_ROLES
    aging_day = min(business_today(state), view.period.date_to)
    listed = list_receivables(
        state.engine, zone, principal, hospital_id=view.hospital_id, status=None, as_of=aging_day
    )
    may_decide = principal.role in ("finance", "admin")
    return {
        "receivables": listed,
        "aging_bars": aging_bars(listed["aging"]),
        "aging_buckets": AGING_LABELS,
        "receivables_csv_link": _link(
            f"{SESSION_PATH}/receivables.csv",
            as_of=aging_day.isoformat(),
            hospital_id=view.hospital_id,
        ),
        "receivables_xlsx_link": _link(
            f"{SESSION_PATH}/receivables.xlsx",
            as_of=aging_day.isoformat(),
            hospital_id=view.hospital_id,
        ),
        # Every alert, of every policy year: a raised one waits for its decision whatever
        # month the page shows (the rules' years are policy years, not calendar months).
        "alerts": list_alerts(state.engine, principal, year=None, status=None, region=None)
        if may_decide
        else None,
        "may_decide": may_decide,
        "month": view.month,
        "period": view.period,
        "totals": totals_json(state.engine, view.period, view.hospital_id),
        "total_rows": TOTAL_ROWS,
        "chart": stacked_bars(series, CHART_FUNDS),
        "clearing": clearing_json(state.engine, view.month, zone, view.hospital_id),
        "regions": regions_json(state.engine, view.month, zone)
        if may_see_regions and view.hospital_id is None
        else None,
        "may_see_regions": may_see_regions,
        "previous_link": month_link(shift_month(view.month, -1)),
        "next_link": month_link(shift_month(view.month, 1)),
        "previous_month": shift_month(view.month, -1),
        "next_month": shift_month(view.month, 1),
        "csv_link": download("clearing.csv", view.hospital_id),
        "xlsx_link": download("clearing.xlsx", view.hospital_id),
        "regions_csv_link": download("clearing/regions.csv"),
        "regions_xlsx_link": download("clearing/regions.xlsx"),
        "all_hospitals_link": _link(SESSION_PATH, month=view.month),
    }


AGING_LABELS = (
    ("not_due", "未到期", "not due", "#93c5fd"),
    ("1_30", "1–30天", "1–30 days", "#fcd34d"),
    ("31_90", "31–90天", "31–90 days", "#fb923c"),
    ("91_180", "91–180天", "91–180 days", "#ef4444"),
    ("over_180", "180天以上", "over 180", "#7f1d1d"),
)
"""The aging buckets in order, with their Chinese and English labels and colours."""


def aging_bars(aging: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per hospital, each bucket's share of the largest outstanding amount on the page, in
    percent of the bar's full width (a plain stacked bar, no script)."""
    widest = max((fen_of(row["outstanding"]) for row in aging), default=0)
    bars = []
    for row in aging:
        segments = []
        for bucket, label, english, colour in AGING_LABELS:
            amount = fen_of(row[bucket])
            if amount and widest:
                width = round(100 * amount / widest, 2)
                segments.append(
                    {"width": width, "colour": colour, "title": f"{label} {english}: {row[bucket]}"}
                )
        bars.append({"hospital_id": row["hospital_id"], "segments": segments})
    return bars


# ---------------------------------------------------------------- routes


@router.get("/finance/login")
def login_page(request: Request, state: State) -> Response:
    if session_principal(state, request) is not None:
        return redirect(SESSION_PATH)
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
    return await run_in_threadpool(_signed_in, request, state, key)


def _signed_in(request: Request, state: AppState, key: str) -> Response:
    """The key checked and the session begun (database work, off the event loop)."""
    principal = state.keys.authenticate(key)  # a malformed key is refused before any lookup
    if principal is None or principal.role not in ROLES:
        message = "API 密钥无效或已吊销。The API key is unknown or revoked."
        return _html(state, "finance_login.html", 401, principal=None, message=message)
    token = start_session(state, principal, request.cookies.get(SESSION_COOKIE))
    return redirect(SESSION_PATH, session_cookie(request, token, SESSION_SECONDS))


@router.post("/finance/logout")
def logout(request: Request, state: State) -> Response:
    if not same_origin(request):
        return _refused(state, None, PageRefused(403, "来源不符。The form came from another site."))
    principal = session_principal(state, request)
    token = request.cookies.get(SESSION_COOKIE)
    if token is not None and TOKEN_PATTERN.fullmatch(token):
        end_session(state, token, principal)
    return redirect(f"{SESSION_PATH}/login", session_cookie(request, "", 0))


@router.get("/finance")
def finance_page(
    request: Request,
    state: State,
    month: str | None = None,
    hospital_id: str | None = None,
    q: str | None = None,
) -> Response:
    found = _session_view(request, state, month, hospital_id)
    if isinstance(found, Response):
        return found
    principal, view = found
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
        fund_names=FUND_ENGLISH_NAMES,
        fund_colours=FUND_COLOURS,
        grouped=grouped,
        **month_context(state, view, principal),
    )


def _session_view(
    request: Request, state: AppState, month: str | None, hospital_id: str | None
) -> tuple[Principal, View] | Response:
    """Who is logged in and what the page covers, or the page to answer instead (the login
    form, or an error page for a bad month or another hospital)."""
    principal = session_principal(state, request)
    if principal is None:
        return to_login(request)
    try:
        return principal, resolve_view(state, principal, month, hospital_id)
    except PageRefused as refused:
        return _refused(state, principal, refused)


def _clearing_for(
    request: Request, state: AppState, month: str | None, hospital_id: str | None
) -> tuple[View, dict[str, Any]] | Response:
    """The clearing document of the month the session may see, or the page to answer instead."""
    found = _session_view(request, state, month, hospital_id)
    if isinstance(found, Response):
        return found
    _, view = found
    zone = state.settings.business_timezone
    return view, clearing_json(state.engine, view.month, zone, view.hospital_id)


def _attachment(name: str, extension: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{name}.{extension}"',
        "Cache-Control": "no-store",
    }


@router.get("/finance/clearing.{extension}")
def clearing_download_page(
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
    name = f"clearing-{view.month}" + (f"-{view.hospital_id}" if view.hospital_id else "")
    return Response(content, media_type=media_type, headers=_attachment(name, extension))


@router.get("/finance/clearing/regions.{extension}")
def regions_download_page(
    request: Request, state: State, extension: Literal["csv", "xlsx"], month: str | None = None
) -> Response:
    """The month's inter-region table as a CSV or XLSX file: finance and admin sessions only."""
    found = _session_view(request, state, month, None)
    if isinstance(found, Response):
        return found
    principal, view = found
    try:
        require_roles(principal, *REGIONS_ROLES)
    except ApiProblem as problem:
        refused = PageRefused(problem.status, f"无权查看跨区域清算。{problem.detail}")
        return _refused(state, principal, refused)
    document = regions_json(state.engine, view.month, state.settings.business_timezone)
    content, media_type = regions_download(document, extension)
    headers = _attachment(f"clearing-regions-{view.month}", extension)
    return Response(content, media_type=media_type, headers=headers)


@router.get("/finance/receivables.{extension}")
def receivables_download_page(
    request: Request,
    state: State,
    extension: Literal["csv", "xlsx"],
    as_of: str | None = None,
    hospital_id: str | None = None,
) -> Response:
    """The receivables and their aging as of a day, as a CSV or XLSX file, under the session's
    scope (a hospital user: its own)."""
    found = _session_view(request, state, None, hospital_id)
    if isinstance(found, Response):
        return found
    principal, view = found
    try:
        day = business_today(state) if as_of is None else date.fromisoformat(as_of)
    except ValueError:
        refused = PageRefused(422, f"日期无效。{(as_of or '')[:20]!r} is not a date YYYY-MM-DD.")
        return _refused(state, principal, refused)
    listed = list_receivables(
        state.engine, state.settings.business_timezone, principal,
        hospital_id=view.hospital_id, status=None, as_of=day,
    )  # fmt: skip
    if extension == "csv":
        content: str | bytes = receivables_csv(listed)
        media_type = CSV_MEDIA_TYPE
    else:
        content, media_type = receivables_xlsx(listed), XLSX_MEDIA_TYPE
    name = f"receivables-{day}" + (f"-{view.hospital_id}" if view.hospital_id else "")
    return Response(content, media_type=media_type, headers=_attachment(name, extension))


DECISION_FIELDS = ("decision_id", "decision", "amount", "reason", "month")


@router.post("/finance/alerts/{person_id}/{year}/decision")
async def decision_page(request: Request, state: State, person_id: str, year: int) -> Response:
    """A decision posted from the alerts' form: recorded as `POST /v1/alerts/…/decision`
    records it, then back to the month's page at the alert. Finance and admin only."""
    principal = await run_in_threadpool(session_principal, state, request)
    if principal is None:
        return to_login(request)
    try:
        if not same_origin(request):
            raise PageRefused(403, "来源不符。The form came from another site.")
        if principal.role not in ("finance", "admin"):
            raise PageRefused(403, "无权决定临时救助。Only finance and admin decide.")
        fields = await form_fields(request, DECISION_FIELDS)
        month = fields["month"] if MONTH_PATTERN.fullmatch(fields["month"]) else None
        body = {
            "decision_id": fields["decision_id"],
            "decision": fields["decision"],
            "reason": fields["reason"],
            **({"amount": fields["amount"]} if fields["amount"] else {}),
        }
        try:
            decision = DecisionIn.model_validate(body)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            raise PageRefused(
                422, f"决定未记录。The decision was not recorded: {problems}"
            ) from None
        try:
            await run_in_threadpool(decide, state, person_id, year, decision, principal)
        except ApiProblem as problem:
            listed = "; ".join(str(error["msg"]) for error in problem.errors) or problem.detail
            raise PageRefused(
                problem.status, f"决定未记录。The decision was not recorded: {listed}"
            ) from None
    except PageRefused as refused:
        return _refused(state, principal, refused)
    target = _link(SESSION_PATH, month=month)
    return redirect(f"{target}#alert-{person_id}-{year}")


@router.get("/finance/statement/{settlement_id}")
def statement_page(request: Request, state: State, settlement_id: str) -> Response:
    principal = session_principal(state, request)
    if principal is None:
        return to_login(request)
    try:
        if not IDENTIFIER.fullmatch(settlement_id) or len(settlement_id) > 40:
            raise PageRefused(404, f"没有该结算单。No settlement {settlement_id[:40]}.")
        try:
            stored = get_settlement(state.engine, settlement_id)
        except ApiProblem as problem:
            raise PageRefused(problem.status, f"没有该结算单。{problem.detail}") from None
        if not may_see_hospital(principal, stored.row.hospital_id):
            raise PageRefused(
                403, "该结算单不属于本医院。The settlement belongs to another hospital."
            )
    except PageRefused as refused:
        return _refused(state, principal, refused)
    return HTMLResponse(
        render_statement(state.engine, state.templates, stored), headers=PAGE_HEADERS
    )
