"""Ledger verification: the stored rows checked against each other (rules §9–§10).

`verify` reads the database in one consistent snapshot and reports every place where the
rows disagree, as `Difference` values; it writes nothing. Five checks:

- accumulators: each (person, policy year) row equals the sums recomputed, with SQL GROUP BY,
  from that person's settled settlements of that year; a missing row with settled
  settlements behind it is a difference too;
- conservation: each settlement is rebuilt from its rows with `settlement_from_rows`, which
  checks every identity of §10 (five funds, refused self-pay, findings adding up to each
  line's refusal) and raises `ConservationError` when one is broken; its regions agree with
  its tariff and catalog versions, and it has a filing exactly when it is cross-region;
- postings: each fund of each settlement has exactly one 'settle' posting of its paid amount
  (which also equals the settlement's total for that fund); a reversed settlement has one
  'reversal' posting per fund negating it, a settled one none; every posting names the
  settlement's hospital and both its regions; and per settlement the
  postings sum to the fund total (settled) or to zero (reversed);
- hourly totals (when all policy years are checked): `api.services.hourly_totals`;
- encounters (the national platform's stays, api/services/nhsa.py): each encounter with a
  settled settlement bills exactly what that settlement settled. Its stored lines, netted as
  the claim was built from them (`billed_lines`: refunds netted in, a line refunded to
  nothing left out), equal the settlement's lines one for one by line number (item code,
  quantity, unit price, amount) and add up to its total. A line that reached the encounter
  but not the settlement is named, as is any other change after the settlement.

Everything is streamed: the SQL checks return only rows that disagree, and settlements are
read in batches of `BATCH_SETTLEMENTS` with their lines and funds, so memory does not grow
with the size of the database.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from api.db.engine import is_sqlite
from api.db.rows import settlement_from_rows, unpack_lines
from api.db.tables import (
    ACCUMULATOR,
    ACCUMULATOR_COLUMNS,
    ENCOUNTER,
    ENCOUNTER_LINE,
    FUND_POSTING,
    FUND_TOTAL_COLUMNS,
    RECEIVABLE,
    SETTLEMENT,
    SETTLEMENT_FUND,
    SettlementFundRow,
    SettlementRow,
)
from api.services.alerts import differences as alert_differences
from api.services.hourly_totals import hourly_differences
from api.services.nhsa import billed_lines
from api.services.receivables import differences as receivable_differences
from settlement.conservation import ConservationError
from settlement.money import MONEY_DECIMALS, scaled_int
from settlement.result import LineSettlement

BATCH_SETTLEMENTS = 1_000
"""Settlements read per round trip; their lines and funds are fetched with one IN each."""

DIFFERENCES_MAX = 10_000
"""Differences kept in a report; a corrupted database could otherwise fill memory with them."""

ACCUMULATOR_FIELDS = tuple(ACCUMULATOR_COLUMNS.values())
"""The accumulator's columns; the recomputed figures carry the same names."""

Value = int | str | None


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between stored rows; `where` names the table and the row's key."""

    kind: str
    where: str
    expected: Value
    found: Value
    message: str


@dataclass(frozen=True, slots=True)
class Report:
    """What was checked (row counts) and every difference found, in check order."""

    year: int | None
    accumulators: int
    settlements: int
    postings: int
    encounters: int
    """Settled encounters proved against their settlements."""
    receivables: int
    """Receivables of patients who pay later (rules §15) checked against their settlements."""
    differences: tuple[Difference, ...]
    differences_omitted: int

    @property
    def balanced(self) -> bool:
        return not self.differences


@dataclass(slots=True)
class _Found:
    """Differences collected up to `DIFFERENCES_MAX`; the rest are only counted."""

    kept: list[Difference] = field(default_factory=list)
    omitted: int = 0

    def add(self, differences: Iterator[Difference] | Sequence[Difference]) -> None:
        for difference in differences:
            if len(self.kept) < DIFFERENCES_MAX:
                self.kept.append(difference)
            else:
                self.omitted += 1


