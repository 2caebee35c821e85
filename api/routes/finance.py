"""Finance routes: reconciliation totals (3201), detail (3202) and clearing (3203).

A hospital key sees only its own hospital; finance and admin keys see all.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Annotated, Any, Literal

import ijson
import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from api.deps import CurrentPrincipal, State, require_roles
from api.finance import (
    RECORD_COLUMNS,
    XLSX_MEDIA_TYPE,
    Period,
    Reconciliation,
    RecordsRefused,
    clearing_download,
    clearing_json,
    csv_records,
    totals_json,
)
from api.problems import ApiProblem
from api.routes.settlements import PROBLEMS
from api.security import Principal

router = APIRouter(prefix="/v1", tags=["finance"])

HospitalFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")]
Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2018-03"])]

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)
"""The dates a finance query may name. A period's bounds become local midnights in UTC and its
end the day after; outside these years that arithmetic would leave the calendar (a 500)."""
EMPTY_RECORDS_BODY_BYTES_MAX = 4 * 1024
"""A detail body without a single record is `{"records": []}`; larger ones are checked whole."""


def scope_hospital(
    principal: Principal, hospital_id: str | None, *, required: bool = False
) -> str | None:
    """The hospital a finance route covers: a hospital key's own (and no other)."""
    require_roles(principal, "finance", "admin", "hospital")
    if principal.role == "hospital":
        if hospital_id is not None and hospital_id != principal.hospital_id:
            raise ApiProblem(
                403,
                "Forbidden",
                f"This key belongs to hospital {principal.hospital_id}.",
                kind="forbidden",
            )
        return principal.hospital_id
    if required and hospital_id is None:
        raise ApiProblem(
            422, "Request refused", "hospital_id is required for this key.", kind="invalid-request",
            errors=[{"loc": ["query", "hospital_id"], "msg": "required", "code": "missing"}],
        )  # fmt: skip
    return hospital_id


def _out_of_range(name: str, day: date) -> dict[str, Any] | None:
    if DATE_MIN <= day <= DATE_MAX:
        return None
    return {
        "loc": ["query", name],
        "msg": f"{day.isoformat()} is outside {DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}",
        "code": "date_out_of_range",
    }


def _period(date_from: date, date_to: date, zone: str) -> Period:
    errors = [
        error
        for error in (_out_of_range("date_from", date_from), _out_of_range("date_to", date_to))
        if error is not None
    ]
    if errors:
        raise ApiProblem(
            422, "Request refused", f"The request has {len(errors)} problem(s).",
            kind="invalid-request", errors=errors,
        )  # fmt: skip
    if date_to < date_from:
        raise ApiProblem(
            422, "Request refused", "date_to is before date_from.", kind="invalid-request",
            errors=[{"loc": ["query", "date_to"], "msg": "before date_from", "code": "invalid_period"}],
        )  # fmt: skip
    if (date_to - date_from).days > 366:
        raise ApiProblem(
            422, "Request refused", "A period is at most 366 days.", kind="invalid-request",
            errors=[{"loc": ["query", "date_to"], "msg": "period longer than 366 days", "code": "invalid_period"}],
        )  # fmt: skip
    return Period(date_from, date_to, zone)


@router.get(
    "/reconciliation/totals",
    responses=PROBLEMS,
    summary="Totals of settled, reversed and net (3201)",
)
async def totals(
    date_from: date,
    date_to: date,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
) -> Response:
    """Counts and sums, per fund, patient pay and total, of what was settled in the period (by
    settlement time), what was reversed in it (by reversal time) and the net, in the business
    time zone's calendar days."""
    scoped = scope_hospital(principal, hospital_id)
    period = _period(date_from, date_to, state.settings.business_timezone)
    return Response(
        orjson.dumps(totals_json(state.engine, period, scoped)), media_type="application/json"
    )


@router.get(
    "/clearing",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                XLSX_MEDIA_TYPE: {},
            }
        },
        **PROBLEMS,
    },
    summary="What each fund owes each hospital for a month (3203)",
)
async def clearing(
    month: Month,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """Per hospital and fund: settlement postings of the month, reversal postings of the month,
    and what is owed (their sum), with the tariff's fund codes; totals tie out to the totals
    route for the same month to the fen."""
    scoped = scope_hospital(principal, hospital_id)
    if not DATE_MIN.year <= int(month[:4]) <= DATE_MAX.year:
        raise ApiProblem(
            422, "Request refused", f"The month {month} is outside the years the service covers.",
            kind="invalid-request",
            errors=[{"loc": ["query", "month"], "msg": f"the year must be {DATE_MIN.year} to {DATE_MAX.year}",
                     "code": "date_out_of_range"}],
        )  # fmt: skip
    document = clearing_json(state.engine, month, state.settings.business_timezone, scoped)
    name = f"clearing-{month}" + (f"-{scoped}" if scoped else "")
    if format != "json":
        content, media_type = clearing_download(document, format)
        return Response(content, media_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})  # fmt: skip
    return Response(orjson.dumps(document), media_type="application/json")


