"""The detail reconciliation route (3202): the hospital's records streamed in, the outcome
streamed out.

The body is read chunk by chunk and refused with 413 once past its limit (chunked bodies
too). A CSV is read line by line, a line longer than CSV_LINE_CHARS_MAX refused unread; a JSON
body is fed to ijson's push parser in pieces of at most PIECE_BYTES, each first checked to
hold no token longer than TOKEN_BYTES_MAX, and its low-level events read one by one
(`JsonRecords`), so that a body nested too deeply is refused at its first container too
deep, before anything is built (issue 11: ijson's `items` built 100,000 levels in ~16 GB).
Records go into the service's `Reconciliation` in batches; the answer is written in chunks
of about 64 KiB.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import ijson
import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from api.core.access import scope_hospital
from api.core.contract import IsoDate
from api.core.deps import CurrentPrincipal, State
from api.core.problems import (
    body_too_large,
    item,
    records_refused,
    unsupported_media_type,
)
from api.core.spreadsheet import safe_row
from api.routes.finance import HospitalFilter
from api.routes.responses import PROBLEMS
from api.services.finance import checked_period
from api.services.reconciliation import (
    CSV_LINE_CHARS_MAX,
    RECORD_COLUMNS,
    TOKEN_BYTES_MAX,
    TOKEN_CHARS_MAX,
    BodyRefused,
    JsonRecords,
    RawRecord,
    Reconciliation,
    RecordsRefused,
    csv_header_problem,
    csv_row,
    token_end,
    token_too_long,
)

router = APIRouter(prefix="/v1", tags=["finance"])

PIECE_BYTES = 64 * 1024
"""Most bytes handed to the JSON parser at once: the events of one piece are made before any
is read, so a piece bounds them (a client's one chunk may be the whole body)."""


async def _limited(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, refused with 413 once past the route's limit (chunked bodies too)."""
    limit = request.app.state.onestop.settings.reconciliation_body_bytes_max
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise body_too_large(limit)
        yield chunk


async def _json_pieces(request: Request) -> AsyncIterator[bytes]:
    """The body in pieces of whole tokens, each of at most TOKEN_CHARS_MAX characters.

    A token cut by a chunk's end waits for the next chunk; one too long raises _TokenTooLong
    before the parser sees a byte of it, so that no token is ever buffered whole.
    """
    held = b""
    async for chunk in _limited(request):
        data, start = held + chunk, 0
        while len(data) - start > TOKEN_BYTES_MAX:
            piece = data[start : start + PIECE_BYTES]
            end = token_end(piece)
            if end == 0:
                raise _TokenTooLong
            yield piece[:end]
            start += end
        held = data[start:]
    end = min(token_end(held + b" "), len(held))  # a space ends a last number, changing nothing
    if end:
        yield held[:end]
    if end < len(held):
        if token_too_long(held[end:]):
            raise _TokenTooLong
        yield held[end:]  # a token the body's end cut short: the parser refuses it


class _TokenTooLong(Exception):
    """A string, number or key longer than TOKEN_CHARS_MAX: where, the parser's state says."""


def _body_problem(message: str, code: str) -> dict[str, Any]:
    """A problem of the body as a whole (`loc` ["body"]): its encoding or its JSON syntax."""
    return item(["body"], message, code)


async def _csv_lines(request: Request) -> AsyncIterator[tuple[int, str | None]]:
    """(line number, line) of the CSV body; None for a line longer than CSV_LINE_CHARS_MAX,
    which is counted but never held."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending, overflow, number = "", False, 0
    try:
        async for chunk in _limited(request):
            *complete, last = decoder.decode(chunk).split("\n")
            for line in complete:
                number += 1
                too_long = overflow or len(pending) + len(line) > CSV_LINE_CHARS_MAX
                yield number, None if too_long else pending + line
                pending, overflow = "", False
            if not overflow and len(pending) + len(last) > CSV_LINE_CHARS_MAX:
                pending, overflow = "", True
            elif not overflow:
                pending += last
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        message = f"the CSV is not UTF-8: {error.reason} (after line {number})"
        raise BodyRefused(_body_problem(message, "csv_encoding")) from None
    if overflow or pending:
        yield number + 1, None if overflow or len(pending) > CSV_LINE_CHARS_MAX else pending


async def _load_records(request: Request, reconciliation: Reconciliation) -> None:
    """Stream the body into the reconciliation: CSV line by line, JSON event by event."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/csv":
        records = _csv_records(request)
    elif content_type == "application/json":
        records = _json_records(request, JsonRecords(note=reconciliation.note))
    else:
        raise unsupported_media_type(
            "Send application/json or text/csv.", content_type, "application/json or text/csv"
        )
    batch: list[RawRecord] = []
    try:
        async for record in records:
            batch.append(record)
            if len(batch) >= Reconciliation.BATCH:
                await run_in_threadpool(reconciliation.add, batch)
                batch = []
    except BodyRefused as refused:
        # The records read so far are checked too: the answer lists their problems as well.
        await run_in_threadpool(reconciliation.add, [*batch, *refused.records])
        raise reconciliation.stopped(refused.problem) from None
    await run_in_threadpool(reconciliation.add, batch)
    await run_in_threadpool(reconciliation.finish)


async def _csv_records(request: Request) -> AsyncIterator[RawRecord]:
    index = 0
    header_seen = False
    async for number, line in _csv_lines(request):
        if not header_seen:
            header_seen = True
            problem = csv_header_problem(line)
            if problem is not None:
                raise BodyRefused(problem)
        elif line is None or line.strip():
            yield csv_row(index, number, line)
            index += 1
    if not header_seen:
        problem = csv_header_problem("")  # an empty body: refused for its missing header
        assert problem is not None
        raise BodyRefused(problem)


async def _json_records(request: Request, shape: JsonRecords) -> AsyncIterator[RawRecord]:
    """The records of the JSON body, from ijson's push parser fed piece by piece."""
    events = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, use_float=False)
    try:
        async for piece in _json_pieces(request):
            parser.send(piece)
            for record in shape.read(events):
                yield record
            del events[:]
        parser.close()
        for record in shape.read(events):
            yield record
    except ijson.JSONError as error:
        raise BodyRefused(_body_problem(_json_error(error), "json_invalid")) from None
    except _TokenTooLong:
        message = f"a string, number or key longer than {TOKEN_CHARS_MAX} characters"
        raise BodyRefused(item(shape.place(), message, "value_too_long")) from None
    shape.finish()


def _json_error(error: ijson.JSONError) -> str:
    """ijson's message without the lines of the body it quotes after it."""
    reason = error.args[0] if error.args else ""
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    lines = str(reason).strip().splitlines()
    return "the body is not valid JSON: " + (lines[0] if lines else "malformed")


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
            # The ids are the hospital's own: every cell is made spreadsheet-safe.
            writer.writerow(safe_row(
                [item["outcome"], item["settlement_id"], item["claim_id"],
                 *(hospital.get(name, "") for name in ("status", "total", "fund_total", "patient_pay")),
                 *(engine_side.get(name, "") for name in ("status", "total", "fund_total", "patient_pay")),
                 " ".join(item["differences"])]
            ))  # fmt: skip
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
    finally:
        reconciliation.close()


DETAIL_DESCRIPTION = (
    'Classify every record the hospital sends (JSON `{"records": [...]}` or CSV with the '
    "columns settlement_id, claim_id, status, total, fund_total, patient_pay) and every engine "
    "settlement of the hospital settled in the period: matched, amount_mismatch (both figures), "
    "status_mismatch, missing_in_engine, missing_at_hospital. Up to 100,000 records per call, "
    "read and answered as streams. A call with any bad record is refused whole, listing every "
    "problem. Records follow the contract's rules: amounts written with exactly two decimals, "
    "ids of the contract's id pattern, every field a string. Refused too (422): a key given "
    "twice, a top-level key other than `records`, anything nested inside a record, a string "
    f"or number longer than {TOKEN_CHARS_MAX} characters, a CSV line longer than "
    f"{CSV_LINE_CHARS_MAX:,} characters."
)


@router.post(
    "/reconciliation/detail",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **PROBLEMS},
    summary="Reconcile a hospital's own records with the engine's settlements (3202)",
    description=DETAIL_DESCRIPTION,
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
    date_from: IsoDate,
    date_to: IsoDate,
    principal: CurrentPrincipal,
    state: State,
    hospital_id: HospitalFilter = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The detail reconciliation; its description is DETAIL_DESCRIPTION."""
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
            f"{refused.total} problem(s) in the body; nothing was reconciled"
            + (f" (the first {listed} are listed)" if refused.total > listed else ""),
            refused.problems,
        ) from None
    except Exception:
        await run_in_threadpool(reconciliation.close)
        raise
    except BaseException:  # cancelled: no awaiting any more
        reconciliation.close()
        raise
    if format == "csv":
        return StreamingResponse(_stream_csv(reconciliation), media_type="text/csv; charset=utf-8",
                                 headers={"X-Reconciliation-Summary": orjson.dumps(summary).decode()})  # fmt: skip
    head = {"hospital_id": scoped, "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "time_zone": period.zone, "summary": summary}  # fmt: skip
    return StreamingResponse(_stream_json(reconciliation, head), media_type="application/json")
