"""The settlement store: every read and write a settlement or a reversal makes, on a connection
the caller holds in one transaction.

Statements are built once: each execution then reuses its compiled form from the cache, which
matters at a thousand settlements a second (building a select costs more than running it).
Locks: SQLite write transactions began with BEGIN IMMEDIATE (`api.db.engine.writer`), so
the whole database is held; PostgreSQL locks the person's accumulators row with SELECT … FOR
UPDATE under a lock timeout. Lock order is always accumulators, then settlement.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    exc,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.core.problems import LockUnavailable, claim_refused, item
from api.db.rows import (
    ClaimInputs,
    accumulator_row_values,
    accumulators_fen,
    fund_row_values,
    person_to_engine,
    posting_values,
    settlement_contribution,
    settlement_document,
    settlement_from_rows,
    settlement_row_values,
)
from api.db.tables import (
    ACCUMULATOR,
    ACCUMULATOR_COLUMNS,
    AUDIT,
    BURDEN_ALERT,
    FUND_POSTING,
    HOSPITAL,
    HOUR_AMOUNT_COLUMNS,
    PERSON,
    PERSON_STATUS,
    SETTLEMENT,
    SETTLEMENT_FUND,
    SETTLEMENT_HOUR,
)
from settlement.model import AccumulatorsFen
from settlement.model import Person as EnginePerson
from settlement.result import Settlement

_PERSON = select(PERSON.c.person_id).where(PERSON.c.person_id == bindparam("person_id"))
_TREATED_AT = (
    select(SETTLEMENT.c.settlement_id)
    .where(
        SETTLEMENT.c.person_id == bindparam("person_id"),
        SETTLEMENT.c.hospital_id == bindparam("hospital_id"),
    )
    .limit(1)
)
_ACC_ROW = select(ACCUMULATOR).where(
    ACCUMULATOR.c.person_id == bindparam("person_id"), ACCUMULATOR.c.year == bindparam("year")
)
_ACC_NEW = {
    "sqlite": sqlite.insert(ACCUMULATOR).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(ACCUMULATOR).on_conflict_do_nothing(),
}
_ACC_NEW_RETURNING = {
    dialect: statement.returning(ACCUMULATOR.c.person_id, ACCUMULATOR.c.year)
    for dialect, statement in _ACC_NEW.items()
}
_ACC_DELETE = delete(ACCUMULATOR).where(
    ACCUMULATOR.c.person_id == bindparam("person_id"), ACCUMULATOR.c.year == bindparam("year")
)
_ACC_EMPTY = accumulator_row_values(AccumulatorsFen.empty(0))
_SETTLED = SETTLEMENT.c.status == literal_column("'settled'")
"""Written as a literal, not a bound value: PostgreSQL then proves at planning time, even for a
prepared statement's generic plan, that the partial unique index on settled claims applies."""
_SETTLED_FOR_CLAIM = select(SETTLEMENT).where(
    SETTLEMENT.c.hospital_id == bindparam("hospital_id"),
    SETTLEMENT.c.claim_id == bindparam("claim_id"),
    _SETTLED,
)
_SETTLED_FOR_CLAIMS = select(SETTLEMENT).where(
    SETTLEMENT.c.hospital_id.in_(bindparam("hospital_ids", expanding=True)),
    SETTLEMENT.c.claim_id.in_(bindparam("claim_ids", expanding=True)),
    _SETTLED,
)
"""Two lists rather than one of pairs: both databases then probe the (hospital_id, claim_id)
index once per combination, where a list of pairs (`IN (VALUES …)`) has SQLite scan it whole.
The few combinations that are no claim of the batch are dropped by the caller."""
_HOSPITAL_LEVELS = select(HOSPITAL.c.hospital_id, HOSPITAL.c.level, HOSPITAL.c.region).where(
    HOSPITAL.c.hospital_id.in_(bindparam("hospital_ids", expanding=True))
)
_PERSONS = select(
    PERSON.c.person_id, PERSON.c.birth_date, PERSON.c.insured_region, PERSON.c.gender
).where(PERSON.c.person_id.in_(bindparam("person_ids", expanding=True)))
_STATUSES_OF = select(
    PERSON_STATUS.c.person_id,
    PERSON_STATUS.c.group,
    PERSON_STATUS.c.valid_from,
    PERSON_STATUS.c.valid_to,
).where(PERSON_STATUS.c.person_id.in_(bindparam("person_ids", expanding=True)))
_ACC_ROWS = select(ACCUMULATOR).where(
    ACCUMULATOR.c.person_id.in_(bindparam("person_ids", expanding=True)),
    ACCUMULATOR.c.year.in_(bindparam("years", expanding=True)),
)
"""Persons and years as two lists, so that the primary key is probed (see _SETTLED_FOR_CLAIMS)."""
_ACC_ROWS_LOCKED = _ACC_ROWS.order_by(ACCUMULATOR.c.person_id, ACCUMULATOR.c.year).with_for_update()
"""Locked in (person, year) order: two batches lock their rows in one order, never in a circle."""
_SETTLEMENT_BY_ID = select(SETTLEMENT).where(
    SETTLEMENT.c.settlement_id == bindparam("settlement_id")
)
_SETTLEMENT_BY_ID_LOCKED = _SETTLEMENT_BY_ID.with_for_update()
_FUNDS_OF = select(SETTLEMENT_FUND).where(
    SETTLEMENT_FUND.c.settlement_id == bindparam("settlement_id")
)
_INSERT_SETTLEMENT = insert(SETTLEMENT)
_INSERT_POSTINGS = insert(FUND_POSTING)
_INSERT_AUDIT = insert(AUDIT)


