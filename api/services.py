"""The service layer: read, call the engine once, write once, commit once.

Each function here is one transaction. Settling locks the person's accumulators row for the
policy year (SQLite: the transaction began with BEGIN IMMEDIATE; PostgreSQL: SELECT … FOR
UPDATE under a lock timeout), decides idempotency under that lock, runs the engine, and
writes the settlement, its lines, its fund steps, its postings, the new accumulators and an
audit record in one commit.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, exc, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

import api.models  # noqa: F401 - registers the tables this module writes on SQLModel.metadata
from api.contract import ClaimIn, accumulators_json, settlement_json
from api.convert import (
    accumulators_fen,
    fund_row_values,
    line_row_values,
    person_to_engine,
    posting_values,
    settlement_document,
    settlement_from_rows,
    settlement_row_values,
    timestamp,
)
from api.db import LockUnavailable, read_connection, write_connection
from api.problems import ApiProblem, rejection_problem
from api.security import Principal
from settlement.engine import settle as engine_settle
from settlement.model import AccumulatorsFen, Claim
from settlement.model import Person as EnginePerson
from settlement.rejection import Rejection
from settlement.result import Settlement
from settlement.tariff import TariffBook

TABLES = SQLModel.metadata.tables
ACC = TABLES["accumulator"]
SETTLEMENT = TABLES["settlement"]
LINES = TABLES["settlement_line"]
FUNDS = TABLES["settlement_fund"]
POSTINGS = TABLES["fund_posting"]
AUDIT = TABLES["audit"]
HOSPITAL = TABLES["hospital"]
PERSON = TABLES["person"]
STATUS = TABLES["person_status"]

# Statements are built once: each execution then reuses its compiled form from the cache,
# which matters at a thousand settlements a second (building a select costs more than running it).
_HOSPITAL_LEVEL = select(HOSPITAL.c.level).where(HOSPITAL.c.hospital_id == bindparam("hospital_id"))
_PERSON = select(PERSON.c.person_id, PERSON.c.birth_date, PERSON.c.insured_region).where(
    PERSON.c.person_id == bindparam("person_id")
)
_STATUSES = select(STATUS.c.group, STATUS.c.valid_from, STATUS.c.valid_to).where(
    STATUS.c.person_id == bindparam("person_id")
)
_ACC_ROW = select(ACC).where(
    ACC.c.person_id == bindparam("person_id"), ACC.c.year == bindparam("year")
)
_ACC_ROW_LOCKED = _ACC_ROW.with_for_update()
_ACC_NEW = {
    "sqlite": sqlite.insert(ACC).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(ACC).on_conflict_do_nothing(),
}
_SETTLED_FOR_CLAIM = select(SETTLEMENT).where(
    SETTLEMENT.c.hospital_id == bindparam("hospital_id"),
    SETTLEMENT.c.claim_id == bindparam("claim_id"),
    SETTLEMENT.c.status == "settled",
)
_SETTLEMENT_BY_ID = select(SETTLEMENT).where(
    SETTLEMENT.c.settlement_id == bindparam("settlement_id")
)
_SETTLEMENT_BY_ID_LOCKED = _SETTLEMENT_BY_ID.with_for_update()
_LINES_OF = select(LINES).where(LINES.c.settlement_id == bindparam("settlement_id"))
_FUNDS_OF = select(FUNDS).where(FUNDS.c.settlement_id == bindparam("settlement_id"))
_INSERT_SETTLEMENT = insert(SETTLEMENT)
_INSERT_LINES = insert(LINES)
_INSERT_FUNDS = insert(FUNDS)
_INSERT_POSTINGS = insert(POSTINGS)
_INSERT_AUDIT = insert(AUDIT)
_UPDATE_ACC = (
    update(ACC)
    .where(ACC.c.person_id == bindparam("key_person_id"), ACC.c.year == bindparam("key_year"))
    .values(
        admissions=bindparam("admissions"),
        basic_paid_fen=bindparam("basic_paid_fen"),
        ci_base_fen=bindparam("ci_base_fen"),
        ci_paid_fen=bindparam("ci_paid_fen"),
        assistance_paid_fen=bindparam("assistance_paid_fen"),
        charity_paid_fen=bindparam("charity_paid_fen"),
    )
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A settlement document and whether this call created it or replayed it."""

    document: dict[str, Any]
    created: bool


