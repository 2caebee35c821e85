"""Receivables of patients who pay later (先诊疗后付费, rules §15; API_CONTRACT.md "after the
bill"): the plan a hospital agrees with a patient, the payments it records, their aging, and
their cancellation when the settlement is reversed.

A receivable is the settlement's `patient_pay` less what was paid at discharge, in
installments. Which installment a payment paid is never stored: the payments' sum fills the
installments earliest due first (`filled`), so that a payment, a grant applied by temporary
assistance, and a point-in-time reading (payments up to a day) all read the same way.

Every refusal lists every problem of the request and writes nothing. Two payments racing for
the last fen of a receivable both wait on its row (PostgreSQL `FOR UPDATE`; SQLite's one
writer), and the second finds nothing left to pay.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, Engine, exc, insert, select, update

from api.core.access import Principal, authorize_hospital
from api.core.after_bill import AGING_BUCKETS, PAYMENT_METHODS, PaymentIn, ReceivableIn
from api.core.clock import Clock
from api.core.deps import AppState
from api.core.problems import ApiProblem, invalid_request, item, not_found
from api.core.spreadsheet import csv_text
from api.db import store
from api.db.engine import commit, read_connection, write_connection
from api.db.rows import timestamp
from api.db.tables import RECEIVABLE, RECEIVABLE_INSTALLMENT, RECEIVABLE_PAYMENT, SETTLEMENT
from settlement.money import format_fen, money, money_to_fen
from settlement.tariff import TariffBook

TEMPORARY_ASSISTANCE = "temporary_assistance"


def fen_of(text: str) -> int:
    """A contract money text (two decimals, checked by its pattern) in fen."""
    return money_to_fen(money(text))


def body_hash(body: Any) -> str:
    """SHA-256 of a request body's canonical JSON: the same body, the same hash."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def add_months(day: date, months: int) -> date:
    """`day` that many calendar months later, clamped to the end of a shorter month
    (31 Jan + 1 month = 28 or 29 Feb)."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def business_today(state: AppState) -> date:
    return state.clock().astimezone(ZoneInfo(state.settings.business_timezone)).date()


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Receivable:
    """A receivable's row with its installments (in due order) and payments."""

    row: Any
    installments: tuple[Any, ...]
    payments: tuple[Any, ...]

    def paid_fen(self, as_of: date | None = None) -> int:
        paid: int = sum(p.amount_fen for p in self.payments if as_of is None or p.paid_on <= as_of)
        return paid

    def outstanding_fen(self, as_of: date | None = None) -> int:
        principal: int = self.row.principal_fen
        return principal - self.paid_fen(as_of)

    def cancelled(self, as_of: date | None, zone: ZoneInfo) -> bool:
        if self.row.status != "cancelled":
            return False
        if as_of is None:
            return True
        return _on_day(self.row.cancelled_at, zone) <= as_of