def verify(engine: Engine, year: int | None) -> list[Difference]:
    """Every difference in the ledger (only policy year `year` when given); empty when sound."""
    report = check(engine, year)
    differences = list(report.differences)
    if report.differences_omitted:
        differences.append(_omitted(report.differences_omitted))
    return differences


def check(engine: Engine, year: int | None) -> Report:
    """Run the checks in one read-only snapshot and count what they looked at."""
    found = _Found()
    with _snapshot(engine) as connection:
        accumulators = _count(
            connection, select(func.count()).select_from(ACCUMULATOR), ACCUMULATOR, year
        )
        postings = _count(
            connection,
            select(func.count()).select_from(FUND_POSTING.join(SETTLEMENT, _posting_settlement())),
            SETTLEMENT,
            year,
        )
        found.add(_accumulator_differences(connection, year))
        settlements = _check_conservation(connection, year, found)
        found.add(_posting_differences(connection, year))
        found.add(_posting_total_differences(connection, year))
        encounters = _check_encounters(connection, year, found)
        receivables_checked = _count(
            connection, select(func.count()).select_from(RECEIVABLE), RECEIVABLE, year
        )
        found.add(
            Difference("receivable", where, expected, found_, message)
            for where, expected, found_, message in receivable_differences(connection, year)
        )
        found.add(
            Difference("alert", where, expected, found_, message)
            for where, expected, found_, message in alert_differences(connection, year)
        )
        if year is None:  # the hourly totals span policy years: checked whole
            found.add(
                Difference("hourly_totals", where, expected, found_, message)
                for where, expected, found_, message in hourly_differences(connection)
            )
    return Report(
        year, accumulators, settlements, postings, encounters, receivables_checked,
        tuple(found.kept), found.omitted,
    )  # fmt: skip