def _hour_upsert(statement: Any) -> Any:
    """Add a batch's counts and sums to the hourly totals (a row created when new)."""
    return statement.on_conflict_do_update(
        index_elements=["hospital_id", "hour", "kind", "slot"],
        set_={
            name: SETTLEMENT_HOUR.c[name] + statement.excluded[name]
            for name in ("count", *HOUR_AMOUNT_COLUMNS)
        },
    )


_HOUR_UPSERT = {
    "sqlite": _hour_upsert(sqlite.insert(SETTLEMENT_HOUR)),
    "postgresql": _hour_upsert(postgresql.insert(SETTLEMENT_HOUR)),
}
SLOT = os.getpid()
"""The hourly-totals rows this process adds to: its own, so that two services never wait on
one counter row (the totals add up every slot)."""
_UPDATE_ACC = (
    update(ACCUMULATOR)
    .where(
        ACCUMULATOR.c.person_id == bindparam("key_person_id"),
        ACCUMULATOR.c.year == bindparam("key_year"),
    )
    .values({column: bindparam(column) for column in ACCUMULATOR_COLUMNS.values()})
)


@dataclass(frozen=True, slots=True)
class NewSettlement:
    """A settlement the engine made, with the identity and time the service gave it."""

    result: Settlement
    settlement_id: str
    claim_hash: str
    settled_at: datetime
    inputs: ClaimInputs
    """What the engine read beyond the result (diagnoses, surgery, level, birth date, gender)."""


# ---------------------------------------------------------------- transactions and locks


@contextmanager
def lock_waits_mapped() -> Iterator[None]:
    """A lock wait that ran out (PostgreSQL lock timeout, SQLite busy) raised as LockUnavailable."""
    try:
        yield
    except exc.OperationalError as error:
        original = getattr(error, "orig", None)
        message = str(original)
        if type(original).__name__ in ("LockNotAvailable", "QueryCanceled") or (
            "database is locked" in message
        ):
            raise LockUnavailable(message) from error
        raise


# ---------------------------------------------------------------- parties and accumulators


class Site(NamedTuple):
    """What a claim's settlement reads of its hospital."""

    level: int
    region: str
    """The treatment region (就医地): its tariff's catalog reads the claim's lines."""


def load_parties(
    connection: Connection, hospital_id: str, person_id: str
) -> tuple[Site, EnginePerson]:
    """The hospital's level and region, and the person with their statuses; unknown ones
    refused (422)."""
    return load_parties_many(connection, {hospital_id}, {person_id}).of(hospital_id, person_id)