def _on_day(moment: datetime, zone: ZoneInfo) -> date:
    """The business day of a stored moment (SQLite hands back naive datetimes, stored as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def filled(installments: Iterable[Any], paid_fen: int) -> list[tuple[Any, int]]:
    """Each installment with what the payments paid of it: their sum fills the installments
    earliest due first."""
    filled = []
    left = paid_fen
    for installment in installments:
        share = min(left, installment.amount_fen)
        left -= share
        filled.append((installment, share))
    return filled


def load(connection: Connection, receivable_ids: list[str]) -> dict[str, Receivable]:
    """The receivables of these ids, each with its installments and payments."""
    if not receivable_ids:
        return {}
    rows = connection.execute(
        select(RECEIVABLE).where(RECEIVABLE.c.receivable_id.in_(receivable_ids))
    ).all()
    installments: dict[str, list[Any]] = {row.receivable_id: [] for row in rows}
    payments: dict[str, list[Any]] = {row.receivable_id: [] for row in rows}
    for installment in connection.execute(
        select(RECEIVABLE_INSTALLMENT)
        .where(RECEIVABLE_INSTALLMENT.c.receivable_id.in_(receivable_ids))
        .order_by(RECEIVABLE_INSTALLMENT.c.receivable_id, RECEIVABLE_INSTALLMENT.c.position)
    ):
        installments[installment.receivable_id].append(installment)
    for payment in connection.execute(
        select(RECEIVABLE_PAYMENT)
        .where(RECEIVABLE_PAYMENT.c.receivable_id.in_(receivable_ids))
        .order_by(
            RECEIVABLE_PAYMENT.c.receivable_id,
            RECEIVABLE_PAYMENT.c.paid_on,
            RECEIVABLE_PAYMENT.c.recorded_at,
            RECEIVABLE_PAYMENT.c.payment_id,
        )
    ):
        payments[payment.receivable_id].append(payment)
    return {
        row.receivable_id: Receivable(
            row, tuple(installments[row.receivable_id]), tuple(payments[row.receivable_id])
        )
        for row in rows
    }


def document(
    receivable: Receivable, as_of: date | None = None, zone: ZoneInfo | None = None
) -> dict[str, Any]:
    """The contract's receivable, as it stands (or as of a day: payments made by then)."""
    row = receivable.row
    payments = [p for p in receivable.payments if as_of is None or p.paid_on <= as_of]
    paid = sum(p.amount_fen for p in payments)
    outstanding = row.principal_fen - paid
    cancelled = receivable.cancelled(as_of, zone or ZoneInfo("UTC"))
    status = "cancelled" if cancelled else ("paid" if outstanding == 0 else "open")
    return {
        "receivable_id": row.receivable_id,
        "settlement_id": row.settlement_id,
        "hospital_id": row.hospital_id,
        "person_id": row.person_id,
        "policy_year": row.policy_year,
        "discharge_date": row.discharge_date.isoformat(),
        "principal": format_fen(row.principal_fen),
        "paid_at_discharge": format_fen(row.paid_at_discharge_fen),
        "installments": [
            {
                "due_date": installment.due_date.isoformat(),
                "amount": format_fen(installment.amount_fen),
                "paid": format_fen(share),
                "outstanding": format_fen(installment.amount_fen - share),
            }
            for installment, share in filled(receivable.installments, paid)
        ],
        "payments": [
            {
                "payment_id": p.payment_id,
                "amount": format_fen(p.amount_fen),
                "paid_on": p.paid_on.isoformat(),
                "method": p.method,
                "recorded_at": timestamp(p.recorded_at),
                "decision_id": p.decision_id,
            }
            for p in payments
        ],
        "outstanding": format_fen(outstanding),
        "status": status,
        "refund_due": format_fen(row.refund_due_fen if cancelled and row.refund_due_fen else 0),
        "refund_to_fund": format_fen(
            row.refund_to_fund_fen if cancelled and row.refund_to_fund_fen else 0
        ),
        "created_at": timestamp(row.created_at),
        "cancelled_at": timestamp(row.cancelled_at) if cancelled else None,
    }


def get_receivable(state: AppState, receivable_id: str, principal: Principal) -> dict[str, Any]:
    with read_connection(state.engine) as connection:
        found = load(connection, [receivable_id]).get(receivable_id)
    if found is None:
        raise not_found("receivable", receivable_id)
    authorize_hospital(principal, found.row.hospital_id)
    return document(found)


def receivable_of_settlement(engine: Engine, settlement_id: str | None) -> dict[str, Any] | None:
    """The receivable of a settlement (for its slip), or None."""
    if settlement_id is None:
        return None
    with read_connection(engine) as connection:
        receivable_id = connection.execute(
            select(RECEIVABLE.c.receivable_id).where(RECEIVABLE.c.settlement_id == settlement_id)
        ).scalar()
        if receivable_id is None:
            return None
        return document(load(connection, [receivable_id])[receivable_id])


# ---------------------------------------------------------------- the agreement


def create_receivable(
    engine: Engine,
    tariffs: TariffBook,
    clock: Clock,
    settlement_id: str,
    body: ReceivableIn,
    principal: Principal,
) -> tuple[bool, dict[str, Any]]:
    """Record the plan (201), or answer the same plan again (200); another plan for the same
    settlement is a conflict (409). Refused with every problem (422)."""
    digest = body_hash(body)
    try:
        with store.lock_waits_mapped(), write_connection(engine) as connection:
            settlement = store.settlement_row(connection, settlement_id, locked=True)
            if settlement is None:
                raise not_found("settlement", settlement_id)
            authorize_hospital(principal, settlement.hospital_id)
            existing = _plan_of(connection, settlement_id)
            if existing is not None:
                return _replayed(connection, existing, digest, "settlement", settlement_id)
            _refuse_plan(tariffs, settlement, body)
            receivable_id = _write_plan(connection, clock, settlement, body, digest, principal)
            recorded = document(load(connection, [receivable_id])[receivable_id])
            commit(connection)
            return True, recorded
    except exc.IntegrityError:
        # A concurrent copy committed first (the unique settlement_id): a replay or a conflict.
        with read_connection(engine) as connection:
            existing = _plan_of(connection, settlement_id)
            if existing is None:
                raise
            return _replayed(connection, existing, digest, "settlement", settlement_id)