def _omitted(count: int) -> Difference:
    return Difference(
        "omitted",
        "ledger",
        None,
        count,
        f"{count} more differences were found and not listed (at most {DIFFERENCES_MAX} are).",
    )


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state of the whole database.

    PostgreSQL: REPEATABLE READ, so a settlement committed while the checks run is seen by
    all of them or by none. SQLite (WAL): a deferred transaction reads one snapshot from its
    first SELECT on, and writers carry on meanwhile.
    """
    with engine.connect() as connection:
        if not is_sqlite(engine):
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        connection.begin()
        try:
            yield connection
        finally:
            connection.rollback()


def _count(connection: Connection, query: Any, table: Any, year: int | None) -> int:
    if year is not None:
        query = query.where(_year_column(table) == year)
    return int(connection.execute(query).scalar_one())


def _year_column(table: Any) -> ColumnElement[Any]:
    column: ColumnElement[Any] = table.c.year if table is ACCUMULATOR else table.c.policy_year
    return column


def _stream(connection: Connection, query: Any) -> Iterator[Any]:
    """Rows of a query read in batches (a server-side cursor on PostgreSQL)."""
    yield from connection.execute(query.execution_options(yield_per=BATCH_SETTLEMENTS))


def _int(value: Any) -> int:
    """A SQL SUM as an int: PostgreSQL sums BIGINT as NUMERIC, which psycopg reads as Decimal."""
    if isinstance(value, decimal.Decimal):
        assert value == value.to_integral_value()
    return int(value)


# ---------------------------------------------------------------- accumulators


def _recomputed(year: int | None) -> Any:
    """Accumulators recomputed from the settled settlements, per (person, policy year)."""
    s = SETTLEMENT.c
    query = (
        select(
            s.person_id.label("person_id"),
            s.policy_year.label("year"),
            func.count().label("admissions"),
            func.sum(s.basic_insurance_fen).label("basic_paid_fen"),
            func.sum(s.in_scope_fen - s.basic_insurance_fen).label("ci_base_fen"),
            func.sum(s.critical_illness_fen).label("ci_paid_fen"),
            func.sum(s.medical_assistance_fen).label("assistance_paid_fen"),
            func.sum(s.charity_fen).label("charity_paid_fen"),
            func.sum(s.health_fund_fen).label("health_paid_fen"),
            func.sum(s.patient_pay_fen).label("patient_paid_fen"),
        )
        .where(s.status == "settled")
        .group_by(s.person_id, s.policy_year)
    )
    if year is not None:
        query = query.where(s.policy_year == year)
    return query.subquery("recomputed")


def _accumulator_differences(connection: Connection, year: int | None) -> Iterator[Difference]:
    recomputed = _recomputed(year)
    r = recomputed.c
    joined = and_(r.person_id == ACCUMULATOR.c.person_id, r.year == ACCUMULATOR.c.year)
    expected = {name: func.coalesce(r[name], 0) for name in ACCUMULATOR_FIELDS}
    stored = (
        select(ACCUMULATOR, *(value.label(f"expected_{name}") for name, value in expected.items()))
        .select_from(ACCUMULATOR.outerjoin(recomputed, joined))
        .where(or_(*(ACCUMULATOR.c[name] != value for name, value in expected.items())))
        .order_by(ACCUMULATOR.c.person_id, ACCUMULATOR.c.year)
    )
    if year is not None:
        stored = stored.where(ACCUMULATOR.c.year == year)
    for row in _stream(connection, stored):
        where = f"accumulator {row.person_id}/{row.year}"
        for name in ACCUMULATOR_FIELDS:
            should, is_ = _int(row._mapping[f"expected_{name}"]), _int(row._mapping[name])
            if should != is_:
                yield Difference(
                    "accumulator",
                    where,
                    should,
                    is_,
                    f"{name} is {is_}, the settled settlements of {row.year} add up to "
                    f"{should} (off by {is_ - should:+d})",
                )
    missing = (
        select(recomputed)
        .select_from(recomputed.outerjoin(ACCUMULATOR, joined))
        .where(ACCUMULATOR.c.person_id.is_(None))
        .order_by(r.person_id, r.year)
    )
    for row in _stream(connection, missing):
        yield Difference(
            "accumulator_missing",
            f"accumulator {row.person_id}/{row.year}",
            f"{row.admissions} admissions",
            None,
            f"no accumulator row, but {row.admissions} settled settlement(s) of {row.year} "
            f"paid basic insurance {_int(row.basic_paid_fen)} fen",
        )


# ---------------------------------------------------------------- conservation


def _check_conservation(connection: Connection, year: int | None, found: _Found) -> int:
    """Rebuild every settlement from its rows, batch by batch; return how many were read."""
    query = select(SettlementRow).order_by(col(SettlementRow.settlement_id))
    if year is not None:
        query = query.where(col(SettlementRow.policy_year) == year)
    count = 0
    with Session(connection, autoflush=False) as session:
        result = session.scalars(query.execution_options(yield_per=BATCH_SETTLEMENTS))
        for batch in result.partitions():
            # The identity map holds objects weakly: once the next batch replaces this one,
            # it is collected, so memory stays at one batch however many settlements there are.
            found.add(_rebuild_batch(session, batch))
            count += len(batch)
    return count


def _rebuild_batch(session: Session, rows: Sequence[SettlementRow]) -> Iterator[Difference]:
    ids = [row.settlement_id for row in rows]
    funds: dict[str, list[SettlementFundRow]] = defaultdict(list)
    for fund in session.scalars(
        select(SettlementFundRow).where(col(SettlementFundRow.settlement_id).in_(ids))
    ):
        funds[fund.settlement_id].append(fund)
    for row in rows:
        where = f"settlement {row.settlement_id}"
        if row.status not in ("settled", "reversed"):
            yield Difference(
                "status", where, "settled or reversed", row.status,
                f"the unknown status {row.status!r}: neither settled nor reversed",
            )  # fmt: skip
        yield from _region_differences(row, where)
        try:
            settlement_from_rows(row, funds[row.settlement_id])
        except ConservationError as error:
            yield Difference("conservation", where, "balanced", "unbalanced", str(error))
        except (ValueError, KeyError, TypeError, ArithmeticError) as error:
            # A row changed into something the engine's types refuse (an unknown fund or
            # class, unreadable JSON): the settlement cannot even be rebuilt.
            message = f"cannot be rebuilt from its rows: {type(error).__name__}: {error}"
            yield Difference("unreadable", where, "readable", "unreadable", message)


def _region_differences(row: SettlementRow, where: str) -> Iterator[Difference]:
    """The regions agree with the tariffs that settled the claim (a version starts with its
    region), and a filing is there exactly when the claim is cross-region (rules §12)."""
    if not row.tariff_version.startswith(f"{row.insured_region}-"):
        yield Difference(
            "region", where, row.tariff_version[:6], row.insured_region,
            f"insured region {row.insured_region}, but policy tariff {row.tariff_version}",
        )  # fmt: skip
    if not row.catalog_version.startswith(f"{row.treatment_region}-"):
        yield Difference(
            "region", where, row.catalog_version[:6], row.treatment_region,
            f"treatment region {row.treatment_region}, but catalog {row.catalog_version}",
        )  # fmt: skip
    cross_region = row.insured_region != row.treatment_region
    if cross_region != (row.filing is not None):
        expected = "a filing" if cross_region else "no filing"
        yield Difference(
            "filing", where, expected, row.filing,
            f"{'cross-region' if cross_region else 'in-region'} settlement with filing "
            f"{row.filing!r}: it must have {expected}",
        )  # fmt: skip


# ---------------------------------------------------------------- postings


def _posting_settlement() -> ColumnElement[bool]:
    joined: ColumnElement[bool] = FUND_POSTING.c.settlement_id == SETTLEMENT.c.settlement_id
    return joined


def _posting_sums(year: int | None) -> Any:
    """Postings per (settlement, fund): how many of each kind and what they add up to."""
    p = FUND_POSTING.c

    def counted(condition: ColumnElement[bool], value: Any = 1) -> Any:
        return func.sum(case((condition, value), else_=0))

    query = (
        select(
            p.settlement_id.label("settlement_id"),
            p.fund.label("fund"),
            counted(p.kind == "settle").label("settle_count"),
            counted(p.kind == "settle", p.amount_fen).label("settle_fen"),
            counted(p.kind == "reversal").label("reversal_count"),
            counted(p.kind == "reversal", p.amount_fen).label("reversal_fen"),
            counted(p.kind.not_in(("settle", "reversal"))).label("other_count"),
            counted(p.hospital_id != SETTLEMENT.c.hospital_id).label("elsewhere_count"),
            counted(
                or_(
                    p.insured_region != SETTLEMENT.c.insured_region,
                    p.treatment_region != SETTLEMENT.c.treatment_region,
                )
            ).label("misplaced_count"),
        )
        .select_from(FUND_POSTING.join(SETTLEMENT, _posting_settlement()))
        .group_by(p.settlement_id, p.fund)
    )
    if year is not None:
        query = query.where(SETTLEMENT.c.policy_year == year)
    return query.subquery("posted")


def _fund_total() -> Any:
    """The settlement's total for the fund of a settlement_fund row (NULL for an unknown fund)."""
    return case(
        *(
            (SETTLEMENT_FUND.c.fund == fund, SETTLEMENT.c[column])
            for fund, column in FUND_TOTAL_COLUMNS.items()
        ),
        else_=None,
    )


