"""Finance: totals (3201), detail reconciliation (3202) and clearing (3203) on the ledger.

Dates are calendar days of the business time zone (default Asia/Shanghai): a period
[date_from, date_to] is the half-open UTC interval from date_from 00:00 local to the day
after date_to 00:00 local. A settlement counts as *settled* on its settlement time and as
*reversed* on its reversal time, so the net of a period is exactly the sum of the ledger's
postings in it, and clearing (postings of a month, per hospital and fund) ties out to the
totals of that month to the fen.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, case, func, select, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import api.models  # noqa: F401 - registers the tables this module reads on SQLModel.metadata
from settlement.money import format_fen

TABLES = SQLModel.metadata.tables
SETTLEMENT = TABLES["settlement"]
POSTING = TABLES["fund_posting"]
HOSPITAL = TABLES["hospital"]

FUNDS = ("basic_insurance", "critical_illness", "medical_assistance", "charity")
AMOUNTS = (
    "total", "basic_insurance", "critical_illness", "medical_assistance", "charity",
    "fund_total", "patient_pay",
)  # fmt: skip
RECORD_COLUMNS = ("settlement_id", "claim_id", "status", "total", "fund_total", "patient_pay")
OUTCOMES = (
    "matched", "amount_mismatch", "status_mismatch", "missing_in_engine", "missing_at_hospital",
)  # fmt: skip


# ---------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    date_from: date
    date_to: date
    zone: str

    @property
    def start_utc(self) -> datetime:
        return _local_midnight_utc(self.date_from, self.zone)

    @property
    def end_utc(self) -> datetime:
        """Exclusive end: midnight after the last day."""
        return _local_midnight_utc(self.date_to + timedelta(days=1), self.zone)


def _local_midnight_utc(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def month_period(month: str, zone: str) -> Period:
    """'2018-03' → the period of that calendar month."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), zone)


# ---------------------------------------------------------------- totals (3201)


def _sums(
    connection: Connection, when: Any, period: Period, hospital_id: str | None, *extra: Any
) -> dict[str, Any]:
    columns = [func.count().label("count")] + [
        func.coalesce(func.sum(SETTLEMENT.c[f"{name}_fen"]), 0).label(name) for name in AMOUNTS
    ]
    query = select(*columns).where(when >= period.start_utc, when < period.end_utc, *extra)
    if hospital_id is not None:
        query = query.where(SETTLEMENT.c.hospital_id == hospital_id)
    row = connection.execute(query).one()
    return {"count": int(row[0]), **{name: int(getattr(row, name)) for name in AMOUNTS}}


def totals_fen(
    engine: Engine, period: Period, hospital_id: str | None
) -> dict[str, dict[str, Any]]:
    """Counts and sums in fen: settled in the period, reversed in it, and net."""
    with engine.connect() as connection:
        settled = _sums(connection, SETTLEMENT.c.settled_at, period, hospital_id)
        reversed_ = _sums(
            connection,
            SETTLEMENT.c.reversed_at,
            period,
            hospital_id,
            SETTLEMENT.c.status == "reversed",
        )
    net = {name: settled[name] - reversed_[name] for name in ("count", *AMOUNTS)}
    return {"settled": settled, "reversed": reversed_, "net": net}


def totals_json(engine: Engine, period: Period, hospital_id: str | None) -> dict[str, Any]:
    figures = totals_fen(engine, period, hospital_id)
    return {
        "hospital_id": hospital_id,
        "date_from": period.date_from.isoformat(),
        "date_to": period.date_to.isoformat(),
        "time_zone": period.zone,
        **{
            part: {"count": sums["count"], **{name: format_fen(sums[name]) for name in AMOUNTS}}
            for part, sums in figures.items()
        },
    }