async def _limited(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, refused with 413 once past the route's limit (chunked bodies too)."""
    limit = request.app.state.onestop.settings.reconciliation_body_bytes_max
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            message = f"The body is larger than {limit} bytes."
            raise ApiProblem(
                413,
                "Request body too large",
                message,
                kind="body-too-large",
                errors=[{"loc": ["body"], "msg": message, "code": "body_too_large"}],
            )
        yield chunk


class _AsyncBody:
    """The request body as an async file for ijson, read chunk by chunk.

    It keeps the first EMPTY_RECORDS_BODY_BYTES_MAX bytes, so that a body in which ijson found
    no record can be checked whole: `{"records": []}` is a valid empty call, while `{}`,
    `{"records": null}` or a misspelt key must be refused, not reconciled as no records.
    """

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = _limited(request).__aiter__()
        self._buffer = b""
        self.head = b""
        self.size = 0

    async def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                break
            self._buffer += chunk
            if self.size < EMPTY_RECORDS_BODY_BYTES_MAX:
                self.head += chunk[: EMPTY_RECORDS_BODY_BYTES_MAX - self.size]
            self.size += len(chunk)
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _body_problem(message: str, code: str) -> ApiProblem:
    return ApiProblem(
        422, "Request refused", message, kind="invalid-request",
        errors=[{"loc": ["body"], "msg": message, "code": code}],
    )  # fmt: skip


async def _csv_lines(request: Request) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    try:
        async for chunk in _limited(request):
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise _body_problem(f"The CSV is not UTF-8: {error.reason}.", "csv_encoding") from None
    if pending:
        yield pending


async def _load_records(request: Request, reconciliation: Reconciliation) -> None:
    """Stream the body into the reconciliation: CSV line by line, JSON item by item."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/csv":
        await _load_csv(request, reconciliation)
    elif content_type == "application/json":
        await _load_json(request, reconciliation)
    else:
        raise ApiProblem(
            415,
            "Unsupported media type",
            "Send application/json or text/csv.",
            kind="unsupported-media-type",
            errors=[
                {
                    "loc": ["header", "content-type"],
                    "msg": f"{content_type[:100] or 'no content type'} is not application/json "
                    "or text/csv",
                    "code": "unsupported_media_type",
                }
            ],
        )
    reconciliation.finish()


async def _load_csv(request: Request, reconciliation: Reconciliation) -> None:
    lines: list[str] = []
    header_seen = False
    index = 0

    def flush() -> None:
        nonlocal lines, header_seen, index
        if not header_seen and lines:
            list(csv_records(lines[:1]))  # checks the header; raises RecordsRefused
            header_seen = True
            lines = lines[1:]
        rows = []
        for values in csv.reader(lines):
            if not values:
                continue
            fields: dict[str, Any] = (
                dict(zip(RECORD_COLUMNS, values, strict=True))
                if len(values) == len(RECORD_COLUMNS)
                else {"_fields": len(values)}
            )
            rows.append((index, fields))
            index += 1
        reconciliation.add(rows)
        lines = []

    async for line in _csv_lines(request):
        lines.append(line)
        if len(lines) >= Reconciliation.BATCH:
            flush()
    flush()
    if not header_seen:
        list(csv_records([]))  # an empty body: refused for its missing header


async def _load_json(request: Request, reconciliation: Reconciliation) -> None:
    batch: list[tuple[int, dict[str, Any]]] = []
    index = 0
    body = _AsyncBody(request)
    try:
        async for item in ijson.items(body, "records.item", use_float=False):
            batch.append((index, item if isinstance(item, dict) else {"_fields": 0}))
            index += 1
            if len(batch) >= Reconciliation.BATCH:
                reconciliation.add(batch)
                batch = []
    except ijson.JSONError as error:
        raise ApiProblem(
            422, "Request refused", f"The body is not valid JSON: {error}", kind="invalid-request",
            errors=[{"loc": ["body"], "msg": str(error), "code": "json_invalid"}],
        ) from None  # fmt: skip
    if index == 0:
        _check_empty_records(body)
    reconciliation.add(batch)


def _check_empty_records(body: _AsyncBody) -> None:
    """No record was found: the body must be `{"records": []}`, not another shape."""
    if body.size <= EMPTY_RECORDS_BODY_BYTES_MAX:
        try:
            document = orjson.loads(body.head)
        except orjson.JSONDecodeError:
            document = None
        if document == {"records": []}:
            return
    raise _body_problem(
        'The body must be {"records": [...]}, an object whose only field is the array of records.',
        "records_missing",
    )


def _stream_json(reconciliation: Reconciliation, head: dict[str, Any]) -> Iterator[bytes]:
    """The answer as one JSON document, sent in chunks of about 64 KiB (not one per item)."""
    try:
        parts = [orjson.dumps(head)[:-1] + b',"items":[']
        size = len(parts[0])
        first = True
        for item in reconciliation.items():
            part = (b"" if first else b",") + orjson.dumps(item)
            first = False
            parts.append(part)
            size += len(part)
            if size > 64 * 1024:
                yield b"".join(parts)
                parts, size = [], 0
        parts.append(b"]}")
        yield b"".join(parts)
    finally:
        reconciliation.close()


DETAIL_CSV_HEADER = (
    "outcome", "settlement_id", "claim_id", "hospital_status", "hospital_total",
    "hospital_fund_total", "hospital_patient_pay", "engine_status", "engine_total",
    "engine_fund_total", "engine_patient_pay", "differences",
)  # fmt: skip


def _stream_csv(reconciliation: Reconciliation) -> Iterator[bytes]:
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(DETAIL_CSV_HEADER)
        for item in reconciliation.items():
            hospital = item["hospital"] or {}
            engine_side = item["engine"] or {}
            writer.writerow(
                [item["outcome"], item["settlement_id"], item["claim_id"],
                 *(hospital.get(name, "") for name in ("status", "total", "fund_total", "patient_pay")),
                 *(engine_side.get(name, "") for name in ("status", "total", "fund_total", "patient_pay")),
                 " ".join(item["differences"])]
            )  # fmt: skip
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
    finally:
        reconciliation.close()


@router.post(
    "/reconciliation/detail",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **PROBLEMS},
    summary="Reconcile a hospital's own records with the engine's settlements (3202)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {
                        "records": [
                            {"settlement_id": "ST20181231ABCDEF0123456789", "claim_id": "ZY20180312001",
                             "status": "settled", "total": "24100.00", "fund_total": "19195.10",
                             "patient_pay": "4904.90"}
                        ]
                    }
                },
                "text/csv": {
                    "example": ",".join(RECORD_COLUMNS)
                    + "\nST20181231ABCDEF0123456789,ZY20180312001,settled,24100.00,19195.10,4904.90\n"
                },
            },
        }
    },
)  # fmt: skip
async def detail(
    request: Request,
    date_from: date,
    date_to: date,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Classify every record the hospital sends (JSON `{"records": [...]}` or CSV with the
    columns settlement_id, claim_id, status, total, fund_total, patient_pay) and every engine
    settlement of the hospital settled in the period: matched, amount_mismatch (both figures),
    status_mismatch, missing_in_engine, missing_at_hospital. Up to 100,000 records per call,
    read and answered as streams. A call with any bad record is refused whole, listing every
    problem."""
    scoped = scope_hospital(principal, hospital_id, required=True)
    assert scoped is not None
    period = _period(date_from, date_to, state.settings.business_timezone)
    reconciliation = Reconciliation(
        state.engine, scoped, period, state.settings.reconciliation_records_max
    )
    try:
        await _load_records(request, reconciliation)
        summary = reconciliation.summary()
    except RecordsRefused as refused:
        reconciliation.close()
        raise ApiProblem(
            422, "Records refused",
            f"{refused.total} problem(s) in the records; nothing was reconciled"
            + (f" (the first {len(refused.problems)} are listed)" if refused.total > len(refused.problems) else ""),
            kind="records-refused", errors=refused.problems,
        ) from None  # fmt: skip
    except BaseException:
        reconciliation.close()
        raise
    if format == "csv":
        return StreamingResponse(_stream_csv(reconciliation), media_type="text/csv; charset=utf-8",
                                 headers={"X-Reconciliation-Summary": orjson.dumps(summary).decode()})  # fmt: skip
    head = {"hospital_id": scoped, "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "time_zone": period.zone, "summary": summary}  # fmt: skip
    return StreamingResponse(_stream_json(reconciliation, head), media_type="application/json")