def _refuse_unknown(hospital_id: str, level: Any, person_id: str, person: Any) -> None:
    """A claim for a hospital or person not registered is refused (422), naming each."""
    errors = []
    if level is None:
        errors.append(
            item(
                ["body", "hospital_id"],
                f"hospital {hospital_id} is not registered",
                "unknown_hospital",
            )
        )
    if person is None:
        errors.append(
            item(["body", "person_id"], f"person {person_id} is not registered", "unknown_person")
        )
    if errors:
        raise claim_refused(errors)


@dataclass(frozen=True, slots=True)
class Parties:
    """The hospitals (level, region) and the persons (with their statuses) of a batch."""

    sites: dict[str, Site]
    persons: dict[str, EnginePerson]

    def of(self, hospital_id: str, person_id: str) -> tuple[Site, EnginePerson]:
        """The claim's hospital and person; unknown ones refused (422) as one by one."""
        site, person = self.sites.get(hospital_id), self.persons.get(person_id)
        _refuse_unknown(hospital_id, site, person_id, person)
        assert site is not None
        assert person is not None
        return site, person


def load_parties_many(
    connection: Connection, hospital_ids: set[str], person_ids: set[str]
) -> Parties:
    """Every hospital's level and every person of a batch, in three statements."""
    sites = {
        row.hospital_id: Site(int(row.level), row.region)
        for row in connection.execute(_HOSPITAL_LEVELS, {"hospital_ids": sorted(hospital_ids)})
    }
    statuses: dict[str, list[Any]] = {}
    for status in connection.execute(_STATUSES_OF, {"person_ids": sorted(person_ids)}):
        statuses.setdefault(status.person_id, []).append(status)
    persons = {
        row.person_id: person_to_engine(row, statuses.get(row.person_id, ()))
        for row in connection.execute(_PERSONS, {"person_ids": sorted(person_ids)})
    }
    return Parties(sites, persons)


def person_exists(connection: Connection, person_id: str) -> bool:
    return connection.execute(_PERSON, {"person_id": person_id}).first() is not None


def person_treated_at(connection: Connection, person_id: str, hospital_id: str) -> bool:
    """Whether the person has a settlement (settled or reversed) at the hospital."""
    found = connection.execute(_TREATED_AT, {"person_id": person_id, "hospital_id": hospital_id})
    return found.first() is not None


def ensure_accumulators(connection: Connection, person_id: str, year: int) -> None:
    """The person's accumulators row for the year, created empty if there is none yet."""
    connection.execute(
        _ACC_NEW[connection.dialect.name], {"person_id": person_id, "year": year, **_ACC_EMPTY}
    )


def lock_accumulators_many(
    connection: Connection, keys: set[tuple[str, int]]
) -> tuple[dict[tuple[str, int], AccumulatorsFen], set[tuple[str, int]]]:
    """The accumulators of every (person, year), locked in key order, and the keys whose rows
    this call created (a batch removes those it ends up not using: `drop_unused_accumulators`)."""
    ordered = sorted(keys)
    created = connection.execute(
        _ACC_NEW_RETURNING[connection.dialect.name],
        [{"person_id": person_id, "year": year, **_ACC_EMPTY} for person_id, year in ordered],
    )
    new = {(row.person_id, row.year) for row in created}
    query = _ACC_ROWS if connection.dialect.name == "sqlite" else _ACC_ROWS_LOCKED
    lists = {
        "person_ids": sorted({person_id for person_id, _ in keys}),
        "years": sorted({year for _, year in keys}),
    }
    found = {
        (row.person_id, row.year): accumulators_fen(row, row.year)
        for row in connection.execute(query, lists)
        if (row.person_id, row.year) in keys
    }
    assert set(found) == keys, (found, keys)
    return found, new


def drop_unused_accumulators(connection: Connection, keys: set[tuple[str, int]]) -> None:
    """Remove accumulator rows this transaction created but wrote no settlement to, so that a
    refused claim leaves nothing behind, as it does when it is settled alone."""
    if keys:
        connection.execute(
            _ACC_DELETE,
            [{"person_id": person_id, "year": year} for person_id, year in sorted(keys)],
        )