def _posting_differences(connection: Connection, year: int | None) -> Iterator[Difference]:
    posted = _posting_sums(year)
    q, s, f = posted.c, SETTLEMENT.c, SETTLEMENT_FUND.c
    total = _fund_total()
    suspicious = or_(
        q.settlement_id.is_(None),
        q.settle_count != 1,
        q.settle_fen != f.paid_fen,
        q.other_count != 0,
        q.elsewhere_count != 0,
        q.misplaced_count != 0,
        total.is_(None),
        total != f.paid_fen,
        and_(s.status == "settled", q.reversal_count != 0),
        and_(
            s.status == "reversed",
            or_(q.reversal_count != 1, q.reversal_fen != -q.settle_fen),
        ),
    )
    query = (
        select(
            f.settlement_id,
            f.fund,
            f.paid_fen,
            s.status,
            total.label("total_fen"),
            q.settlement_id.label("posted_settlement_id"),
            q.settle_count,
            q.settle_fen,
            q.reversal_count,
            q.reversal_fen,
            q.other_count,
            q.elsewhere_count,
            q.misplaced_count,
        )
        .select_from(
            SETTLEMENT_FUND.join(SETTLEMENT, s.settlement_id == f.settlement_id).outerjoin(
                posted, and_(q.settlement_id == f.settlement_id, q.fund == f.fund)
            )
        )
        .where(suspicious)
        .order_by(f.settlement_id, f.position)
    )
    if year is not None:
        query = query.where(s.policy_year == year)
    for row in _stream(connection, query):
        yield from _fund_row_differences(row)
    orphans = (
        select(posted)
        .select_from(
            posted.outerjoin(
                SETTLEMENT_FUND, and_(f.settlement_id == q.settlement_id, f.fund == q.fund)
            )
        )
        .where(f.settlement_id.is_(None))
        .order_by(q.settlement_id, q.fund)
    )
    for row in _stream(connection, orphans):
        yield Difference(
            "posting_unexpected",
            f"fund_posting {row.settlement_id}/{row.fund}",
            None,
            _int(row.settle_fen) + _int(row.reversal_fen),
            f"postings for fund {row.fund}, which settlement {row.settlement_id} has no "
            "settlement_fund row for",
        )


