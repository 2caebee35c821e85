"""Detail reconciliation (3202): a hospital's own records against the engine's settlements.

Records are parsed one by one (every problem of every record is collected), inserted in
batches into a temporary table on one connection, classified by SQL joins and streamed out,
so memory stays bounded for 100,000 records.

The hospital's file is read here as well, piece by piece, each piece bounded before it is
parsed (issue 11): a CSV line by line (`csv_header_problem`, `csv_row`), a JSON body as the
low-level events of ijson (`JsonRecords`), after `token_end` has checked that no string,
number or key of the piece is longer than any record can need. A body nested deeper than
`{"records": [{...}]}` is refused at its first container too deep, before anything is built;
a long token before it is buffered. Record fields follow the contract's own rules
(`MONEY_PATTERN`, `ID_PATTERN`), exactly as a claim's do.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from api.core.contract import ID_PATTERN, MONEY_PATTERN
from api.core.problems import item
from api.services.finance import Period
from settlement.money import format_fen

RECORD_COLUMNS = ("settlement_id", "claim_id", "status", "total", "fund_total", "patient_pay")
OUTCOMES = (
    "matched", "amount_mismatch", "status_mismatch", "missing_in_engine", "missing_at_hospital",
)  # fmt: skip
STATUSES = ("settled", "reversed")

PROBLEMS_LISTED_MAX = 1_000
TOKEN_CHARS_MAX = 512
"""Longest string, number or key a JSON body may hold, in characters (an escape counted as
one). A record's longest field is an id of 64 characters; anything longer than
this is refused before the parser buffers it."""
TOKEN_BYTES_MAX = 2 * TOKEN_CHARS_MAX + 2
"""The most bytes a token of TOKEN_CHARS_MAX characters can take (every one an escape, and
the quotes): a piece longer than this that starts with no whole token starts with one too long."""
DEPTH_MAX = 3
"""The body's nesting: the top object, the records array, one record object. A container
deeper than that is refused at its first byte (a record is a flat object of strings)."""
RECORD_FIELDS_MAX = 16
"""Keys read from one JSON record; a record with more is refused as such, the rest unread."""
CSV_LINE_CHARS_MAX = 1_024
"""Longest CSV line: six fields of at most 64 characters, quoted, fit many times over. A longer
line is refused unread (Python's csv module alone would take a field of 131,072 characters)."""
SHOWN_CHARS_MAX = 40
"""Characters of a refused value repeated in its problem's message."""

_MONEY = re.compile(MONEY_PATTERN)
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class HospitalRecord:
    """One line of the hospital's own books: what it believes each settlement is."""

    settlement_id: str
    claim_id: str
    status: str
    total_fen: int
    fund_total_fen: int
    patient_pay_fen: int


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as read from the body, before its fields are checked: `fields` (None when
    the record is not even a set of fields) and the problems found while reading it."""

    index: int
    fields: dict[str, Any] | None
    problems: tuple[dict[str, Any], ...] = ()


class RecordsRefused(Exception):
    def __init__(self, problems: list[dict[str, Any]], total: int) -> None:
        super().__init__(f"{total} problems")
        self.problems = problems
        self.total = total


class BodyRefused(Exception):
    """A body that cannot be read on (malformed, nested too deeply, a token too long): the
    problem that stopped the reading, to be listed after those already found."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem["msg"])
        self.problem = problem
        self.records: list[RawRecord] = []
        """Records read before the problem and not yet handed on: checked all the same."""


def _shown(value: Any) -> str:
    """A refused value for a message, cut short: the message must not carry a hostile body."""
    text_value = repr(value)
    if len(text_value) <= SHOWN_CHARS_MAX:
        return text_value
    return text_value[: SHOWN_CHARS_MAX - 1] + "…"


# ---------------------------------------------------------------- one record


def money_fen(text_value: str) -> int | None:
    """Fen of a money string written as the contract writes money (`MONEY_PATTERN`: digits,
    a point, exactly two decimals), else None: no exponent, no `_`, no spaces, no full-width
    digits, although `Decimal()` would take each of them."""
    if _MONEY.fullmatch(text_value) is None:
        return None
    return int(text_value.replace(".", "", 1))


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
    for name in sorted(set(fields) - set(RECORD_COLUMNS)):
        found.append(item(["records", index, name], f"unknown field {name}", "extra_forbidden"))
    if found:
        problems.extend(found)
        return None
    amounts = {}
    for name in ("total", "fund_total", "patient_pay"):
        fen = money_fen(fields[name])
        if fen is None:
            found.append(
                item(
                    ["records", index, name],
                    f"{_shown(fields[name])} is not an amount written with exactly two decimals"
                    " (digits, a point and two digits, like 24100.00)",
                    "invalid_amount",
                )
            )
        amounts[name] = fen
    if fields["status"] not in STATUSES:
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
                    f"{name} must be 1 to 64 letters, digits, _ . or -, not starting with a dot",
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


# ---------------------------------------------------------------- CSV, line by line


def csv_header_problem(line: str | None) -> dict[str, Any] | None:
    """The problem of the CSV's first line (None when it is the header RECORD_COLUMNS); None
    for `line` is a line too long to have been kept, "" an empty body."""
    loc = ["records", "header"]
    if line is None:
        return item(loc, _too_long(1), "line_too_long")
    try:
        header = next(csv.reader((line,), strict=True), [])
    except csv.Error as error:
        return item(loc, f"line 1: {_csv_error(line, error)}", "csv_invalid")
    if tuple(column.strip() for column in header) != RECORD_COLUMNS:
        return item(loc, f"the header must be {','.join(RECORD_COLUMNS)}", "invalid_header")
    return None


def csv_row(index: int, line_number: int, line: str | None) -> RawRecord:
    """Record `index` from CSV line `line_number` (None: a line too long to have been kept)."""
    if line is None or len(line) > CSV_LINE_CHARS_MAX:
        return RawRecord(
            index, None, (item(["records", index], _too_long(line_number), "line_too_long"),)
        )
    try:
        values = next(csv.reader((line,), strict=True), [])
    except csv.Error as error:
        message = f"line {line_number}: {_csv_error(line, error)}"
        return RawRecord(index, None, (item(["records", index], message, "csv_invalid"),))
    if len(values) != len(RECORD_COLUMNS):
        message = f"line {line_number}: {len(values)} fields, expected {len(RECORD_COLUMNS)}"
        return RawRecord(index, None, (item(["records", index], message, "invalid_row"),))
    return RawRecord(index, dict(zip(RECORD_COLUMNS, values, strict=True)))


def _too_long(line_number: int) -> str:
    return (
        f"line {line_number} is longer than {CSV_LINE_CHARS_MAX} characters (lines end in LF "
        "or CRLF; a CR alone ends none)"
    )


def _csv_error(line: str, error: csv.Error) -> str:
    if "\r" in line.rstrip("\r\n"):
        return "a carriage return inside the line: lines must end in LF or CRLF, not CR alone"
    return f"not valid CSV ({error})"


def csv_records(lines: Iterable[str]) -> Iterator[RawRecord]:
    """Each CSV row after the header (which must be RECORD_COLUMNS), blank lines skipped: for
    a file read whole (`onestop reconcile detail`); the route reads its body line by line."""
    numbered = enumerate(lines, start=1)
    _, header = next(numbered, (1, ""))
    problem = csv_header_problem(header)
    if problem is not None:
        raise RecordsRefused([problem], 1)
    index = 0
    for line_number, line in numbered:
        if line.strip():
            yield csv_row(index, line_number, line)
            index += 1


# ---------------------------------------------------------------- JSON, event by event

_BETWEEN = rb" \t\r\n,:\[\]{}"
"""Bytes between tokens: JSON's whitespace and structure."""
_WELL_FORMED = re.compile(
    b"(?:["
    + _BETWEEN
    + b"]++"  # whitespace and structure
    + rb'|"[^"\\]{0,%d}+"' % TOKEN_CHARS_MAX  # a string without escapes (the common case)
    + rb'|"(?:[^"\\]|\\.){0,%d}+"' % TOKEN_CHARS_MAX  # a string with escapes
    + b'|[^"'
    + _BETWEEN
    + b"]{1,%d}+" % TOKEN_CHARS_MAX  # a number or a literal, ended by what follows it
    + b'(?=["'
    + _BETWEEN
    + b"]))*+",
    re.DOTALL,
)


def token_end(data: bytes) -> int:
    """How far `data` (a piece of a JSON body, starting between tokens) holds only whole tokens
    of at most TOKEN_CHARS_MAX characters. What follows is a token cut by the piece's end, or
    one too long (then more than TOKEN_BYTES_MAX bytes follow): in neither case may it be
    handed to the parser yet, which would buffer a token of any length until it ended."""
    match = _WELL_FORMED.match(data)
    assert match is not None  # the pattern matches the empty string
    return match.end()


_TOO_LONG = re.compile(
    rb'"(?:[^"\\]|\\.){%d}|[^"' % (TOKEN_CHARS_MAX + 1)
    + _BETWEEN
    + b"]{%d}" % (TOKEN_CHARS_MAX + 1),
    re.DOTALL,
)


def token_too_long(data: bytes) -> bool:
    """Whether `data` starts with a token longer than TOKEN_CHARS_MAX (rather than one cut
    short by the body's end, which is the parser's to refuse)."""
    return _TOO_LONG.match(data) is not None


Note = Callable[[dict[str, Any]], None]


@dataclass
class JsonRecords:
    """The records of a JSON body `{"records": [{...}, ...]}`, from ijson's basic events.

    `event` takes one event and returns a record once its object has ended. Problems outside
    any record (an unknown top-level key, `records` missing) go to `note`; a body that cannot
    be read on (nested too deeply, `records` twice, not an object) raises BodyRefused. Nothing
    is built but the fields of the record being read, at most RECORD_FIELDS_MAX of them.
    """

    note: Note
    depth: int = 0
    index: int = -1
    top_key: str | None = None
    record_key: str | None = None
    records_seen: bool = False
    in_records: bool = False
    in_record: bool = False
    after_key: bool = False
    field_name: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    found: list[dict[str, Any]] = field(default_factory=list)
    repeated: set[str] = field(default_factory=set)
    crowded: bool = False

    def place(self) -> list[str | int]:
        """Where the next token goes: the `loc` of a problem found before it is parsed."""
        if self.in_records and self.depth >= DEPTH_MAX:
            if self.in_record and self.after_key and self.record_key is not None:
                return ["records", self.index, self.record_key]
            return ["records", self.index]
        if self.in_records and self.depth == 2:
            return ["records", self.index + 1]
        if self.top_key is not None and (self.after_key or self.depth > 1):
            return ["body", self.top_key]
        return ["body"]

    def read(self, events: Iterable[tuple[str, Any]]) -> list[RawRecord]:
        """The records whose objects the events end; `event` for each event, except the two
        of nearly every field (its new key, its string) handled here, in the loop."""
        records: list[RawRecord] = []
        try:
            self._read(events, records)
        except BodyRefused as refused:
            refused.records = records
            raise
        return records

    def _read(self, events: Iterable[tuple[str, Any]], records: list[RawRecord]) -> None:
        for kind, value in events:
            if self.in_record and self.depth == DEPTH_MAX:
                fields = self.fields
                if kind == "string" and self.field_name is not None:
                    fields[self.field_name] = value
                    self.field_name, self.after_key = None, False
                    continue
                if kind == "map_key" and value not in fields and len(fields) < RECORD_FIELDS_MAX:
                    fields[value] = None
                    self.record_key = self.field_name = value
                    self.after_key = True
                    continue
            record = self.event(kind, value)
            if record is not None:
                records.append(record)

    def event(self, kind: str, value: Any) -> RawRecord | None:
        if kind == "map_key":
            self._key(value)
            return None
        if kind in {"start_map", "start_array"}:
            if self.depth >= DEPTH_MAX:
                raise BodyRefused(
                    item(self.place(), 'nested deeper than {"records": [{...}]}: a record is '
                         "a flat object of strings", "nesting_too_deep")
                )  # fmt: skip
            self.after_key = False
            return self._start(kind == "start_map")
        self.after_key = False
        if kind in {"end_map", "end_array"}:
            return self._end()
        return self._scalar(value)

    def finish(self) -> None:
        """At the body's end: a body without its array of records is refused."""
        if not self.records_seen:
            self.note(_records_missing())

    def _key(self, key: str) -> None:
        self.after_key = True
        if self.depth == 1:
            self.top_key = key
            if key == "records" and self.records_seen:
                raise BodyRefused(
                    item(["body", "records"], "the key 'records' is given more than once",
                         "duplicate_key")
                )  # fmt: skip
            if key != "records":
                self.note(item(["body", key], f"unknown field {key}", "extra_forbidden"))
        elif self.in_record and self.depth == DEPTH_MAX:
            self.record_key, self.field_name = key, None
            if key in self.fields:
                if key not in self.repeated:
                    self.repeated.add(key)
                    self.found.append(
                        item(["records", self.index, key],
                             f"the key {key!r} is given more than once", "duplicate_key")
                    )  # fmt: skip
            elif len(self.fields) < RECORD_FIELDS_MAX:
                self.fields[key] = None
                self.field_name = key
            elif not self.crowded:
                self.crowded = True
                self.found.append(
                    item(["records", self.index], f"more than {RECORD_FIELDS_MAX} fields",
                         "too_many_fields")
                )  # fmt: skip

    def _start(self, is_map: bool) -> RawRecord | None:
        self.depth += 1
        if self.depth == 1 and not is_map:
            raise BodyRefused(_records_missing())
        if self.depth == 2 and self.top_key == "records" and not self.records_seen:
            self.records_seen = True
            self.in_records = not is_map
            if is_map:
                self.note(_records_missing())
        elif self.depth == DEPTH_MAX and self.in_records:
            self.index += 1
            if not is_map:
                return RawRecord(self.index, None, (_not_an_object(self.index),))
            self.in_record, self.record_key, self.fields = True, None, {}
            self.found, self.repeated, self.crowded = [], set(), False
        return None

    def _end(self) -> RawRecord | None:
        self.depth -= 1
        if self.depth == 2 and self.in_record:
            self.in_record = False
            return RawRecord(self.index, self.fields, tuple(self.found))
        if self.depth == 1:
            self.in_records = False
        return None

    def _scalar(self, value: Any) -> RawRecord | None:
        if self.depth == 0:
            raise BodyRefused(_records_missing())
        if self.depth == 1 and self.top_key == "records" and not self.records_seen:
            self.records_seen = True
            self.note(_records_missing())
        elif self.depth == 2 and self.in_records:
            self.index += 1
            return RawRecord(self.index, None, (_not_an_object(self.index),))
        elif self.in_record and self.depth == DEPTH_MAX and self.field_name is not None:
            self.fields[self.field_name] = value
        return None


def _records_missing() -> dict[str, Any]:
    return item(
        ["body"],
        'the body must be {"records": [...]}, an object whose only field is the array of records',
        "records_missing",
    )


def _not_an_object(index: int) -> dict[str, Any]:
    return item(["records", index], "a record must be an object of strings", "invalid_row")


# ---------------------------------------------------------------- the reconciliation


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
        try:
            self.connection.execute(
                text(
                    f"CREATE TEMPORARY TABLE {self.table} (ord INTEGER NOT NULL, settlement_id VARCHAR(64) NOT NULL, "
                    "claim_id VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, total_fen BIGINT NOT NULL, "
                    "fund_total_fen BIGINT NOT NULL, patient_pay_fen BIGINT NOT NULL)"
                )
            )
        except BaseException:
            self.connection.close()  # no reconciliation to close later: give the connection back
            raise
        self.count = 0
        self.problems: list[dict[str, Any]] = []
        self.problem_count = 0
        self.too_many = False
        self.batch: list[dict[str, Any]] = []
        self.total_fen = 0
        """The records' totals added up here, not in SQL: 93 records of the largest amount the
        contract writes (15 digits) would overflow SQLite's 64-bit sum (a 500)."""

    def add(self, rows: Iterable[RawRecord]) -> None:
        """Parse and insert records as they come; problems are collected for `finish`."""
        for row in rows:
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
            for problem in row.problems:
                self._problem(problem)
            if row.fields is None:
                continue
            found: list[dict[str, Any]] = []
            record = parse_record(row.index, row.fields, found)
            for problem in found:
                self._problem(problem)
            if record is None or row.problems:
                continue
            self.total_fen += record.total_fen
            # Good records go in even after a bad one, so that duplicates among them are found
            # too; a refused call drops the table and nothing of it is kept.
            self.batch.append(
                {
                    "ord": row.index,
                    **{name: getattr(record, name) for name in HospitalRecord.__slots__},
                }
            )
            if len(self.batch) >= self.BATCH:
                self._insert(self.batch)
                self.batch = []

    def note(self, problem: dict[str, Any]) -> None:
        """A problem of the body outside any record (a top-level key, the records missing)."""
        self._problem(problem)

    def stopped(self, problem: dict[str, Any]) -> RecordsRefused:
        """The refusal of a body whose reading `problem` stopped, after the problems found
        before it (the records read so far must have been added)."""
        self._problem(problem)
        return RecordsRefused(self.problems, self.problem_count)

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
        for outcome, number in self.connection.execute(
            text(f"SELECT outcome, count(*) FROM ({self._classified_sql()}) c GROUP BY outcome"),
            self._params(),
        ):
            counts[outcome] = int(number)
        missing = self.connection.execute(
            text(f"SELECT count(*), coalesce(sum(total_fen), 0) FROM ({self._missing_sql()}) m"),
            self._params(),
        ).one()
        counts["missing_at_hospital"] = int(missing[0])
        return {
            "records": self.count,
            **counts,
            "differences": sum(counts[name] for name in OUTCOMES if name != "matched"),
            "hospital_records_total": format_fen(self.total_fen),
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