def _plan_of(connection: Connection, settlement_id: str) -> Any:
    """The receivable recorded for a settlement (its id and body hash), or None."""
    return connection.execute(
        select(RECEIVABLE.c.receivable_id, RECEIVABLE.c.body_hash).where(
            RECEIVABLE.c.settlement_id == settlement_id
        )
    ).first()


def _replayed(
    connection: Connection, existing: Any, digest: str, what: str, key: str
) -> tuple[bool, dict[str, Any]]:
    if existing.body_hash != digest:
        raise ApiProblem(
            409,
            "Conflict",
            f"The {what} {key} has a receivable recorded with another body "
            f"({existing.receivable_id}); it stays as it is.",
            kind="conflict",
        )
    return False, document(load(connection, [existing.receivable_id])[existing.receivable_id])


def _refuse_plan(tariffs: TariffBook, settlement: Any, body: ReceivableIn) -> None:
    """Every problem of the plan (API_CONTRACT.md's edge rules), or nothing."""
    tariff = tariffs.by_version(settlement.tariff_version)
    policy = None if tariff is None else tariff.pay_later
    problems = _settlement_problems(settlement, policy is not None)
    problems += _amount_problems(settlement.patient_pay_fen, body)
    problems += _date_problems(settlement, policy, [i.due_date for i in body.installments])
    if problems:
        raise invalid_request(
            f"The plan has {len(problems)} problem(s); nothing was written.", problems
        )


def _settlement_problems(settlement: Any, has_policy: bool) -> list[dict[str, Any]]:
    problems = []
    if settlement.status != "settled":
        problems.append(item(["path", "settlement_id"], "the settlement is reversed", "reversed"))
    if not settlement.pay_later_eligible or not has_policy:
        problems.append(
            item(
                ["path", "settlement_id"],
                "the settlement's patient may not pay later (rules §15: the group, the "
                "hospital's level or a cross-region stay)",
                "not_eligible",
            )
        )
    if settlement.patient_pay_fen == 0:
        problems.append(
            item(
                ["path", "settlement_id"], "the patient pays 0.00: nothing is owed", "nothing_owed"
            )
        )
    return problems


def _amount_problems(patient_pay: int, body: ReceivableIn) -> list[dict[str, Any]]:
    problems = []
    at_discharge = fen_of(body.paid_at_discharge)
    if not 0 <= at_discharge < patient_pay:
        problems.append(
            item(
                ["body", "paid_at_discharge"],
                f"{body.paid_at_discharge} is not at least 0.00 and below the patient's share "
                f"{format_fen(patient_pay)} (at least one installment is left)",
                "out_of_range",
            )
        )
    amounts = [fen_of(installment.amount) for installment in body.installments]
    problems += [
        item(["body", "installments", index, "amount"], "must be above 0.00", "not_positive")
        for index, amount in enumerate(amounts)
        if amount <= 0
    ]
    if sum(amounts) != patient_pay - at_discharge:
        problems.append(
            item(
                ["body", "installments"],
                f"the installments add up to {format_fen(sum(amounts))}, not the "
                f"{format_fen(patient_pay - at_discharge)} owed (patient pay "
                f"{format_fen(patient_pay)} − paid at discharge {body.paid_at_discharge})",
                "sum_mismatch",
            )
        )
    return problems