def _fund_row_differences(row: Any) -> Iterator[Difference]:
    """Name each way one settlement_fund row disagrees with its postings and its settlement."""
    # One branch per rule: a flat list of checks reads better than a table of lambdas.
    key = f"{row.settlement_id}/{row.fund}"
    if row.total_fen is None:
        yield Difference(
            "fund_unknown", f"settlement_fund {key}", None, row.fund,
            f"settlement {row.settlement_id} has a fund row for the unknown fund {row.fund!r}",
        )  # fmt: skip
    elif row.total_fen != row.paid_fen:
        yield Difference(
            "fund_total", f"settlement {row.settlement_id}", row.paid_fen, row.total_fen,
            f"the settlement's {row.fund} total is {row.total_fen}, its fund row paid "
            f"{row.paid_fen}",
        )  # fmt: skip
    settle_count = 0 if row.settle_count is None else _int(row.settle_count)
    if settle_count != 1:
        yield Difference(
            "posting_count", f"fund_posting {key}/settle", 1, settle_count,
            f"{settle_count} 'settle' postings for fund {row.fund} of settlement "
            f"{row.settlement_id}, there must be exactly one",
        )  # fmt: skip
    elif _int(row.settle_fen) != row.paid_fen:
        yield Difference(
            "posting_amount", f"fund_posting {key}/settle", row.paid_fen, _int(row.settle_fen),
            f"the 'settle' posting of {row.fund} for settlement {row.settlement_id} is "
            f"{_int(row.settle_fen)}, the fund paid {row.paid_fen}",
        )  # fmt: skip
    if row.posted_settlement_id is not None and _int(row.other_count):
        yield Difference(
            "posting_kind", f"fund_posting {key}", "settle or reversal", "other",
            f"{_int(row.other_count)} postings of {row.fund} for settlement "
            f"{row.settlement_id} have a kind other than 'settle' or 'reversal'",
        )  # fmt: skip
    if row.posted_settlement_id is not None and _int(row.elsewhere_count):
        yield Difference(
            "posting_hospital", f"fund_posting {key}", None, _int(row.elsewhere_count),
            f"{_int(row.elsewhere_count)} postings of {row.fund} for settlement "
            f"{row.settlement_id} are owed to another hospital than the settlement's",
        )  # fmt: skip
    if row.posted_settlement_id is not None and _int(row.misplaced_count):
        yield Difference(
            "posting_region", f"fund_posting {key}", None, _int(row.misplaced_count),
            f"{_int(row.misplaced_count)} postings of {row.fund} for settlement "
            f"{row.settlement_id} name other regions than the settlement's (insured or "
            "treatment): inter-region clearing would charge the wrong region",
        )  # fmt: skip
    yield from _reversal_differences(row, key)


