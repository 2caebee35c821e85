"""Clearing (3203): what each fund owes each hospital for a month, net of reversals, per
insured region (whose funds pay), and the inter-region table (跨区域清算): what each insured
region's funds owe the hospitals of each treatment region. Each as a document and as the CSV
and XLSX files finance staff download (API, finance view, command)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, func, select

from api.core.spreadsheet import csv_text, xlsx_append
from api.db.tables import FUND_POSTING, HOSPITAL, RECEIVABLE, RECEIVABLE_PAYMENT
from api.services.finance import FUND_ORDER, Period, month_period
from settlement.money import format_fen

REGIONS_ROLES = ("finance", "admin")
"""Who may read the inter-region table: it covers every hospital, so no hospital key may."""

_IS_SETTLE = FUND_POSTING.c.kind == "settle"
_POSTING_SUMS = (
    func.coalesce(func.sum(case((_IS_SETTLE, FUND_POSTING.c.amount_fen), else_=0)), 0),
    func.coalesce(func.sum(case((_IS_SETTLE, 0), else_=FUND_POSTING.c.amount_fen)), 0),
    func.sum(case((_IS_SETTLE, 1), else_=0)),
    func.sum(case((_IS_SETTLE, 0), else_=1)),
)
"""Per group of postings: settled fen, reversed fen (negative), settlements, reversals."""


def _in_period(period: Period) -> tuple[Any, Any]:
    return FUND_POSTING.c.posted_at >= period.start_utc, FUND_POSTING.c.posted_at < period.end_utc


def _fund_position(fund: str) -> int:
    """Cascade order; a fund the service does not know (none should exist) sorts last."""
    return FUND_ORDER.index(fund) if fund in FUND_ORDER else len(FUND_ORDER)


def _sums(values: Sequence[Any]) -> tuple[int, int, int, int]:
    settled, reversed_, settlements, reversals = (int(value) for value in values)
    assert settled >= 0, settled
    assert reversed_ <= 0, reversed_
    return settled, reversed_, settlements, reversals


# ---------------------------------------------------------------- per hospital


@dataclass(frozen=True, slots=True)
class ClearingRow:
    hospital_id: str
    hospital_name: str
    insured_region: str
    """Whose funds owe this (参保地): one hospital may be owed by several insured regions."""
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
    """What each fund of each insured region owes each hospital for the period: its postings,
    net of reversals."""
    keys = (
        FUND_POSTING.c.hospital_id,
        HOSPITAL.c.name,
        FUND_POSTING.c.insured_region,
        FUND_POSTING.c.fund,
        FUND_POSTING.c.fund_code,
    )
    query = (
        select(*keys, *_POSTING_SUMS)
        .join(HOSPITAL, HOSPITAL.c.hospital_id == FUND_POSTING.c.hospital_id)
        .where(*_in_period(period))
        .group_by(*keys)
    )
    if hospital_id is not None:
        query = query.where(FUND_POSTING.c.hospital_id == hospital_id)
    with engine.connect() as connection:
        rows = [
            ClearingRow(row[0], row[1], row[2], row[3], row[4], *_sums(row[5:]))
            for row in connection.execute(query)
        ]
    return sorted(
        rows,
        key=lambda row: (
            row.hospital_id, row.insured_region, _fund_position(row.fund), row.fund_code,
        ),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssistanceRow:
    """What the temporary-assistance fund (999998, rules §16) did for one hospital in a month:
    applied to its patients' receivables by grants recorded in the month, and returned by
    receivables cancelled in the month (negative)."""

    hospital_id: str
    hospital_name: str
    applied_fen: int
    returned_fen: int
    payments: int

    @property
    def net_fen(self) -> int:
        return self.applied_fen + self.returned_fen


def assistance_rows(engine: Engine, period: Period, hospital_id: str | None) -> list[AssistanceRow]:
    """Per hospital: the grants' payments recorded in the period, and the fund's money returned
    by receivables cancelled in it. What a grant paid to the person is no hospital's."""
    payment, receivable = RECEIVABLE_PAYMENT.c, RECEIVABLE.c
    applied = (
        select(receivable.hospital_id, func.sum(payment.amount_fen), func.count())
        .join(RECEIVABLE, receivable.receivable_id == payment.receivable_id)
        .where(
            payment.method == "temporary_assistance",
            payment.recorded_at >= period.start_utc,
            payment.recorded_at < period.end_utc,
        )
        .group_by(receivable.hospital_id)
    )
    returned = (
        select(receivable.hospital_id, func.sum(receivable.refund_to_fund_fen))
        .where(
            receivable.status == "cancelled",
            receivable.refund_to_fund_fen > 0,
            receivable.cancelled_at >= period.start_utc,
            receivable.cancelled_at < period.end_utc,
        )
        .group_by(receivable.hospital_id)
    )
    if hospital_id is not None:
        applied = applied.where(receivable.hospital_id == hospital_id)
        returned = returned.where(receivable.hospital_id == hospital_id)
    with engine.connect() as connection:
        by_hospital: dict[str, list[int]] = {}  # hospital → [applied, returned, payments]
        for hospital, amount, count in connection.execute(applied):
            figures = by_hospital.setdefault(hospital, [0, 0, 0])
            figures[0], figures[2] = int(amount), int(count)
        for hospital, amount in connection.execute(returned):
            by_hospital.setdefault(hospital, [0, 0, 0])[1] = -int(amount)
        names = dict(
            connection.execute(
                select(HOSPITAL.c.hospital_id, HOSPITAL.c.name).where(
                    HOSPITAL.c.hospital_id.in_(sorted(by_hospital))
                )
            ).all()
        )
    return [
        AssistanceRow(hospital, names.get(hospital, ""), applied_, returned_, count)
        for hospital, (applied_, returned_, count) in sorted(by_hospital.items())
    ]