def _date_problems(settlement: Any, policy: Any, days: list[date]) -> list[dict[str, Any]]:
    problems = [
        item(
            ["body", "installments", index, "due_date"],
            f"{days[index]} is not after the installment before it ({days[index - 1]})",
            "not_increasing",
        )
        for index in range(1, len(days))
        if days[index] <= days[index - 1]
    ]
    discharge = settlement.discharge_date
    if days[0] < discharge:
        problems.append(
            item(
                ["body", "installments", 0, "due_date"],
                f"{days[0]} is before the discharge date {discharge}",
                "before_discharge",
            )
        )
    if policy is None:
        return problems
    last_allowed = add_months(discharge, policy.months_max)
    if days[-1] > last_allowed:
        problems.append(
            item(
                ["body", "installments", len(days) - 1, "due_date"],
                f"{days[-1]} is more than {policy.months_max} months after the discharge date "
                f"{discharge} (at most {last_allowed})",
                "too_late",
            )
        )
    if len(days) > policy.installments_max:
        problems.append(
            item(
                ["body", "installments"],
                f"{len(days)} installments; tariff {settlement.tariff_version} allows "
                f"{policy.installments_max} at most",
                "too_many",
            )
        )
    return problems


def _write_plan(
    connection: Connection,
    clock: Clock,
    settlement: Any,
    body: ReceivableIn,
    digest: str,
    principal: Principal,
) -> str:
    now = clock()
    receivable_id = f"RV{now:%Y%m%d}{secrets.token_hex(8).upper()}"
    at_discharge = fen_of(body.paid_at_discharge)
    connection.execute(
        insert(RECEIVABLE),
        {
            "receivable_id": receivable_id,
            "settlement_id": settlement.settlement_id,
            "hospital_id": settlement.hospital_id,
            "person_id": settlement.person_id,
            "policy_year": settlement.policy_year,
            "discharge_date": settlement.discharge_date,
            "paid_at_discharge_fen": at_discharge,
            "principal_fen": settlement.patient_pay_fen - at_discharge,
            "body_hash": digest,
            "status": "open",
            "refund_due_fen": None,
            "refund_to_fund_fen": None,
            "created_at": now,
            "cancelled_at": None,
        },
    )
    connection.execute(
        insert(RECEIVABLE_INSTALLMENT),
        [
            {
                "receivable_id": receivable_id,
                "position": position,
                "due_date": installment.due_date,
                "amount_fen": fen_of(installment.amount),
            }
            for position, installment in enumerate(body.installments)
        ],
    )
    store.audit(
        connection, principal.actor, "receivable",
        f"{receivable_id} for {settlement.settlement_id}", now,
    )  # fmt: skip
    return receivable_id


# ---------------------------------------------------------------- payments


def record_payment(
    state: AppState, receivable_id: str, body: PaymentIn, principal: Principal
) -> tuple[bool, dict[str, Any]]:
    """Record a payment (201), or answer the same payment again (200); another body under the
    same `payment_id` is a conflict (409). Refused with every problem (422)."""
    digest = body_hash(body)
    try:
        with store.lock_waits_mapped(), write_connection(state.engine) as connection:
            row = lock(connection, receivable_id)
            if row is None:
                raise not_found("receivable", receivable_id)
            authorize_hospital(principal, row.hospital_id)
            kept = _payment_of(connection, receivable_id, body.payment_id)
            if kept is not None:
                return _payment_replayed(connection, receivable_id, body.payment_id, kept, digest)
            receivable = load(connection, [receivable_id])[receivable_id]
            _refuse_payment(state, receivable, body)
            now = state.clock()
            amount = fen_of(body.amount)
            _pay(connection, receivable, body.payment_id, amount, body.paid_on, body.method,
                 digest, None, now)  # fmt: skip
            store.audit(
                connection, principal.actor, "payment",
                f"{body.payment_id} {body.amount} on {receivable_id}", now,
            )  # fmt: skip
            recorded = document(load(connection, [receivable_id])[receivable_id])
            commit(connection)
            return True, recorded
    except exc.IntegrityError:
        with read_connection(state.engine) as connection:
            kept = _payment_of(connection, receivable_id, body.payment_id)
            if kept is None:
                raise
            return _payment_replayed(connection, receivable_id, body.payment_id, kept, digest)


def _payment_of(connection: Connection, receivable_id: str, payment_id: str) -> Any:
    """The body hash a payment was recorded with, or None."""
    return connection.execute(
        select(RECEIVABLE_PAYMENT.c.body_hash).where(
            RECEIVABLE_PAYMENT.c.receivable_id == receivable_id,
            RECEIVABLE_PAYMENT.c.payment_id == payment_id,
        )
    ).first()