def claim_hash(claim_in: ClaimIn) -> str:
    """SHA-256 of the claim's canonical JSON (sorted keys, no spaces): same body, same hash."""
    canonical = orjson.dumps(claim_in.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def new_settlement_id(moment: datetime) -> str:
    return f"ST{moment:%Y%m%d}{secrets.token_hex(8).upper()}"


Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC: the time settlements and reversals are stamped and posted with."""
    return datetime.now(UTC)


def _lock_timeout(connection: Connection, lock_wait_ms: int) -> None:
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_wait_ms)}ms'")


def _unknown(errors: list[dict[str, Any]]) -> ApiProblem:
    return ApiProblem(
        422,
        "Claim refused",
        f"The claim has {len(errors)} problem(s); nothing was settled.",
        kind="claim-refused",
        errors=errors,
    )


def _load_parties(connection: Connection, claim: Claim) -> tuple[int, EnginePerson]:
    """The hospital's level and the person with their statuses; unknown ones refused (422)."""
    level = connection.execute(_HOSPITAL_LEVEL, {"hospital_id": claim.hospital_id}).scalar()
    person = connection.execute(_PERSON, {"person_id": claim.person_id}).first()
    errors = []
    if level is None:
        errors.append(
            {
                "loc": ["body", "hospital_id"],
                "msg": f"hospital {claim.hospital_id} is not registered",
                "code": "unknown_hospital",
            }
        )
    if person is None:
        errors.append(
            {
                "loc": ["body", "person_id"],
                "msg": f"person {claim.person_id} is not registered",
                "code": "unknown_person",
            }
        )
    if errors:
        raise _unknown(errors)
    assert level is not None
    assert person is not None
    statuses = connection.execute(_STATUSES, {"person_id": claim.person_id}).all()
    return int(level), person_to_engine(person, statuses)


def _lock_accumulators(connection: Connection, person_id: str, year: int) -> AccumulatorsFen:
    """The person's accumulators for the year, locked for this transaction (created if new)."""
    dialect = connection.dialect.name
    connection.execute(
        _ACC_NEW[dialect],
        {"person_id": person_id, "year": year, "admissions": 0, "basic_paid_fen": 0,
         "ci_base_fen": 0, "ci_paid_fen": 0, "assistance_paid_fen": 0, "charity_paid_fen": 0},
    )  # fmt: skip
    query = _ACC_ROW if dialect == "sqlite" else _ACC_ROW_LOCKED
    row = connection.execute(query, {"person_id": person_id, "year": year}).one()
    return accumulators_fen(row, year)


def _replay(connection: Connection, row: Any, digest: str, claim_id: str) -> Outcome:
    if row.claim_hash != digest:
        raise ApiProblem(
            409,
            "Claim already settled with another body",
            f"Claim {claim_id} is settled as {row.settlement_id} with a different body; "
            "reverse that settlement before settling the claim anew.",
            kind="claim-conflict",
            errors=[
                {
                    "loc": ["body", "claim_id"],
                    "msg": f"settled as {row.settlement_id}",
                    "code": "conflict",
                }
            ],
        )
    return Outcome(_document(connection, row), created=False)


def _document(connection: Connection, row: Any) -> dict[str, Any]:
    """The stored settlement as the contract's document, checked for conservation again."""
    key = {"settlement_id": row.settlement_id}
    lines = connection.execute(_LINES_OF, key).all()
    funds = connection.execute(_FUNDS_OF, key).all()
    return settlement_document(row, settlement_from_rows(row, lines, funds))


def _map_lock_errors(error: exc.OperationalError) -> LockUnavailable | None:
    original = getattr(error, "orig", None)
    name = type(original).__name__
    message = str(original)
    if name in ("LockNotAvailable", "QueryCanceled") or "database is locked" in message:
        return LockUnavailable(message)
    return None


def settle_claim(
    engine: Engine,
    tariffs: TariffBook,
    claim_in: ClaimIn,
    actor: Principal,
    lock_wait_ms: int,
    clock: Clock = system_clock,
) -> Outcome:
    claim = claim_in.to_engine()
    digest = claim_hash(claim_in)
    try:
        return _settle_in_transaction(engine, tariffs, claim, digest, actor, lock_wait_ms, clock)
    except exc.IntegrityError:
        # A concurrent duplicate committed first (the unique index caught it): answer as a replay.
        with read_connection(engine) as connection:
            row = connection.execute(
                _SETTLED_FOR_CLAIM, {"hospital_id": claim.hospital_id, "claim_id": claim.claim_id}
            ).first()
            if row is None:
                raise
            return _replay(connection, row, digest, claim.claim_id)
    except exc.OperationalError as error:
        mapped = _map_lock_errors(error)
        if mapped is None:
            raise
        raise mapped from error


def _settle_in_transaction(
    engine: Engine,
    tariffs: TariffBook,
    claim: Claim,
    digest: str,
    actor: Principal,
    lock_wait_ms: int,
    clock: Clock,
) -> Outcome:
    with write_connection(engine) as connection:
        _lock_timeout(connection, lock_wait_ms)
        level, person = _load_parties(connection, claim)
        before = _lock_accumulators(connection, person.person_id, claim.policy_year)
        existing = connection.execute(
            _SETTLED_FOR_CLAIM, {"hospital_id": claim.hospital_id, "claim_id": claim.claim_id}
        ).first()
        if existing is not None:
            return _replay(connection, existing, digest, claim.claim_id)
        result = engine_settle(claim, person, level, before.to_money(), tariffs)
        if isinstance(result, Rejection):
            raise rejection_problem(result)
        now = clock()
        settlement_id = new_settlement_id(now)
        _write_settlement(connection, result, settlement_id, digest, now)
        _write_accumulators(connection, result.accumulators_after_fen, person.person_id)
        _audit(
            connection,
            actor,
            "settle",
            f"{settlement_id} claim {claim.hospital_id}/{claim.claim_id}",
            now,
        )
        connection.commit()
        document = settlement_json(
            result, settlement_id=settlement_id, status="settled",
            settled_at=timestamp(now), reversed_at=None,
        )  # fmt: skip
        return Outcome(document, created=True)


def _write_settlement(
    connection: Connection, result: Settlement, settlement_id: str, digest: str, now: datetime
) -> None:
    connection.execute(
        _INSERT_SETTLEMENT,
        [
            settlement_row_values(
                result, settlement_id=settlement_id, claim_hash=digest, settled_at=now
            )
        ],
    )
    _insert_plain(connection, LINES, line_row_values(settlement_id, result))
    _insert_plain(connection, FUNDS, fund_row_values(settlement_id, result))
    paid = [(step.fund.value, step.fund_code, step.paid_fen) for step in result.funds]
    connection.execute(
        _INSERT_POSTINGS,
        posting_values(settlement_id, result.hospital_id, paid, kind="settle", posted_at=now),
    )


_PLAIN_INSERTS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}


