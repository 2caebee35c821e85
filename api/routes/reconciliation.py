"""The detail reconciliation route (3202): the hospital's records streamed in, the outcome
streamed out.

The body is read chunk by chunk and refused with 413 once past its limit (chunked bodies
too): CSV line by line, JSON item by item with ijson. Records go into the service's
`Reconciliation` in batches; the answer is written in chunks of about 64 KiB.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any, Literal

import ijson
import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from api.core.access import scope_hospital
from api.core.deps import CurrentPrincipal, State
from api.core.problems import (
    ApiProblem,
    body_too_large,
    invalid_request,
    item,
    records_refused,
    unsupported_media_type,
)
from api.routes.finance import HospitalFilter
from api.routes.responses import PROBLEMS
from api.services.finance import checked_period
from api.services.reconciliation import (
    RECORD_COLUMNS,
    Reconciliation,
    RecordsRefused,
    csv_records,
)

router = APIRouter(prefix="/v1", tags=["finance"])

EMPTY_RECORDS_BODY_BYTES_MAX = 4 * 1024
"""A detail body without a single record is `{"records": []}`; larger ones are checked whole."""


async def _limited(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, refused with 413 once past the route's limit (chunked bodies too)."""
    limit = request.app.state.onestop.settings.reconciliation_body_bytes_max
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise body_too_large(limit)
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
    return invalid_request(message, [item(["body"], message, code)])


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
        raise unsupported_media_type(
            "Send application/json or text/csv.", content_type, "application/json or text/csv"
        )
    await run_in_threadpool(reconciliation.finish)


async def _load_csv(request: Request, reconciliation: Reconciliation) -> None:
    lines: list[str] = []
    header_seen = False
    index = 0

    def parsed() -> list[tuple[int, dict[str, Any]]]:
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
        lines = []
        return rows

    async for line in _csv_lines(request):
        lines.append(line)
        if len(lines) >= Reconciliation.BATCH:
            await run_in_threadpool(reconciliation.add, parsed())
    await run_in_threadpool(reconciliation.add, parsed())
    if not header_seen:
        list(csv_records([]))  # an empty body: refused for its missing header


async def _load_json(request: Request, reconciliation: Reconciliation) -> None:
    batch: list[tuple[int, dict[str, Any]]] = []
    index = 0
    body = _AsyncBody(request)
    try:
        async for record in ijson.items(body, "records.item", use_float=False):
            batch.append((index, record if isinstance(record, dict) else {"_fields": 0}))
            index += 1
            if len(batch) >= Reconciliation.BATCH:
                await run_in_threadpool(reconciliation.add, batch)
                batch = []
    except ijson.JSONError as error:
        raise invalid_request(
            f"The body is not valid JSON: {error}", [item(["body"], str(error), "json_invalid")]
        ) from None
    if index == 0:
        _check_empty_records(body)
    await run_in_threadpool(reconciliation.add, batch)


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
    period = checked_period(date_from, date_to, state.settings.business_timezone)
    reconciliation = await run_in_threadpool(
        Reconciliation, state.engine, scoped, period, state.settings.reconciliation_records_max
    )  # the database's work runs off the event loop, the body's reading on it
    try:
        await _load_records(request, reconciliation)
        summary = await run_in_threadpool(reconciliation.summary)
    except RecordsRefused as refused:
        await run_in_threadpool(reconciliation.close)
        listed = len(refused.problems)
        raise records_refused(
            f"{refused.total} problem(s) in the records; nothing was reconciled"
            + (f" (the first {listed} are listed)" if refused.total > listed else ""),
            refused.problems,
        ) from None
    except BaseException:
        reconciliation.close()
        raise
    if format == "csv":
        return StreamingResponse(_stream_csv(reconciliation), media_type="text/csv; charset=utf-8",
                                 headers={"X-Reconciliation-Summary": orjson.dumps(summary).decode()})  # fmt: skip
    head = {"hospital_id": scoped, "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "time_zone": period.zone, "summary": summary}  # fmt: skip
    return StreamingResponse(_stream_json(reconciliation, head), media_type="application/json")
