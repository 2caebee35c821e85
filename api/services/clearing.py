"""Clearing (3203): what each fund owes each hospital for a month, net of reversals, as a
document and as the CSV and XLSX files finance staff download (API, finance view, command)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from api.core.spreadsheet import csv_text, xlsx_append
from api.db.tables import FUND_POSTING, HOSPITAL
from api.services.finance import FUND_ORDER, Period, month_period
from settlement.money import format_fen


@dataclass(frozen=True, slots=True)
class ClearingRow:
    hospital_id: str
    hospital_name: str
    fund: str
    fund_code: str
    settled_fen: int
    reversed_fen: int
    settlements: int
    reversals: int

    @property
    def owed_fen(self) -> int:
        return self.settled_fen + self.reversed_fen


def clearing_rows(engine: Engine, period: Period, hospital_id: str | None) -> list[ClearingRow]:
    """What each fund owes each hospital for the period: its postings, net of reversals."""
    is_settle = FUND_POSTING.c.kind == "settle"
    query = (
        select(
            FUND_POSTING.c.hospital_id,
            HOSPITAL.c.name,
            FUND_POSTING.c.fund,
            FUND_POSTING.c.fund_code,
            func.coalesce(func.sum(case((is_settle, FUND_POSTING.c.amount_fen), else_=0)), 0),
            func.coalesce(func.sum(case((is_settle, 0), else_=FUND_POSTING.c.amount_fen)), 0),
            func.sum(case((is_settle, 1), else_=0)),
            func.sum(case((is_settle, 0), else_=1)),
        )
        .join(HOSPITAL, HOSPITAL.c.hospital_id == FUND_POSTING.c.hospital_id)
        .where(
            FUND_POSTING.c.posted_at >= period.start_utc, FUND_POSTING.c.posted_at < period.end_utc
        )
        .group_by(
            FUND_POSTING.c.hospital_id,
            HOSPITAL.c.name,
            FUND_POSTING.c.fund,
            FUND_POSTING.c.fund_code,
        )
    )
    if hospital_id is not None:
        query = query.where(FUND_POSTING.c.hospital_id == hospital_id)
    with engine.connect() as connection:
        rows = [
            ClearingRow(
                row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]), int(row[7])
            )
            for row in connection.execute(query)
        ]
    order = {fund: index for index, fund in enumerate(FUND_ORDER)}
    return sorted(rows, key=lambda row: (row.hospital_id, order.get(row.fund, 99), row.fund_code))


def clearing_json(engine: Engine, month: str, zone: str, hospital_id: str | None) -> dict[str, Any]:
    period = month_period(month, zone)
    rows = clearing_rows(engine, period, hospital_id)
    by_fund: dict[tuple[str, str], int] = {}
    for row in rows:
        by_fund[(row.fund, row.fund_code)] = (
            by_fund.get((row.fund, row.fund_code), 0) + row.owed_fen
        )
    return {
        "month": month,
        "time_zone": zone,
        "hospital_id": hospital_id,
        "rows": [
            {
                "hospital_id": row.hospital_id,
                "hospital_name": row.hospital_name,
                "fund": row.fund,
                "fund_code": row.fund_code,
                "settlements": row.settlements,
                "reversals": row.reversals,
                "settled": format_fen(row.settled_fen),
                "reversed": format_fen(row.reversed_fen),
                "owed": format_fen(row.owed_fen),
            }
            for row in rows
        ],
        "fund_totals": [
            {"fund": fund, "fund_code": code, "owed": format_fen(owed)}
            for (fund, code), owed in sorted(
                by_fund.items(),
                key=lambda item: FUND_ORDER.index(item[0][0]) if item[0][0] in FUND_ORDER else 99,
            )
        ],
        "total_owed": format_fen(sum(row.owed_fen for row in rows)),
    }


CLEARING_HEADER = (
    "month", "hospital_id", "hospital_name", "fund", "fund_code", "settlements", "reversals",
    "settled", "reversed", "owed",
)  # fmt: skip


def clearing_table(document: dict[str, Any]) -> list[list[Any]]:
    """The clearing document as rows under `CLEARING_HEADER` (for CSV and XLSX)."""
    rows: list[list[Any]] = [list(CLEARING_HEADER)]
    for row in document["rows"]:
        rows.append([document["month"], *(row[name] for name in CLEARING_HEADER[1:])])
    rows.append([document["month"], "TOTAL", "", "", "", "", "", "", "", document["total_owed"]])
    return rows


def clearing_csv(document: dict[str, Any]) -> str:
    """The clearing document as CSV, every cell spreadsheet-safe (api/core/spreadsheet.py):
    amounts stay plain numbers (`-12.05`), text that a spreadsheet would run is neutralised."""
    return csv_text(clearing_table(document))


def clearing_xlsx(document: dict[str, Any]) -> bytes:
    """An XLSX workbook: money as exact decimal numbers with two decimals, a frozen header,
    every text cell a string, never a formula (api/core/spreadsheet.py)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = f"clearing {document['month']}"
    money_columns = {CLEARING_HEADER.index(name) for name in ("settled", "reversed", "owed")}
    for index, row in enumerate(clearing_table(document)):
        values = [
            Decimal(value) if index and column in money_columns and value != "" else value
            for column, value in enumerate(row)
        ]
        xlsx_append(sheet, values)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in money_columns:
        for cell in list(sheet.columns)[column][1:]:
            cell.number_format = "0.00"
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def clearing_download(document: dict[str, Any], extension: str) -> tuple[str | bytes, str]:
    """(content, media type) of the clearing document as a `csv` or `xlsx` file."""
    if extension == "csv":
        return clearing_csv(document), "text/csv; charset=utf-8"
    assert extension == "xlsx", extension
    return clearing_xlsx(document), XLSX_MEDIA_TYPE