def clearing_document(
    month: str,
    zone: str,
    hospital_id: str | None,
    rows: Iterable[ClearingRow],
    assistance: Iterable[AssistanceRow] = (),
) -> dict[str, Any]:
    """The clearing document of the rows (`GET /v1/clearing`), with the temporary-assistance
    fund's part beside the settlement funds' (its own section: it is no settlement's fund)."""
    rows = list(rows)
    assistance = list(assistance)
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
                "insured_region": row.insured_region,
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
                by_fund.items(), key=lambda item: (_fund_position(item[0][0]), item[0][1])
            )
        ],
        "total_owed": format_fen(sum(row.owed_fen for row in rows)),
        "temporary_assistance": [
            {
                "hospital_id": row.hospital_id,
                "hospital_name": row.hospital_name,
                "fund_code": TEMPORARY_ASSISTANCE_CODE,
                "payments": row.payments,
                "applied": format_fen(row.applied_fen),
                "returned": format_fen(row.returned_fen),
                "owed": format_fen(row.net_fen),
            }
            for row in assistance
        ],
        "temporary_assistance_owed": format_fen(sum(row.net_fen for row in assistance)),
    }


TEMPORARY_ASSISTANCE_CODE = "999998"
"""The temporary-assistance fund's code in every region (DEFAULT_TARIFF.md)."""


def clearing_json(engine: Engine, month: str, zone: str, hospital_id: str | None) -> dict[str, Any]:
    period = month_period(month, zone)
    rows = clearing_rows(engine, period, hospital_id)
    assistance = assistance_rows(engine, period, hospital_id)
    return clearing_document(month, zone, hospital_id, rows, assistance)


CLEARING_HEADER = (
    "month", "hospital_id", "hospital_name", "insured_region", "fund", "fund_code",
    "settlements", "reversals", "settled", "reversed", "owed",
)  # fmt: skip
CLEARING_MONEY = ("settled", "reversed", "owed")


def clearing_table(document: dict[str, Any]) -> list[list[Any]]:
    """The clearing document as rows under `CLEARING_HEADER` (for CSV and XLSX)."""
    rows: list[list[Any]] = [list(CLEARING_HEADER)]
    for row in document["rows"]:
        rows.append([document["month"], *(row[name] for name in CLEARING_HEADER[1:])])
    total = [document["month"], "TOTAL", *[""] * (len(CLEARING_HEADER) - 3)]
    rows.append([*total, document["total_owed"]])
    for row in document.get("temporary_assistance", ()):
        rows.append(
            [
                document["month"], row["hospital_id"], row["hospital_name"], "",
                "temporary_assistance", row["fund_code"], row["payments"], "",
                row["applied"], row["returned"], row["owed"],
            ]
        )  # fmt: skip
    return rows


def clearing_csv(document: dict[str, Any]) -> str:
    """The clearing document as CSV, every cell spreadsheet-safe (api/core/spreadsheet.py):
    amounts stay plain numbers (`-12.05`), text that a spreadsheet would run is neutralised."""
    return csv_text(clearing_table(document))


def clearing_xlsx(document: dict[str, Any]) -> bytes:
    """An XLSX workbook: money as exact decimal numbers with two decimals, a frozen header,
    every text cell a string, never a formula (api/core/spreadsheet.py)."""
    return workbook_bytes(f"clearing {document['month']}", clearing_table(document), CLEARING_MONEY)


def clearing_download(document: dict[str, Any], extension: str) -> tuple[str | bytes, str]:
    """(content, media type) of the clearing document as a `csv` or `xlsx` file."""
    if extension == "csv":
        return clearing_csv(document), CSV_MEDIA_TYPE
    assert extension == "xlsx", extension
    return clearing_xlsx(document), XLSX_MEDIA_TYPE


# ---------------------------------------------------------------- between regions


@dataclass(frozen=True, slots=True)
class RegionRow:
    """What one fund of the insured region owes the hospitals of the treatment region."""

    insured_region: str
    treatment_region: str
    fund: str
    fund_code: str
    settled_fen: int
    reversed_fen: int
    settlements: int
    reversals: int

    @property
    def net_fen(self) -> int:
        return self.settled_fen + self.reversed_fen


