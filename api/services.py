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
from sqlalchemy import Engine, exc, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from api.contract import ClaimIn, settlement_json
from api.convert import (
    accumulators_fen,
    accumulators_to_engine,
    fund_row_values,
    line_row_values,
    person_to_engine,
    posting_values,
    settlement_document,
    settlement_from_rows,
    settlement_row_values,
)
from api.db import LockUnavailable, is_sqlite, read_session, write_session
from api.models import (
    AccumulatorRow,
    Hospital,
    Person,
    PersonStatus,
    SettlementFundRow,
    SettlementLineRow,
    SettlementRow,
)
from api.problems import ApiProblem, rejection_problem
from api.security import Principal
from settlement.engine import settle as engine_settle
from settlement.model import AccumulatorsFen, Claim
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


def _lock_timeout(session: Session, engine: Engine, lock_wait_ms: int) -> None:
    if not is_sqlite(engine):
        session.execute(_text(f"SET LOCAL lock_timeout = '{int(lock_wait_ms)}ms'"))


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def _unknown(errors: list[dict[str, Any]]) -> ApiProblem:
    return ApiProblem(
        422,
        "Claim refused",
        f"The claim has {len(errors)} problem(s); nothing was settled.",
        kind="claim-refused",
        errors=errors,
    )


def _load_parties(session: Session, claim: Claim) -> tuple[Hospital, Person, list[PersonStatus]]:
    hospital = session.get(Hospital, claim.hospital_id)
    person = session.get(Person, claim.person_id)
    errors = []
    if hospital is None:
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
    assert hospital is not None
    assert person is not None
    statuses = list(
        session.scalars(select(PersonStatus).where(col(PersonStatus.person_id) == person.person_id))
    )
    return hospital, person, statuses


def _lock_accumulators(
    session: Session, engine: Engine, person_id: str, year: int
) -> AccumulatorsFen:
    """The person's accumulators for the year, locked for this transaction (created if new)."""
    dialect_insert = sqlite.insert if is_sqlite(engine) else postgresql.insert
    session.execute(
        dialect_insert(ACC)
        .values(
            person_id=person_id,
            year=year,
            admissions=0,
            basic_paid_fen=0,
            ci_base_fen=0,
            ci_paid_fen=0,
            assistance_paid_fen=0,
            charity_paid_fen=0,
        )
        .on_conflict_do_nothing()
    )
    query = select(AccumulatorRow).where(
        col(AccumulatorRow.person_id) == person_id,
        col(AccumulatorRow.year) == year,
    )
    if not is_sqlite(engine):
        query = query.with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one()
    return accumulators_fen(row, year)


def _settled_for_claim(session: Session, hospital_id: str, claim_id: str) -> SettlementRow | None:
    return session.scalars(
        select(SettlementRow).where(
            col(SettlementRow.hospital_id) == hospital_id,
            col(SettlementRow.claim_id) == claim_id,
            col(SettlementRow.status) == "settled",
        )
    ).first()


def _replay(session: Session, row: SettlementRow, digest: str, claim_id: str) -> Outcome:
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
    return Outcome(_document(session, row), created=False)


def _document(session: Session, row: SettlementRow) -> dict[str, Any]:
    lines = list(
        session.scalars(
            select(SettlementLineRow).where(
                col(SettlementLineRow.settlement_id) == row.settlement_id
            )
        )
    )
    funds = list(
        session.scalars(
            select(SettlementFundRow).where(
                col(SettlementFundRow.settlement_id) == row.settlement_id
            )
        )
    )
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
        with read_session(engine) as session:
            row = _settled_for_claim(session, claim.hospital_id, claim.claim_id)
            if row is None:
                raise
            return _replay(session, row, digest, claim.claim_id)
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
    with write_session(engine) as session:
        _lock_timeout(session, engine, lock_wait_ms)
        hospital, person, statuses = _load_parties(session, claim)
        before = _lock_accumulators(session, engine, person.person_id, claim.policy_year)
        existing = _settled_for_claim(session, claim.hospital_id, claim.claim_id)
        if existing is not None:
            return _replay(session, existing, digest, claim.claim_id)
        result = engine_settle(
            claim, person_to_engine(person, statuses), hospital.level,
            accumulators_to_engine(before), tariffs,
        )  # fmt: skip
        if isinstance(result, Rejection):
            raise rejection_problem(result)
        now = clock()
        settlement_id = new_settlement_id(now)
        _write_settlement(session, result, settlement_id, digest, now)
        _write_accumulators(session, result.accumulators_after_fen, person.person_id)
        _audit(
            session,
            actor,
            "settle",
            f"{settlement_id} claim {claim.hospital_id}/{claim.claim_id}",
            now,
        )
        session.commit()
        document = settlement_json(
            result, settlement_id=settlement_id, status="settled",
            settled_at=_timestamp(now), reversed_at=None,
        )  # fmt: skip
        return Outcome(document, created=True)