def write_accumulators(connection: Connection, person_id: str, after: AccumulatorsFen) -> None:
    """Set the person's (existing) accumulators row of `after.year` to `after`."""
    write_accumulators_many(connection, {(person_id, after.year): after})


def write_accumulators_many(
    connection: Connection, accumulators: dict[tuple[str, int], AccumulatorsFen]
) -> None:
    """Set each (existing) accumulators row to its figures, in one statement."""
    connection.execute(
        _UPDATE_ACC,
        [
            {"key_person_id": person_id, "key_year": after.year, **accumulator_row_values(after)}
            for (person_id, _), after in sorted(accumulators.items())
        ],
    )


def lock_accumulators(connection: Connection, person_id: str, year: int) -> AccumulatorsFen:
    """The person's accumulators for the year, locked for this transaction (created if new)."""
    return lock_accumulators_many(connection, {(person_id, year)})[0][(person_id, year)]


def read_accumulators(connection: Connection, person_id: str, year: int) -> AccumulatorsFen:
    """The accumulators as they stand, unlocked (the empty year when there is no row)."""
    row = connection.execute(_ACC_ROW, {"person_id": person_id, "year": year}).first()
    return accumulators_fen(row, year)


def undo_accumulators(connection: Connection, row: Any) -> None:
    """Subtract exactly what the settlement added (rules §9); later settlements stay as they are."""
    acc = ACCUMULATOR.c
    values = {
        column: acc[column] - amount for column, amount in settlement_contribution(row).items()
    }
    # An accumulator added to the engine and not undone here would drift on every reversal.
    assert set(values) == set(ACCUMULATOR_COLUMNS.values()), values
    connection.execute(
        update(ACCUMULATOR)
        .where(acc.person_id == row.person_id, acc.year == row.policy_year)
        .values(values)
    )


# ---------------------------------------------------------------- settlements


def settled_for_claim(connection: Connection, hospital_id: str, claim_id: str) -> Any:
    """The settled (not reversed) settlement of a hospital's claim id, or None."""
    return connection.execute(
        _SETTLED_FOR_CLAIM, {"hospital_id": hospital_id, "claim_id": claim_id}
    ).first()