def _insert_plain(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany straight through the driver for rows of plain ints and strings.

    The lines of a bill are the most rows a settlement writes; their values need no type
    conversion, so they skip SQLAlchemy's per-value processing.
    """
    key = (connection.dialect.name, table.name)
    if key not in _PLAIN_INSERTS:
        columns = tuple(rows[0])
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        quoted = ", ".join(f'"{column}"' for column in columns)
        markers = ", ".join(marker for _ in columns)
        _PLAIN_INSERTS[key] = (f"INSERT INTO {table.name} ({quoted}) VALUES ({markers})", columns)
    sql, columns = _PLAIN_INSERTS[key]
    assert tuple(rows[0]) == columns, (tuple(rows[0]), columns)
    connection.exec_driver_sql(sql, [tuple(row[column] for column in columns) for row in rows])


def _write_accumulators(connection: Connection, after: AccumulatorsFen, person_id: str) -> None:
    connection.execute(
        _UPDATE_ACC,
        {
            "key_person_id": person_id,
            "key_year": after.year,
            "admissions": after.admissions,
            "basic_paid_fen": after.basic_paid,
            "ci_base_fen": after.ci_base,
            "ci_paid_fen": after.ci_paid,
            "assistance_paid_fen": after.assistance_paid,
            "charity_paid_fen": after.charity_paid,
        },
    )


def _audit(
    connection: Connection, actor: Principal | str, action: str, subject: str, now: datetime
) -> None:
    who = actor if isinstance(actor, str) else f"key:{actor.key_prefix}"
    connection.execute(
        _INSERT_AUDIT, [{"at": now, "actor": who, "action": action, "subject": subject[:200]}]
    )


def preview_claim(engine: Engine, tariffs: TariffBook, claim_in: ClaimIn) -> dict[str, Any]:
    """The same result as settling, computed on the accumulators as they stand; writes nothing."""
    claim = claim_in.to_engine()
    with read_connection(engine) as connection:
        level, person = _load_parties(connection, claim)
        row = connection.execute(
            _ACC_ROW, {"person_id": person.person_id, "year": claim.policy_year}
        ).first()
        before = accumulators_fen(row, claim.policy_year)
    result = engine_settle(claim, person, level, before.to_money(), tariffs)
    if isinstance(result, Rejection):
        raise rejection_problem(result)
    return settlement_json(
        result, settlement_id=None, status="preview", settled_at=None, reversed_at=None
    )


def get_settlement(engine: Engine, settlement_id: str) -> tuple[Any, dict[str, Any]]:
    """(the settlement's row, its document); 404 when there is none."""
    with read_connection(engine) as connection:
        row = connection.execute(_SETTLEMENT_BY_ID, {"settlement_id": settlement_id}).first()
        if row is None:
            raise not_found("settlement", settlement_id)
        return row, _document(connection, row)


def not_found(what: str, key: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"No {what} {key}.", kind="not-found")


def reverse_settlement(
    engine: Engine,
    settlement_id: str,
    reason: str,
    actor: Principal,
    lock_wait_ms: int,
    clock: Clock = system_clock,
) -> dict[str, Any]:
    try:
        return _reverse_in_transaction(engine, settlement_id, reason, actor, lock_wait_ms, clock)
    except exc.OperationalError as error:
        mapped = _map_lock_errors(error)
        if mapped is None:
            raise
        raise mapped from error


def _reverse_in_transaction(
    engine: Engine,
    settlement_id: str,
    reason: str,
    actor: Principal,
    lock_wait_ms: int,
    clock: Clock,
) -> dict[str, Any]:
    key = {"settlement_id": settlement_id}
    with write_connection(engine) as connection:
        _lock_timeout(connection, lock_wait_ms)
        row = connection.execute(_SETTLEMENT_BY_ID, key).first()
        if row is None:
            raise not_found("settlement", settlement_id)
        authorize_hospital(actor, row.hospital_id)
        # Lock order is always accumulators, then settlement: no two transactions wait in a circle.
        _lock_accumulators(connection, row.person_id, row.policy_year)
        locked = (
            _SETTLEMENT_BY_ID if connection.dialect.name == "sqlite" else _SETTLEMENT_BY_ID_LOCKED
        )
        row = connection.execute(locked, key).one()
        if row.status == "reversed":
            return _document(connection, row)
        now = clock()
        connection.execute(
            update(SETTLEMENT)
            .where(SETTLEMENT.c.settlement_id == settlement_id, SETTLEMENT.c.status == "settled")
            .values(status="reversed", reversed_at=now, reversal_reason=reason)
        )
        funds = sorted(connection.execute(_FUNDS_OF, key).all(), key=lambda fund: fund.position)
        paid = [(fund.fund, fund.fund_code, fund.paid_fen) for fund in funds]
        connection.execute(
            _INSERT_POSTINGS,
            posting_values(settlement_id, row.hospital_id, paid, kind="reversal", posted_at=now),
        )
        _undo_accumulators(connection, row)
        _audit(connection, actor, "reverse", f"{settlement_id}: {reason}", now)
        connection.commit()
        row = connection.execute(_SETTLEMENT_BY_ID, key).one()
        return _document(connection, row)


def _undo_accumulators(connection: Connection, row: Any) -> None:
    """Subtract exactly what the settlement added (rules §9); later settlements stay as they are."""
    connection.execute(
        update(ACC)
        .where(ACC.c.person_id == row.person_id, ACC.c.year == row.policy_year)
        .values(
            admissions=ACC.c.admissions - 1,
            basic_paid_fen=ACC.c.basic_paid_fen - row.basic_insurance_fen,
            ci_base_fen=ACC.c.ci_base_fen - (row.in_scope_fen - row.basic_insurance_fen),
            ci_paid_fen=ACC.c.ci_paid_fen - row.critical_illness_fen,
            assistance_paid_fen=ACC.c.assistance_paid_fen - row.medical_assistance_fen,
            charity_paid_fen=ACC.c.charity_paid_fen - row.charity_fen,
        )
    )


def authorize_hospital(principal: Principal, hospital_id: str) -> None:
    """A hospital key may act only for its own hospital; admin and finance see all."""
    if principal.role == "hospital" and principal.hospital_id != hospital_id:
        raise ApiProblem(
            403,
            "Forbidden",
            f"This key belongs to hospital {principal.hospital_id}, not {hospital_id}.",
            kind="forbidden",
        )


def read_accumulators(engine: Engine, person_id: str, year: int) -> dict[str, Any]:
    with read_connection(engine) as connection:
        if connection.execute(_PERSON, {"person_id": person_id}).first() is None:
            raise not_found("person", person_id)
        row = connection.execute(_ACC_ROW, {"person_id": person_id, "year": year}).first()
        return accumulators_json(accumulators_fen(row, year))