def lock(connection: Connection, receivable_id: str) -> Any:
    """The receivable's row, locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite's
    write transaction holds the whole database)."""
    query = select(RECEIVABLE).where(RECEIVABLE.c.receivable_id == receivable_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query).first()


def _payment_replayed(
    connection: Connection, receivable_id: str, payment_id: str, kept: Any, digest: str
) -> tuple[bool, dict[str, Any]]:
    if kept.body_hash != digest:
        raise ApiProblem(
            409,
            "Conflict",
            f"Payment {payment_id} of receivable {receivable_id} is recorded with another body; "
            "it stays as it is.",
            kind="conflict",
        )
    return False, document(load(connection, [receivable_id])[receivable_id])


def _refuse_payment(state: AppState, receivable: Receivable, body: PaymentIn) -> None:
    problems = []
    row = receivable.row
    if row.status != "open":
        problems.append(
            item(["path", "receivable_id"], f"the receivable is {row.status}, not open", "not_open")
        )
    if body.method == TEMPORARY_ASSISTANCE:
        problems.append(
            item(
                ["body", "method"],
                "temporary_assistance is paid by a grant (POST /v1/alerts/…/decision), never "
                f"recorded here; use one of {', '.join(PAYMENT_METHODS)}",
                "grant_only",
            )
        )
    amount = fen_of(body.amount)
    outstanding = receivable.outstanding_fen()
    if amount <= 0:
        problems.append(item(["body", "amount"], "must be above 0.00", "not_positive"))
    elif amount > outstanding:
        problems.append(
            item(
                ["body", "amount"],
                f"{body.amount} is above what is outstanding, {format_fen(outstanding)}",
                "above_outstanding",
            )
        )
    if body.paid_on < row.discharge_date:
        problems.append(
            item(
                ["body", "paid_on"],
                f"{body.paid_on} is before the discharge date {row.discharge_date}",
                "before_discharge",
            )
        )
    today = business_today(state)
    if body.paid_on > today:
        problems.append(
            item(["body", "paid_on"], f"{body.paid_on} is after today ({today})", "in_the_future")
        )
    if problems:
        raise invalid_request(
            f"The payment has {len(problems)} problem(s); nothing was written.", problems
        )


def _pay(
    connection: Connection,
    receivable: Receivable,
    payment_id: str,
    amount_fen: int,
    paid_on: date,
    method: str,
    digest: str,
    decision_id: str | None,
    now: datetime,
) -> None:
    """Write one payment; a receivable it pays off becomes `paid`."""
    connection.execute(
        insert(RECEIVABLE_PAYMENT),
        {
            "receivable_id": receivable.row.receivable_id,
            "payment_id": payment_id,
            "amount_fen": amount_fen,
            "paid_on": paid_on,
            "method": method,
            "body_hash": digest,
            "decision_id": decision_id,
            "recorded_at": now,
        },
    )
    if receivable.outstanding_fen() == amount_fen:
        connection.execute(
            update(RECEIVABLE)
            .where(RECEIVABLE.c.receivable_id == receivable.row.receivable_id)
            .values(status="paid")
        )


def pay_by_grant(
    connection: Connection,
    receivable: Receivable,
    payment_id: str,
    amount_fen: int,
    paid_on: date,
    digest: str,
    decision_id: str,
    now: datetime,
) -> None:
    """A temporary-assistance grant's payment on a receivable it has locked (api.services.alerts)."""
    assert 0 < amount_fen <= receivable.outstanding_fen(), (amount_fen, receivable.row)
    _pay(connection, receivable, payment_id, amount_fen, paid_on, TEMPORARY_ASSISTANCE, digest,
         decision_id, now)  # fmt: skip


def grant_payments(connection: Connection, decision_id: str) -> list[Any]:
    """The payments a grant made, in the order it made them, each with its hospital."""
    payment = RECEIVABLE_PAYMENT.c
    rows = connection.execute(
        select(
            payment.receivable_id, payment.payment_id, payment.amount_fen,
            RECEIVABLE.c.hospital_id,
        )
        .join(RECEIVABLE, RECEIVABLE.c.receivable_id == payment.receivable_id)
        .where(payment.decision_id == decision_id)
    ).all()  # fmt: skip
    return sorted(rows, key=lambda row: int(row.payment_id.rsplit("-", 1)[1]))