def settled_for_claims(
    connection: Connection, claims: set[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The settled settlements of these (hospital, claim id) pairs, by pair."""
    lists = {
        "hospital_ids": sorted({hospital_id for hospital_id, _ in claims}),
        "claim_ids": sorted({claim_id for _, claim_id in claims}),
    }
    rows = connection.execute(_SETTLED_FOR_CLAIMS, lists)
    return {
        (row.hospital_id, row.claim_id): row
        for row in rows
        if (row.hospital_id, row.claim_id) in claims
    }


def settlement_row(connection: Connection, settlement_id: str, *, locked: bool = False) -> Any:
    """The settlement's row, or None; `locked` takes its row lock (PostgreSQL)."""
    query = (
        _SETTLEMENT_BY_ID_LOCKED
        if locked and connection.dialect.name != "sqlite"
        else _SETTLEMENT_BY_ID
    )
    return connection.execute(query, {"settlement_id": settlement_id}).first()


def stored_document(connection: Connection, row: Any) -> dict[str, Any]:
    """The stored settlement as the contract's document, checked for conservation again."""
    return settlement_document(row, stored_settlement(connection, row))


def stored_settlement(connection: Connection, row: Any) -> Settlement:
    """The engine's settlement rebuilt from its row and fund rows (with the Chinese text they
    were stored with), checked for conservation again."""
    funds = connection.execute(_FUNDS_OF, {"settlement_id": row.settlement_id}).all()
    return settlement_from_rows(row, funds)


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, the statements inside sent in one pipeline (psycopg's pipeline mode):
    writes whose results nothing reads cost one round trip together instead of one each. A
    statement whose result is read (a `RETURNING`) waits for what was sent before it. An
    error is raised when the pipeline ends, as the `DBAPIError` SQLAlchemy would have raised.
    SQLite has no round trips: the statements run as they come."""
    if connection.dialect.name == "sqlite":
        yield
        return
    dbapi_connection: Any = connection.connection.dbapi_connection
    try:
        with dbapi_connection.pipeline():
            yield
    except exc.DBAPIError:
        raise
    except dbapi_connection.Error as error:
        # An error the pipeline's sync received (a unique index, a lost connection) comes out
        # of psycopg bare; said as SQLAlchemy says the same error of a statement run alone,
        # so that the callers' handling (a duplicate settled again alone, 503) is the same.
        raise exc.DBAPIError.instance(
            None, None, error, type(dbapi_connection).Error, dialect=connection.dialect
        ) from error


def write_settlements(connection: Connection, settlements: Sequence[NewSettlement]) -> None:
    """Insert settlements (their lines packed in the row), fund steps and 'settle' postings:
    the one write.

    The service writes one per transaction; the load tests' prefill writes thousands.
    """
    rows, funds, postings = [], [], []
    for new in settlements:
        result = new.result
        rows.append(
            settlement_row_values(
                result,
                settlement_id=new.settlement_id,
                claim_hash=new.claim_hash,
                settled_at=new.settled_at,
                inputs=new.inputs,
            )
        )
        funds += fund_row_values(new.settlement_id, result)
        paid = [(step.fund.value, step.fund_code, step.paid_fen) for step in result.funds]
        postings += posting_values(
            new.settlement_id,
            result.hospital_id,
            (result.insured_region, result.treatment_region),
            paid,
            kind="settle",
            posted_at=new.settled_at,
        )
    connection.execute(_INSERT_SETTLEMENT, rows)
    _insert_plain(connection, SETTLEMENT_FUND, funds)
    connection.execute(_INSERT_POSTINGS, postings)
    count_hours(
        connection, "settled", ((row["hospital_id"], row["settled_at"], row) for row in rows)
    )


def raise_alerts(connection: Connection, settlements: Sequence[NewSettlement]) -> None:
    """In the settlements' transaction, after `write_settlements` (and outside a pipeline: it
    reads): the alert of each person-year a settlement crossed is raised (rules §16); one
    withdrawn is raised again; one decided stays decided (a decision is final). Nothing is
    read when no settlement crossed, as almost none does."""
    crossing = [new for new in settlements if new.result.burden.crossed]
    if not crossing:
        return
    keys = {(new.result.person_id, new.result.policy_year) for new in crossing}
    alert = BURDEN_ALERT.c
    existing = {
        (row.person_id, row.year): row.status
        for row in connection.execute(
            select(alert.person_id, alert.year, alert.status).where(
                tuple_(alert.person_id, alert.year).in_(sorted(keys))
            )
        )
    }
    inserts: dict[tuple[str, int], dict[str, Any]] = {}
    raised_again: dict[tuple[str, int], dict[str, Any]] = {}
    for new in crossing:  # in settling order: a later crossing of a person-year names itself
        key = (new.result.person_id, new.result.policy_year)
        values = {
            "status": "raised",
            "threshold_fen": new.result.burden.threshold_fen,
            "settlement_id": new.settlement_id,
            "raised_at": new.settled_at,
            "withdrawn_at": None,
        }
        status = existing.get(key)
        if status is None:
            inserts[key] = {"person_id": key[0], "year": key[1], "decision_id": None, **values}
        elif status == "withdrawn":
            raised_again[key] = {"key_person": key[0], "key_year": key[1], **values}
    # One statement each, whatever the batch's size (a batch's statements do not grow with it).
    if inserts:
        connection.execute(insert(BURDEN_ALERT), list(inserts.values()))
    if raised_again:
        connection.execute(
            update(BURDEN_ALERT)
            .where(alert.person_id == bindparam("key_person"), alert.year == bindparam("key_year"))
            .values({name: bindparam(name) for name in (
                "status", "threshold_fen", "settlement_id", "raised_at", "withdrawn_at")}),
            list(raised_again.values()),
        )  # fmt: skip


def withdraw_alert(connection: Connection, person_id: str, year: int, now: datetime) -> None:
    """In a reversal's transaction, after the accumulators are undone: a raised alert of the
    person-year is withdrawn when the year's `patient_paid` is now below its threshold."""
    alert = BURDEN_ALERT.c
    row = connection.execute(
        select(alert.status, alert.threshold_fen).where(
            alert.person_id == person_id, alert.year == year
        )
    ).first()
    if row is None or row.status != "raised":
        return
    paid = connection.execute(
        select(ACCUMULATOR.c.patient_paid_fen).where(
            ACCUMULATOR.c.person_id == person_id, ACCUMULATOR.c.year == year
        )
    ).scalar()
    if (paid or 0) < row.threshold_fen:
        connection.execute(
            update(BURDEN_ALERT)
            .where(alert.person_id == person_id, alert.year == year)
            .values(status="withdrawn", withdrawn_at=now)
        )


def mark_reversed(connection: Connection, row: Any, reason: str, now: datetime) -> None:
    """Mark a settled settlement reversed and append its negated postings."""
    connection.execute(
        update(SETTLEMENT)
        .where(SETTLEMENT.c.settlement_id == row.settlement_id, SETTLEMENT.c.status == "settled")
        .values(status="reversed", reversed_at=now, reversal_reason=reason)
    )
    key = {"settlement_id": row.settlement_id}
    funds = sorted(connection.execute(_FUNDS_OF, key).all(), key=lambda fund: fund.position)
    paid = [(fund.fund, fund.fund_code, fund.paid_fen) for fund in funds]
    connection.execute(
        _INSERT_POSTINGS,
        posting_values(
            row.settlement_id,
            row.hospital_id,
            (row.insured_region, row.treatment_region),
            paid,
            kind="reversal",
            posted_at=now,
        ),
    )
    count_hours(connection, "reversed", [(row.hospital_id, now, row._mapping)])


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (its hourly-totals row)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count_hours(
    connection: Connection, kind: str, settlements: Iterable[tuple[str, datetime, Any]]
) -> None:
    """Add settlements (hospital, time, amounts by column) to the hourly totals of `kind`,
    one row a hospital and hour, in key order (no two writers wait on each other in a circle)."""
    sums: dict[tuple[str, datetime], list[int]] = {}
    for hospital_id, moment, amounts in settlements:
        row = sums.setdefault((hospital_id, hour_of(moment)), [0] * (1 + len(HOUR_AMOUNT_COLUMNS)))
        row[0] += 1
        for index, name in enumerate(HOUR_AMOUNT_COLUMNS, start=1):
            row[index] += amounts[name]
    connection.execute(
        _HOUR_UPSERT[connection.dialect.name],
        [
            {
                "hospital_id": hospital_id, "hour": hour, "kind": kind, "slot": SLOT,
                "count": figures[0], **dict(zip(HOUR_AMOUNT_COLUMNS, figures[1:], strict=True)),
            }
            for (hospital_id, hour), figures in sorted(sums.items())
        ],
    )  # fmt: skip


_PLAIN_INSERTS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}


def _insert_plain(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany straight through the driver for rows of plain ints and strings.

    The fund steps are the most rows a settlement writes; their values need no type
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


# ---------------------------------------------------------------- audit


def audit(
    connection: Connection | Session, actor: str, action: str, subject: str, now: datetime
) -> None:
    """Who (`key:<prefix>`, 'cli' or 'demo') did what to what, and when: every write leaves one."""
    audit_all(connection, [(actor, action, subject, now)])


def audit_all(
    connection: Connection | Session, records: Sequence[tuple[str, str, str, datetime]]
) -> None:
    """Audit records (actor, action, subject, time) written in one statement."""
    rows = [
        {"at": now, "actor": actor, "action": action, "subject": subject[:200]}
        for actor, action, subject, now in records
    ]
    if isinstance(connection, Connection) and connection.dialect.name == "postgresql":
        # Through the driver: SQLAlchemy would ask for the new id of a single record back
        # (RETURNING), which nothing reads and which would end a pipeline (`pipelined`).
        _insert_plain(connection, AUDIT, rows)
        return
    connection.execute(_INSERT_AUDIT, rows)