def _reversal_differences(row: Any, key: str) -> Iterator[Difference]:
    reversal_count = 0 if row.reversal_count is None else _int(row.reversal_count)
    reversal_fen = 0 if row.reversal_fen is None else _int(row.reversal_fen)
    settle_fen = 0 if row.settle_fen is None else _int(row.settle_fen)
    where = f"fund_posting {key}/reversal"
    if row.status == "settled" and reversal_count:
        yield Difference(
            "posting_unexpected", where, 0, reversal_count,
            f"settlement {row.settlement_id} is settled, yet {row.fund} has "
            f"{reversal_count} 'reversal' posting(s) of {reversal_fen} in all",
        )  # fmt: skip
    if row.status != "reversed":
        return
    if reversal_count != 1:
        yield Difference(
            "posting_count", where, 1, reversal_count,
            f"settlement {row.settlement_id} is reversed, yet {row.fund} has "
            f"{reversal_count} 'reversal' postings; there must be exactly one",
        )  # fmt: skip
    elif reversal_fen != -settle_fen:
        yield Difference(
            "posting_amount", where, -settle_fen, reversal_fen,
            f"the 'reversal' posting of {row.fund} for settlement {row.settlement_id} is "
            f"{reversal_fen}, it must negate the 'settle' posting of {settle_fen}",
        )  # fmt: skip


def _posting_total_differences(connection: Connection, year: int | None) -> Iterator[Difference]:
    """Per settlement, all postings add up to its fund total (settled) or to zero (reversed)."""
    s = SETTLEMENT.c
    posted = func.coalesce(func.sum(FUND_POSTING.c.amount_fen), 0)
    owed = case((s.status == "reversed", 0), else_=s.fund_total_fen)
    query = (
        select(s.settlement_id, s.status, owed.label("owed_fen"), posted.label("posted_fen"))
        .select_from(SETTLEMENT.outerjoin(FUND_POSTING, _posting_settlement()))
        .group_by(s.settlement_id, s.status, s.fund_total_fen)
        .having(posted != owed)
        .order_by(s.settlement_id)
    )
    if year is not None:
        query = query.where(s.policy_year == year)
    for row in _stream(connection, query):
        owed_fen, posted_fen = _int(row.owed_fen), _int(row.posted_fen)
        basis = (
            "a reversed settlement's postings must cancel out"
            if row.status == "reversed"
            else ("the postings must add up to its fund total")
        )
        yield Difference(
            "posting_total", f"settlement {row.settlement_id}", owed_fen, posted_fen,
            f"its postings add up to {posted_fen} fen, {basis} ({owed_fen} fen)",
        )  # fmt: skip


# ---------------------------------------------------------------- encounters


