"""Detail reconciliation (3202): a hospital's own records against the engine's settlements.

Records are parsed one by one (every problem of every record is collected), inserted in
batches into a temporary table on one connection, classified by SQL joins and streamed out,
so memory stays bounded for 100,000 records.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, text

from api.core.problems import item
from api.services.finance import Period
from settlement.money import format_fen

RECORD_COLUMNS = ("settlement_id", "claim_id", "status", "total", "fund_total", "patient_pay")
OUTCOMES = (
    "matched", "amount_mismatch", "status_mismatch", "missing_in_engine", "missing_at_hospital",
)  # fmt: skip


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
                item(["records", index, name], f"{name} is required as a string", "missing")
            )
    extra = set(fields) - set(RECORD_COLUMNS)
    for name in sorted(extra):
        found.append(item(["records", index, name], f"unknown field {name}", "extra_forbidden"))
    if found:
        problems.extend(found)
        return None
    amounts = {}
    for name in ("total", "fund_total", "patient_pay"):
        fen = _money_fen(fields[name])
        if fen is None:
            found.append(
                item(
                    ["records", index, name],
                    f"{fields[name]!r} is not an amount with at most two decimals",
                    "invalid_amount",
                )
            )
        amounts[name] = fen
    if fields["status"] not in ("settled", "reversed"):
        found.append(
            item(
                ["records", index, "status"], "status must be settled or reversed", "invalid_status"
            )
        )
    for name in ("settlement_id", "claim_id"):
        if not _ID.fullmatch(fields[name]):
            found.append(
                item(
                    ["records", index, name],
                    f"{name} must be 1 to 64 letters, digits, _ . or -",
                    "invalid_id",
                )
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
                item(
                    ["records", "header"],
                    f"the header must be {','.join(RECORD_COLUMNS)}",
                    "invalid_header",
                )
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
                        item(
                            ["records"], f"more than {self.records_max} records", "too_many_records"
                        )
                    )
                    self.too_many = True
                continue
            self.count += 1
            if "_fields" in fields:
                self._problem(
                    item(
                        ["records", index],
                        f"{fields['_fields']} fields, expected {len(RECORD_COLUMNS)}",
                        "invalid_row",
                    )
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
                    item(
                        ["records", int(first), "settlement_id"],
                        f"settlement {settlement_id} appears {number} times",
                        "duplicate",
                    )
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