# ---------------------------------------------------------------- clearing (3203)


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
    is_settle = POSTING.c.kind == "settle"
    query = (
        select(
            POSTING.c.hospital_id,
            HOSPITAL.c.name,
            POSTING.c.fund,
            POSTING.c.fund_code,
            func.coalesce(func.sum(case((is_settle, POSTING.c.amount_fen), else_=0)), 0),
            func.coalesce(func.sum(case((is_settle, 0), else_=POSTING.c.amount_fen)), 0),
            func.sum(case((is_settle, 1), else_=0)),
            func.sum(case((is_settle, 0), else_=1)),
        )
        .join(HOSPITAL, HOSPITAL.c.hospital_id == POSTING.c.hospital_id)
        .where(POSTING.c.posted_at >= period.start_utc, POSTING.c.posted_at < period.end_utc)
        .group_by(POSTING.c.hospital_id, HOSPITAL.c.name, POSTING.c.fund, POSTING.c.fund_code)
    )
    if hospital_id is not None:
        query = query.where(POSTING.c.hospital_id == hospital_id)
    with engine.connect() as connection:
        rows = [
            ClearingRow(
                row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]), int(row[7])
            )
            for row in connection.execute(query)
        ]
    order = {fund: index for index, fund in enumerate(FUNDS)}
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
                key=lambda item: FUNDS.index(item[0][0]) if item[0][0] in FUNDS else 99,
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
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(clearing_table(document))
    return buffer.getvalue()


def clearing_xlsx(document: dict[str, Any]) -> bytes:
    """An XLSX workbook: money as exact decimal numbers with two decimals, a frozen header."""
    from decimal import Decimal

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
        sheet.append(values)
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


# ---------------------------------------------------------------- daily series (the chart)


def daily_fund_payments(
    engine: Engine, period: Period, hospital_id: str | None
) -> list[dict[str, Any]]:
    """Net fund payments per local day of the period: [{"day", fund…: fen}] for every day."""
    offset = datetime(
        period.date_from.year,
        period.date_from.month,
        period.date_from.day,
        tzinfo=ZoneInfo(period.zone),
    ).utcoffset()
    assert offset is not None
    hours = int(offset.total_seconds() // 3600)
    if engine.dialect.name == "sqlite":
        day = func.date(POSTING.c.posted_at, f"{hours:+d} hours")
    else:
        day = func.date(func.timezone(period.zone, POSTING.c.posted_at))
    query = (
        select(day.label("day"), POSTING.c.fund, func.sum(POSTING.c.amount_fen))
        .where(POSTING.c.posted_at >= period.start_utc, POSTING.c.posted_at < period.end_utc)
        .group_by(day, POSTING.c.fund)
    )
    if hospital_id is not None:
        query = query.where(POSTING.c.hospital_id == hospital_id)
    series: dict[str, dict[str, int]] = {}
    current = period.date_from
    while current <= period.date_to:
        series[current.isoformat()] = dict.fromkeys(FUNDS, 0)
        current += timedelta(days=1)
    with engine.connect() as connection:
        for day_value, fund, amount in connection.execute(query):
            key = day_value if isinstance(day_value, str) else day_value.isoformat()
            if key in series and fund in series[key]:
                series[key][fund] += int(amount)
    return [{"day": key, **values} for key, values in series.items()]


# ---------------------------------------------------------------- search


def search_settlements(
    engine: Engine, term: str, hospital_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Settlements whose settlement id or claim id equals the term (newest first)."""
    query = (
        select(
            SETTLEMENT.c.settlement_id,
            SETTLEMENT.c.claim_id,
            SETTLEMENT.c.hospital_id,
            SETTLEMENT.c.person_id,
            SETTLEMENT.c.status,
            SETTLEMENT.c.settled_at,
            SETTLEMENT.c.total_fen,
            SETTLEMENT.c.fund_total_fen,
            SETTLEMENT.c.patient_pay_fen,
        )
        .where((SETTLEMENT.c.settlement_id == term) | (SETTLEMENT.c.claim_id == term))
        .order_by(SETTLEMENT.c.settled_at.desc())
        .limit(limit)
    )
    if hospital_id is not None:
        query = query.where(SETTLEMENT.c.hospital_id == hospital_id)
    with engine.connect() as connection:
        return [
            {
                "settlement_id": row.settlement_id,
                "claim_id": row.claim_id,
                "hospital_id": row.hospital_id,
                "person_id": row.person_id,
                "status": row.status,
                "settled_at": row.settled_at,
                "total": format_fen(row.total_fen),
                "fund_total": format_fen(row.fund_total_fen),
                "patient_pay": format_fen(row.patient_pay_fen),
            }
            for row in connection.execute(query)
        ]


# ---------------------------------------------------------------- detail reconciliation (3202)


@dataclass(frozen=True, slots=True)
class HospitalRecord:
    """One line of the hospital's own books: what it believes each settlement is."""

    settlement_id: str
    claim_id: str
    status: str
    total_fen: int
    fund_total_fen: int
    patient_pay_fen: int


class RecordsRefused(Exception):
    def __init__(self, problems: list[dict[str, Any]], total: int) -> None:
        super().__init__(f"{total} problems")
        self.problems = problems
        self.total = total


PROBLEMS_LISTED_MAX = 1_000


_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")
"""Settlement and claim ids as the service issues and accepts them."""


def _money_fen(text_value: str) -> int | None:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text_value)
    except InvalidOperation:
        return None
    # Magnitude first: quantizing a 30-digit number would overflow the decimal context.
    if not value.is_finite() or abs(value) >= 10**12 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value.scaleb(2))