def _timestamp(moment: datetime) -> str:
    from api.convert import timestamp

    return timestamp(moment)


def _write_settlement(
    session: Session, result: Settlement, settlement_id: str, digest: str, now: datetime
) -> None:
    session.execute(
        insert(SETTLEMENT),
        [
            settlement_row_values(
                result, settlement_id=settlement_id, claim_hash=digest, settled_at=now
            )
        ],
    )
    session.execute(insert(LINES), line_row_values(settlement_id, result))
    session.execute(insert(FUNDS), fund_row_values(settlement_id, result))
    paid = [(step.fund.value, step.fund_code, step.paid_fen) for step in result.funds]
    session.execute(
        insert(POSTINGS),
        posting_values(settlement_id, result.hospital_id, paid, kind="settle", posted_at=now),
    )


def _write_accumulators(session: Session, after: AccumulatorsFen, person_id: str) -> None:
    session.execute(
        update(ACC)
        .where(ACC.c.person_id == person_id, ACC.c.year == after.year)
        .values(
            admissions=after.admissions,
            basic_paid_fen=after.basic_paid,
            ci_base_fen=after.ci_base,
            ci_paid_fen=after.ci_paid,
            assistance_paid_fen=after.assistance_paid,
            charity_paid_fen=after.charity_paid,
        )
    )


def _audit(
    session: Session, actor: Principal | str, action: str, subject: str, now: datetime
) -> None:
    who = actor if isinstance(actor, str) else f"key:{actor.key_prefix}"
    session.execute(
        insert(AUDIT),
        [{"at": now, "actor": who, "action": action, "subject": subject[:200]}],
    )


def preview_claim(engine: Engine, tariffs: TariffBook, claim_in: ClaimIn) -> dict[str, Any]:
    """The same result as settling, computed on the accumulators as they stand; writes nothing."""
    claim = claim_in.to_engine()
    with read_session(engine) as session:
        hospital, person, statuses = _load_parties(session, claim)
        row = session.get(AccumulatorRow, (person.person_id, claim.policy_year))
        before = accumulators_fen(row, claim.policy_year)
    result = engine_settle(
        claim, person_to_engine(person, statuses), hospital.level,
        accumulators_to_engine(before), tariffs,
    )  # fmt: skip
    if isinstance(result, Rejection):
        raise rejection_problem(result)
    return settlement_json(
        result, settlement_id=None, status="preview", settled_at=None, reversed_at=None
    )


def get_settlement(engine: Engine, settlement_id: str) -> tuple[SettlementRow, dict[str, Any]]:
    with read_session(engine) as session:
        row = session.get(SettlementRow, settlement_id)
        if row is None:
            raise not_found("settlement", settlement_id)
        return row, _document(session, row)


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
    with write_session(engine) as session:
        _lock_timeout(session, engine, lock_wait_ms)
        row = session.get(SettlementRow, settlement_id)
        if row is None:
            raise not_found("settlement", settlement_id)
        authorize_hospital(actor, row.hospital_id)
        # Lock order is always accumulators, then settlement: no two transactions wait in a circle.
        _lock_accumulators(session, engine, row.person_id, row.policy_year)
        query = select(SettlementRow).where(col(SettlementRow.settlement_id) == settlement_id)
        if not is_sqlite(engine):
            query = query.with_for_update()
        row = session.scalars(query.execution_options(populate_existing=True)).one()
        if row.status == "reversed":
            return _document(session, row)
        now = clock()
        session.execute(
            update(SETTLEMENT)
            .where(SETTLEMENT.c.settlement_id == settlement_id, SETTLEMENT.c.status == "settled")
            .values(status="reversed", reversed_at=now, reversal_reason=reason)
        )
        funds = list(
            session.scalars(
                select(SettlementFundRow).where(
                    col(SettlementFundRow.settlement_id) == settlement_id
                )
            )
        )
        paid = [
            (fund.fund, fund.fund_code, fund.paid_fen)
            for fund in sorted(funds, key=lambda f: f.position)
        ]
        session.execute(
            insert(POSTINGS),
            posting_values(settlement_id, row.hospital_id, paid, kind="reversal", posted_at=now),
        )
        _undo_accumulators(session, row)
        _audit(session, actor, "reverse", f"{settlement_id}: {reason}", now)
        session.commit()
        row = session.get(SettlementRow, settlement_id, populate_existing=True)
        assert row is not None
        return _document(session, row)


def _undo_accumulators(session: Session, row: SettlementRow) -> None:
    """Subtract exactly what the settlement added (rules §9); later settlements stay as they are."""
    session.execute(
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
    from api.contract import accumulators_json

    with read_session(engine) as session:
        if session.get(Person, person_id) is None:
            raise not_found("person", person_id)
        row = session.get(AccumulatorRow, (person_id, year))
        return accumulators_json(accumulators_fen(row, year))