def region_rows(engine: Engine, period: Period) -> list[RegionRow]:
    """The postings of the period per insured region, treatment region and fund, net of
    reversals: the per-hospital clearing of every hospital, added up by region."""
    keys = (
        FUND_POSTING.c.insured_region,
        FUND_POSTING.c.treatment_region,
        FUND_POSTING.c.fund,
        FUND_POSTING.c.fund_code,
    )
    query = select(*keys, *_POSTING_SUMS).where(*_in_period(period)).group_by(*keys)
    with engine.connect() as connection:
        rows = [
            RegionRow(row[0], row[1], row[2], row[3], *_sums(row[4:]))
            for row in connection.execute(query)
        ]
    return sorted(
        rows,
        key=lambda row: (
            row.insured_region, row.treatment_region, _fund_position(row.fund), row.fund_code,
        ),
    )  # fmt: skip


def _figures(settled_fen: int, reversed_fen: int) -> dict[str, str]:
    return {
        "settled": format_fen(settled_fen),
        "reversed": format_fen(reversed_fen),
        "net": format_fen(settled_fen + reversed_fen),
    }


def regions_document(month: str, zone: str, rows: Iterable[RegionRow]) -> dict[str, Any]:
    """The inter-region document of the rows (`GET /v1/clearing/regions`): each row, each
    fund's total over every pair of regions, and the grand total."""
    rows = list(rows)
    by_fund: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        sums = by_fund.setdefault((row.fund, row.fund_code), [0, 0, 0, 0])
        for index, value in enumerate(
            (row.settled_fen, row.reversed_fen, row.settlements, row.reversals)
        ):
            sums[index] += value
    return {
        "month": month,
        "time_zone": zone,
        "rows": [
            {
                "insured_region": row.insured_region,
                "treatment_region": row.treatment_region,
                "fund": row.fund,
                "fund_code": row.fund_code,
                "settlements": row.settlements,
                "reversals": row.reversals,
                **_figures(row.settled_fen, row.reversed_fen),
            }
            for row in rows
        ],
        "fund_totals": [
            {
                "fund": fund,
                "fund_code": code,
                "settlements": settlements,
                "reversals": reversals,
                **_figures(settled, reversed_),
            }
            for (fund, code), (settled, reversed_, settlements, reversals) in sorted(
                by_fund.items(), key=lambda item: (_fund_position(item[0][0]), item[0][1])
            )
        ],
        "total": _figures(
            sum(row.settled_fen for row in rows), sum(row.reversed_fen for row in rows)
        ),
    }


def regions_json(engine: Engine, month: str, zone: str) -> dict[str, Any]:
    return regions_document(month, zone, region_rows(engine, month_period(month, zone)))


REGIONS_HEADER = (
    "month", "insured_region", "treatment_region", "fund", "fund_code", "settlements",
    "reversals", "settled", "reversed", "net",
)  # fmt: skip
REGIONS_MONEY = ("settled", "reversed", "net")


def regions_table(document: dict[str, Any]) -> list[list[Any]]:
    """The inter-region document as rows under `REGIONS_HEADER` (for CSV and XLSX): its rows,
    a TOTAL row per fund, and the grand TOTAL row."""
    month = document["month"]
    rows: list[list[Any]] = [list(REGIONS_HEADER)]
    for row in document["rows"]:
        rows.append([month, *(row[name] for name in REGIONS_HEADER[1:])])
    for fund in document["fund_totals"]:
        rows.append([month, "TOTAL", "", *(fund[name] for name in REGIONS_HEADER[3:])])
    total = document["total"]
    rows.append([month, "TOTAL", "", "", "", "", "", *(total[name] for name in REGIONS_MONEY)])
    return rows


def regions_csv(document: dict[str, Any]) -> str:
    """The inter-region document as CSV, every cell spreadsheet-safe (see `clearing_csv`)."""
    return csv_text(regions_table(document))


def regions_xlsx(document: dict[str, Any]) -> bytes:
    """The inter-region document as an XLSX workbook (see `clearing_xlsx`)."""
    return workbook_bytes(f"regions {document['month']}", regions_table(document), REGIONS_MONEY)


def regions_download(document: dict[str, Any], extension: str) -> tuple[str | bytes, str]:
    """(content, media type) of the inter-region document as a `csv` or `xlsx` file."""
    if extension == "csv":
        return regions_csv(document), CSV_MEDIA_TYPE
    assert extension == "xlsx", extension
    return regions_xlsx(document), XLSX_MEDIA_TYPE


# ---------------------------------------------------------------- the workbook


CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_bytes(title: str, table: list[list[Any]], money: tuple[str, ...]) -> bytes:
    """The table (its first row the header) as one sheet: the `money` columns as exact
    decimal numbers shown with two decimals, a bold frozen header, every cell written by
    `xlsx_append` (text always a string, never a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    money_columns = {table[0].index(name) for name in money}
    for index, row in enumerate(table):
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