def parse_record(
    index: int, fields: dict[str, Any], problems: list[dict[str, Any]]
) -> HospitalRecord | None:
    """A record from a dict of strings; its problems are appended with `loc` ["records", index, field]."""
    found: list[dict[str, Any]] = []
    for name in RECORD_COLUMNS:
        if not isinstance(fields.get(name), str):
            found.append(
                {
                    "loc": ["records", index, name],
                    "msg": f"{name} is required as a string",
                    "code": "missing",
                }
            )
    extra = set(fields) - set(RECORD_COLUMNS)
    for name in sorted(extra):
        found.append(
            {
                "loc": ["records", index, name],
                "msg": f"unknown field {name}",
                "code": "extra_forbidden",
            }
        )
    if found:
        problems.extend(found)
        return None
    amounts = {}
    for name in ("total", "fund_total", "patient_pay"):
        fen = _money_fen(fields[name])
        if fen is None:
            found.append(
                {
                    "loc": ["records", index, name],
                    "msg": f"{fields[name]!r} is not an amount with at most two decimals",
                    "code": "invalid_amount",
                }
            )
        amounts[name] = fen
    if fields["status"] not in ("settled", "reversed"):
        found.append(
            {
                "loc": ["records", index, "status"],
                "msg": "status must be settled or reversed",
                "code": "invalid_status",
            }
        )
    for name in ("settlement_id", "claim_id"):
        if not _ID.fullmatch(fields[name]):
            found.append(
                {
                    "loc": ["records", index, name],
                    "msg": f"{name} must be 1 to 64 letters, digits, _ . or -",
                    "code": "invalid_id",
                }
            )
    if found:
        problems.extend(found)
        return None
    return HospitalRecord(
        fields["settlement_id"], fields["claim_id"], fields["status"],
        amounts["total"] or 0, amounts["fund_total"] or 0, amounts["patient_pay"] or 0,
    )  # fmt: skip


def csv_records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, fields) for each CSV row after the header (which must be RECORD_COLUMNS)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != RECORD_COLUMNS:
        raise RecordsRefused(
            [
                {
                    "loc": ["records", "header"],
                    "msg": f"the header must be {','.join(RECORD_COLUMNS)}",
                    "code": "invalid_header",
                }
            ],
            1,
        )
    for index, values in enumerate(reader):
        if len(values) != len(RECORD_COLUMNS):
            yield index, {"_fields": len(values)}
            continue
        yield index, dict(zip(RECORD_COLUMNS, values, strict=True))