def _check_encounters(connection: Connection, year: int | None, found: _Found) -> int:
    """Prove every settled encounter against its settlement, batch by batch; how many."""
    s, e = SETTLEMENT.c, ENCOUNTER.c
    of_encounter = and_(e.mdtrt_id == s.claim_id, e.hospital_id == s.hospital_id)
    query = (
        select(s.settlement_id, s.claim_id, s.total_fen, s.lines)
        .select_from(SETTLEMENT.join(ENCOUNTER, of_encounter))
        .where(s.status == "settled")
        .order_by(s.settlement_id)
    )
    if year is not None:
        query = query.where(s.policy_year == year)
    count = 0
    result = connection.execute(query.execution_options(yield_per=BATCH_SETTLEMENTS))
    for batch in result.partitions():
        stored: dict[str, list[Any]] = defaultdict(list)
        for line in connection.execute(
            select(ENCOUNTER_LINE)
            .where(ENCOUNTER_LINE.c.mdtrt_id.in_([row.claim_id for row in batch]))
            .order_by(ENCOUNTER_LINE.c.mdtrt_id, ENCOUNTER_LINE.c.position)
        ):
            stored[line.mdtrt_id].append(line)
        for row in batch:
            found.add(_encounter_differences(row, stored[row.claim_id]))
        count += len(batch)
    return count


def _encounter_differences(row: Any, lines: list[Any]) -> Iterator[Difference]:
    """Name each way a settled encounter's lines differ from what its settlement settled."""
    where = f"encounter {row.claim_id}"
    settlement = f"settlement {row.settlement_id}"
    try:
        billed = {line.position: line for line in billed_lines(lines)}
        settled = {line.line_no: line for line in unpack_lines(row.lines)}
    except (ValueError, KeyError, TypeError, ArithmeticError) as error:
        # A refund of no line, a number or a packed line the types refuse: no claim to compare.
        message = f"cannot be compared with {settlement}: {type(error).__name__}: {error}"
        yield Difference("encounter_unreadable", where, "readable", "unreadable", message)
        return
    if len(billed) != len(settled):
        yield Difference(
            "encounter_lines", where, len(billed), len(settled),
            f"the encounter bills {len(billed)} lines (refunds netted in), {settlement} "
            f"settled {len(settled)}",
        )  # fmt: skip
    for number in sorted(billed.keys() | settled.keys()):
        yield from _line_differences(where, settlement, billed.get(number), settled.get(number))
    billed_fen = sum(scaled_int(line.amount, MONEY_DECIMALS) for line in billed.values())
    if billed_fen != row.total_fen:
        yield Difference(
            "encounter_total", where, billed_fen, row.total_fen,
            f"the encounter's lines total {billed_fen} fen, {settlement} settled "
            f"{row.total_fen} fen",
        )  # fmt: skip


def _line_differences(
    where: str, settlement: str, billed: Any, settled: LineSettlement | None
) -> Iterator[Difference]:
    """One line number of a settled encounter: billed by the encounter (its charged line, the
    refunds netted in) and settled by its settlement, field by field."""
    if settled is None:
        yield Difference(
            "encounter_line", f"{where} feedetl_sn {billed.feedetl_sn}", billed.feedetl_sn, None,
            f"line {billed.position} (feedetl_sn {billed.feedetl_sn}, {billed.code}, "
            f"{billed.amount}) is in the encounter but not in {settlement}",
        )  # fmt: skip
        return
    if billed is None:
        yield Difference(
            "encounter_line", where, None, settled.line_no,
            f"line {settled.line_no} of {settlement} ({settled.item_code}, {settled.amount}) "
            "is no line of the encounter",
        )  # fmt: skip
        return
    pairs = {
        "item code": (billed.code, settled.item_code),
        "quantity": (billed.quantity, settled.quantity),
        "unit price": (billed.price, settled.unit_price.amount),
        "amount (fen)": (scaled_int(billed.amount, MONEY_DECIMALS), settled.amount_fen),
    }
    for name, (expected, found) in pairs.items():
        if expected != found:
            yield Difference(
                "encounter_line", f"{where} feedetl_sn {billed.feedetl_sn}",
                _value(expected), _value(found),
                f"line {billed.position} (feedetl_sn {billed.feedetl_sn}): {name} {expected} in "
                f"the encounter, {found} in {settlement}",
            )  # fmt: skip


def _value(value: Any) -> Value:
    return value if isinstance(value, int) else str(value)