# ---------------------------------------------------------------- reversal


def cancel_for_reversal(connection: Connection, settlement_id: str, now: datetime) -> None:
    """In the reversal's transaction: the settlement's receivable, if any, is cancelled; what
    the patient paid (at discharge and since) is due back to them, what temporary assistance
    paid is due back to its fund."""
    query = select(RECEIVABLE.c.receivable_id).where(RECEIVABLE.c.settlement_id == settlement_id)
    receivable_id = connection.execute(query).scalar()
    if receivable_id is None:
        return
    # Locked before its payments are read: a payment racing the reversal either commits first
    # (and is refunded) or waits and then finds the receivable cancelled.
    lock(connection, receivable_id)
    receivable = load(connection, [receivable_id])[receivable_id]
    if receivable.row.status == "cancelled":
        return
    by_fund = sum(p.amount_fen for p in receivable.payments if p.method == TEMPORARY_ASSISTANCE)
    by_patient = receivable.paid_fen() - by_fund
    connection.execute(
        update(RECEIVABLE)
        .where(RECEIVABLE.c.receivable_id == receivable_id)
        .values(
            status="cancelled",
            refund_due_fen=receivable.row.paid_at_discharge_fen + by_patient,
            refund_to_fund_fen=by_fund,
            cancelled_at=now,
        )
    )


# ---------------------------------------------------------------- the list and its aging


def _bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1_30"
    if days_overdue <= 90:
        return "31_90"
    if days_overdue <= 180:
        return "91_180"
    return "over_180"


def list_receivables(
    engine: Engine,
    zone_name: str,
    principal: Principal,
    *,
    hospital_id: str | None,
    status: str | None,
    as_of: date,
) -> dict[str, Any]:
    """The receivables of settlements discharged on or before `as_of`, each as of that day,
    and per hospital the outstanding amount aged by each unpaid installment's due date
    (cancelled ones are not aged). A hospital sees its own only."""
    zone = ZoneInfo(zone_name)
    day = as_of
    query = select(RECEIVABLE.c.receivable_id).where(RECEIVABLE.c.discharge_date <= day)
    if principal.role == "hospital":
        query = query.where(RECEIVABLE.c.hospital_id == principal.hospital_id)
    if hospital_id is not None:
        query = query.where(RECEIVABLE.c.hospital_id == hospital_id)
    with read_connection(engine) as connection:
        ids = list(connection.execute(query.order_by(RECEIVABLE.c.receivable_id)).scalars())
        loaded = load(connection, ids)
    documents = []
    aging: dict[str, dict[str, int]] = {}
    for receivable_id in ids:
        receivable = loaded[receivable_id]
        answer = document(receivable, day, zone)
        if status is not None and answer["status"] != status:
            continue
        documents.append(answer)
        hospital = aging.setdefault(
            receivable.row.hospital_id,
            {"receivables": 0, "outstanding": 0, **dict.fromkeys(AGING_BUCKETS, 0)},
        )
        hospital["receivables"] += 1
        if answer["status"] == "cancelled":
            continue
        paid = receivable.paid_fen(day)
        for installment, share in filled(receivable.installments, paid):
            left = installment.amount_fen - share
            if left:
                hospital[_bucket((day - installment.due_date).days)] += left
                hospital["outstanding"] += left
    return {
        "as_of": day.isoformat(),
        "receivables": documents,
        "aging": [
            {
                "hospital_id": hospital_id_,
                "receivables": figures["receivables"],
                "outstanding": format_fen(figures["outstanding"]),
                **{bucket: format_fen(figures[bucket]) for bucket in AGING_BUCKETS},
            }
            for hospital_id_, figures in sorted(aging.items())
        ],
    }


RECEIVABLES_HEADER = (
    "receivable_id", "settlement_id", "hospital_id", "person_id", "discharge_date",
    "principal", "paid_at_discharge", "paid", "outstanding", "status", "refund_due",
)  # fmt: skip
RECEIVABLES_MONEY = ("principal", "paid_at_discharge", "paid", "outstanding", "refund_due")
AGING_HEADER = ("hospital_id", "receivables", "outstanding", *AGING_BUCKETS)