class Reconciliation:
    """A detail reconciliation held in a temporary table on one connection.

    Records are inserted in batches as they are parsed (the request is never held whole),
    then classified by SQL joins and streamed out; `close` drops the table.
    """

    BATCH = 5_000

    def __init__(self, engine: Engine, hospital_id: str, period: Period, records_max: int) -> None:
        self.engine = engine
        self.hospital_id = hospital_id
        self.period = period
        self.records_max = records_max
        self.table = f"recon_{secrets.token_hex(6)}"
        self.connection = engine.connect()
        self.connection.execute(
            text(
                f"CREATE TEMPORARY TABLE {self.table} (ord INTEGER NOT NULL, settlement_id VARCHAR(64) NOT NULL, "
                "claim_id VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, total_fen BIGINT NOT NULL, "
                "fund_total_fen BIGINT NOT NULL, patient_pay_fen BIGINT NOT NULL)"
            )
        )
        self.count = 0
        self.problems: list[dict[str, Any]] = []
        self.problem_count = 0
        self.too_many = False
        self.batch: list[dict[str, Any]] = []

    def add(self, rows: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Parse and insert records as they come; problems are collected for `finish`."""
        for index, fields in rows:
            if self.count >= self.records_max:
                if not self.too_many:
                    self._problem(
                        {
                            "loc": ["records"],
                            "msg": f"more than {self.records_max} records",
                            "code": "too_many_records",
                        }
                    )
                    self.too_many = True
                continue
            self.count += 1
            if "_fields" in fields:
                self._problem(
                    {
                        "loc": ["records", index],
                        "msg": f"{fields['_fields']} fields, expected {len(RECORD_COLUMNS)}",
                        "code": "invalid_row",
                    }
                )
                continue
            found: list[dict[str, Any]] = []
            record = parse_record(index, fields, found)
            for problem in found:
                self._problem(problem)
            if record is None:
                continue
            # Good records go in even after a bad one, so that duplicates among them are found
            # too; a refused call drops the table and nothing of it is kept.
            self.batch.append(
                {"ord": index, **{name: getattr(record, name) for name in HospitalRecord.__slots__}}
            )
            if len(self.batch) >= self.BATCH:
                self._insert(self.batch)
                self.batch = []

    def _problem(self, problem: dict[str, Any]) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_LISTED_MAX:
            self.problems.append(problem)

    def finish(self) -> None:
        """Insert what is left and refuse the whole call, listing every problem, if any is bad."""
        if self.batch:
            self._insert(self.batch)
        self.batch = []
        if not self.too_many:
            duplicates = self.connection.execute(
                text(
                    f"SELECT settlement_id, min(ord), count(*) FROM {self.table} "
                    "GROUP BY settlement_id HAVING count(*) > 1 ORDER BY min(ord)"
                )
            )
            for settlement_id, first, number in duplicates:
                self._problem(
                    {
                        "loc": ["records", int(first), "settlement_id"],
                        "msg": f"settlement {settlement_id} appears {number} times",
                        "code": "duplicate",
                    }
                )
        if self.problem_count:
            raise RecordsRefused(self.problems, self.problem_count)

    def _insert(self, batch: list[dict[str, Any]]) -> None:
        self.connection.execute(
            text(
                f"INSERT INTO {self.table} "
                "(ord, settlement_id, claim_id, status, total_fen, fund_total_fen, patient_pay_fen) "
                "VALUES (:ord, :settlement_id, :claim_id, :status, :total_fen, :fund_total_fen, :patient_pay_fen)"
            ),
            batch,
        )

    def _classified_sql(self) -> str:
        return f"""
            SELECT r.ord, r.settlement_id, r.claim_id, r.status, r.total_fen, r.fund_total_fen, r.patient_pay_fen,
                   s.settlement_id AS s_id, s.claim_id AS s_claim, s.status AS s_status, s.total_fen AS s_total,
                   s.fund_total_fen AS s_fund_total, s.patient_pay_fen AS s_patient_pay,
                   CASE
                     WHEN s.settlement_id IS NULL THEN 'missing_in_engine'
                     WHEN s.status <> r.status THEN 'status_mismatch'
                     WHEN s.total_fen <> r.total_fen OR s.fund_total_fen <> r.fund_total_fen
                          OR s.patient_pay_fen <> r.patient_pay_fen OR s.claim_id <> r.claim_id
                       THEN 'amount_mismatch'
                     ELSE 'matched'
                   END AS outcome
            FROM {self.table} r
            LEFT JOIN settlement s ON s.settlement_id = r.settlement_id AND s.hospital_id = :hospital
        """

    def _missing_sql(self) -> str:
        return f"""
            SELECT s.settlement_id, s.claim_id, s.status, s.total_fen, s.fund_total_fen, s.patient_pay_fen
            FROM settlement s
            WHERE s.hospital_id = :hospital AND s.settled_at >= :start AND s.settled_at < :end
              AND NOT EXISTS (SELECT 1 FROM {self.table} r WHERE r.settlement_id = s.settlement_id)
            ORDER BY s.settled_at, s.settlement_id
        """

    def _params(self) -> dict[str, Any]:
        start, end = self.period.start_utc, self.period.end_utc
        if self.engine.dialect.name == "sqlite":
            # Raw SQL bypasses the column type: bind in the stored form (naive UTC text).
            return {
                "hospital": self.hospital_id,
                "start": _sqlite_time(start),
                "end": _sqlite_time(end),
            }
        return {"hospital": self.hospital_id, "start": start, "end": end}

    def summary(self) -> dict[str, Any]:
        counts = dict.fromkeys(OUTCOMES, 0)
        hospital_total = 0
        for outcome, number, total in self.connection.execute(
            text(
                "SELECT outcome, count(*), coalesce(sum(total_fen), 0) "
                f"FROM ({self._classified_sql()}) c GROUP BY outcome"
            ),
            self._params(),
        ):
            counts[outcome] = int(number)
            hospital_total += int(total)
        missing = self.connection.execute(
            text(f"SELECT count(*), coalesce(sum(total_fen), 0) FROM ({self._missing_sql()}) m"),
            self._params(),
        ).one()
        counts["missing_at_hospital"] = int(missing[0])
        return {
            "records": self.count,
            **counts,
            "differences": sum(counts[name] for name in OUTCOMES if name != "matched"),
            "hospital_records_total": format_fen(hospital_total),
            "engine_only_total": format_fen(int(missing[1])),
        }

    def items(self) -> Iterator[dict[str, Any]]:
        """Every record's outcome in the hospital's order, then the engine's settlements it lacks."""
        # yield_per on the statement (not the connection, which would keep it for the DROP).
        rows = self.connection.execute(
            text(self._classified_sql() + " ORDER BY r.ord").execution_options(yield_per=2_000),
            self._params(),
        )
        for row in rows:
            hospital = _figures(row.status, row.total_fen, row.fund_total_fen, row.patient_pay_fen)
            engine_side = None
            differences: list[str] = []
            if row.s_id is not None:
                engine_side = _figures(
                    row.s_status, row.s_total, row.s_fund_total, row.s_patient_pay
                )
                differences = [
                    name
                    for name in ("status", "total", "fund_total", "patient_pay")
                    if hospital[name] != engine_side[name]
                ]
                if row.s_claim != row.claim_id:
                    differences.append("claim_id")
            yield {
                "outcome": row.outcome,
                "settlement_id": row.settlement_id,
                "claim_id": row.claim_id,
                "hospital": hospital,
                "engine": engine_side,
                "differences": differences,
            }
        missing = self.connection.execute(
            text(self._missing_sql()).execution_options(yield_per=2_000), self._params()
        )
        for row in missing:
            yield {
                "outcome": "missing_at_hospital",
                "settlement_id": row.settlement_id,
                "claim_id": row.claim_id,
                "hospital": None,
                "engine": _figures(
                    row.status, row.total_fen, row.fund_total_fen, row.patient_pay_fen
                ),
                "differences": [],
            }

    def close(self) -> None:
        try:
            self.connection.rollback()
            self.connection.execute(text(f"DROP TABLE IF EXISTS {self.table}"))
            self.connection.commit()
        finally:
            self.connection.close()


def _figures(status: str, total: int, fund_total: int, patient_pay: int) -> dict[str, str]:
    return {
        "status": status,
        "total": format_fen(int(total)),
        "fund_total": format_fen(int(fund_total)),
        "patient_pay": format_fen(int(patient_pay)),
    }


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