def _receivable_rows(listed: dict[str, Any]) -> list[list[Any]]:
    """The header, then one row a receivable as of the day (what was paid by then included)."""
    rows: list[list[Any]] = [list(RECEIVABLES_HEADER)]
    for answer in listed["receivables"]:
        paid = fen_of(answer["principal"]) - fen_of(answer["outstanding"])
        rows.append(
            [*(answer[name] for name in RECEIVABLES_HEADER[:7]), format_fen(paid),
             *(answer[name] for name in RECEIVABLES_HEADER[8:])]
        )  # fmt: skip
    return rows


def receivables_table(listed: dict[str, Any]) -> list[list[Any]]:
    """The receivables as of the day, one row each, then the aging per hospital."""
    rows = _receivable_rows(listed)
    rows.append([])
    rows.append([f"aging as of {listed['as_of']}", *[""] * (len(AGING_HEADER) - 1)])
    rows.append(list(AGING_HEADER))
    rows.extend([[row[name] for name in AGING_HEADER] for row in listed["aging"]])
    return rows


def receivables_csv(listed: dict[str, Any]) -> str:
    return csv_text(receivables_table(listed))


def receivables_xlsx(listed: dict[str, Any]) -> bytes:
    from api.services.clearing import workbook_bytes

    table = _receivable_rows(listed)
    return workbook_bytes(f"receivables {listed['as_of']}", table, RECEIVABLES_MONEY)


# ---------------------------------------------------------------- ledger verify


def differences(connection: Connection, year: int | None) -> Iterator[tuple[str, Any, Any, str]]:
    """Every receivable that disagrees with itself or its settlement, as (where, expected,
    found, message): installments add up to the principal, the principal is the settlement's
    patient pay less what was paid at discharge, payments never exceed it, the status says
    what the figures say (cancelled exactly when the settlement is reversed; otherwise paid
    exactly at 0.00 outstanding), and a cancelled one's refunds are what was paid."""
    query = select(RECEIVABLE.c.receivable_id).order_by(RECEIVABLE.c.receivable_id)
    if year is not None:
        query = query.where(RECEIVABLE.c.policy_year == year)
    ids = list(connection.execute(query).scalars())
    for start in range(0, len(ids), 500):
        loaded = load(connection, ids[start : start + 500])
        settlements = {
            row.settlement_id: row
            for row in connection.execute(
                select(
                    SETTLEMENT.c.settlement_id, SETTLEMENT.c.status, SETTLEMENT.c.patient_pay_fen
                ).where(
                    SETTLEMENT.c.settlement_id.in_([r.row.settlement_id for r in loaded.values()])
                )
            )
        }
        for receivable in loaded.values():
            yield from _receivable_differences(
                receivable, settlements[receivable.row.settlement_id]
            )


def _receivable_differences(
    receivable: Receivable, settlement: Any
) -> Iterator[tuple[str, Any, Any, str]]:
    row = receivable.row
    where = f"receivable {row.receivable_id}"
    installments = sum(i.amount_fen for i in receivable.installments)
    if installments != row.principal_fen:
        yield (
            where,
            row.principal_fen,
            installments,
            "the installments do not add up to the principal",
        )
    principal = settlement.patient_pay_fen - row.paid_at_discharge_fen
    if row.principal_fen != principal:
        yield where, principal, row.principal_fen, "principal ≠ patient pay − paid at discharge"
    paid = receivable.paid_fen()
    if paid > row.principal_fen:
        yield where, row.principal_fen, paid, "the payments exceed the principal"
    reversed_ = settlement.status == "reversed"
    expected = "cancelled" if reversed_ else ("paid" if paid == row.principal_fen else "open")
    if row.status != expected:
        yield where, expected, row.status, "the status is not what the settlement and payments say"
    if row.status == "cancelled":
        by_fund = sum(p.amount_fen for p in receivable.payments if p.method == TEMPORARY_ASSISTANCE)
        due = row.paid_at_discharge_fen + paid - by_fund
        if (row.refund_due_fen, row.refund_to_fund_fen) != (due, by_fund):
            yield (
                where, f"{due}/{by_fund}", f"{row.refund_due_fen}/{row.refund_to_fund_fen}",
                "the refunds are not what the patient and the fund paid",
            )  # fmt: skip
