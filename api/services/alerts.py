"""High-burden alerts and temporary assistance (高额医疗费用预警, 临时救助 一事一议; rules §16,
API_CONTRACT.md "after the bill").

A settlement that crosses its tariff's threshold raises its person-year's alert in its own
transaction (`api.db.store.raise_alerts`, group commit included); a reversal that takes the
year below the threshold before a decision withdraws it (`store.withdraw_alert`). Finance
reads the alerts and decides each raised one once: a decline, or a grant paid by the
temporary-assistance fund (`TEMPORARY_ASSISTANCE_CODE`, 999998) first onto the person's open
receivables of that year, unpaid installments ordered by (due date, receivable created, its
id), due or not, then the rest to the person.

A decision locks the person-year's accumulators (so no settlement or reversal of that year
moves under it) and each receivable it pays (so a hospital's payment racing it waits, and
then finds only what is left): a grant never overpays a receivable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, exc, func, insert, select, update

from api.core.access import Principal, require_roles
from api.core.after_bill import DecisionIn
from api.core.contract import mask_id_number
from api.core.deps import AppState
from api.core.problems import ApiProblem, invalid_request, item, not_found
from api.core.spreadsheet import csv_text
from api.db import store
from api.db.engine import commit, read_connection, write_connection
from api.db.rows import timestamp
from api.db.tables import (
    ACCUMULATOR,
    ASSISTANCE_DECISION,
    BURDEN_ALERT,
    PERSON,
    RECEIVABLE,
    SETTLEMENT,
)
from api.services import receivables
from api.services.clearing import TEMPORARY_ASSISTANCE_CODE
from settlement.money import format_fen

# ---------------------------------------------------------------- the list


def list_alerts(
    engine: Engine,
    principal: Principal,
    *,
    year: int | None,
    status: str | None,
    region: str | None,
) -> dict[str, Any]:
    """The alerts, finance and admin only (never a hospital: they name persons across hospitals)."""
    require_roles(principal, "finance", "admin")
    alert = BURDEN_ALERT.c
    query = (
        select(BURDEN_ALERT, PERSON.c.name, PERSON.c.id_number, PERSON.c.insured_region)
        .join(PERSON, PERSON.c.person_id == alert.person_id)
        .order_by(alert.year, alert.person_id)
    )
    if year is not None:
        query = query.where(alert.year == year)
    if status is not None:
        query = query.where(alert.status == status)
    if region is not None:
        query = query.where(PERSON.c.insured_region == region)
    with read_connection(engine) as connection:
        rows = connection.execute(query).all()
        documents = [_alert_document(connection, row) for row in rows]
    return {"alerts": documents}


def _alert_document(connection: Connection, row: Any) -> dict[str, Any]:
    key = {"person_id": row.person_id, "year": row.year}
    paid = connection.execute(
        select(ACCUMULATOR.c.patient_paid_fen).where(
            ACCUMULATOR.c.person_id == row.person_id, ACCUMULATOR.c.year == row.year
        )
    ).scalar()
    in_force = list(
        connection.execute(
            select(SETTLEMENT.c.settlement_id)
            .where(
                SETTLEMENT.c.person_id == row.person_id,
                SETTLEMENT.c.policy_year == row.year,
                SETTLEMENT.c.status == "settled",
            )
            .order_by(SETTLEMENT.c.settled_at, SETTLEMENT.c.settlement_id)
        ).scalars()
    )
    group = connection.execute(
        select(SETTLEMENT.c.group).where(SETTLEMENT.c.settlement_id == row.settlement_id)
    ).scalar()
    open_ids = list(
        connection.execute(
            select(RECEIVABLE.c.receivable_id).where(
                RECEIVABLE.c.person_id == key["person_id"],
                RECEIVABLE.c.policy_year == key["year"],
                RECEIVABLE.c.status == "open",
            )
        ).scalars()
    )
    outstanding = sum(r.outstanding_fen() for r in receivables.load(connection, open_ids).values())
    decision = None
    if row.decision_id is not None:
        decision = decision_document(connection, row.decision_id)
    return {
        "person_id": row.person_id,
        "id_number": mask_id_number(row.id_number),
        "name": row.name,
        "group": group,
        "insured_region": row.insured_region,
        "year": row.year,
        "patient_paid": format_fen(paid or 0),
        "threshold": format_fen(row.threshold_fen),
        "raised_at": timestamp(row.raised_at),
        "settlement_id": row.settlement_id,
        "settlements": in_force,
        "receivables_outstanding": format_fen(outstanding),
        "status": row.status,
        "decision": decision,
    }


ALERTS_HEADER = (
    "person_id", "id_number", "name", "group", "insured_region", "year", "patient_paid",
    "threshold", "raised_at", "settlement_id", "settlements", "receivables_outstanding",
    "status", "decision", "granted", "paid_to_person",
)  # fmt: skip
ALERTS_MONEY = ("patient_paid", "threshold", "receivables_outstanding", "granted", "paid_to_person")


def alerts_table(listed: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [list(ALERTS_HEADER)]
    for alert in listed["alerts"]:
        decision = alert["decision"]
        rows.append(
            [
                *(
                    " ".join(alert[name]) if name == "settlements" else alert[name]
                    for name in ALERTS_HEADER[:13]
                ),
                "" if decision is None else decision["decision"],
                "" if decision is None else decision["amount"],
                "" if decision is None else decision["paid_to_person"],
            ]
        )
    return rows


def alerts_csv(listed: dict[str, Any]) -> str:
    return csv_text(alerts_table(listed))


def alerts_xlsx(listed: dict[str, Any]) -> bytes:
    from api.services.clearing import workbook_bytes

    return workbook_bytes("alerts", alerts_table(listed), ALERTS_MONEY)


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class _Share:
    receivable_id: str
    hospital_id: str
    amount_fen: int


def decide(
    state: AppState, person_id: str, year: int, body: DecisionIn, principal: Principal
) -> tuple[bool, dict[str, Any]]:
    """Record a decision (201), or answer the same decision again (200); another body under the
    same `decision_id` is a conflict (409). Refused with every problem (422)."""
    require_roles(principal, "finance", "admin")
    digest = receivables.body_hash(body)
    try:
        with store.lock_waits_mapped(), write_connection(state.engine) as connection:
            kept = _kept(connection, body.decision_id)
            if kept is not None:
                return _decision_replayed(connection, kept, digest)
            exists = connection.execute(
                select(PERSON.c.person_id).where(PERSON.c.person_id == person_id)
            ).first()
            if exists is None:
                raise not_found("person", person_id)
            paid = store.lock_accumulators(connection, person_id, year).patient_paid
            alert = connection.execute(
                select(BURDEN_ALERT).where(
                    BURDEN_ALERT.c.person_id == person_id, BURDEN_ALERT.c.year == year
                )
            ).first()
            _refuse(alert, body, paid, person_id, year)
            _apply(connection, state, person_id, year, body, digest, principal)
            recorded = decision_document(connection, body.decision_id)
            commit(connection)
            return True, recorded
    except exc.IntegrityError:
        with read_connection(state.engine) as connection:
            kept = _kept(connection, body.decision_id)
            if kept is None:
                raise
            return _decision_replayed(connection, kept, digest)


def _kept(connection: Connection, decision_id: str) -> Any:
    return connection.execute(
        select(ASSISTANCE_DECISION.c.decision_id, ASSISTANCE_DECISION.c.body_hash).where(
            ASSISTANCE_DECISION.c.decision_id == decision_id
        )
    ).first()


def _decision_replayed(
    connection: Connection, kept: Any, digest: str
) -> tuple[bool, dict[str, Any]]:
    if kept.body_hash != digest:
        raise ApiProblem(
            409,
            "Conflict",
            f"Decision {kept.decision_id} is recorded with another body; it stays as it is.",
            kind="conflict",
        )
    return False, decision_document(connection, kept.decision_id)


def _refuse(alert: Any, body: DecisionIn, paid_fen: int, person_id: str, year: int) -> None:
    problems = []
    if alert is None:
        problems.append(item(["path", "year"], f"{person_id} has no alert for {year}", "no_alert"))
    elif alert.status != "raised":
        problems.append(
            item(
                ["path", "year"],
                f"the alert is {alert.status}: only a raised alert can be decided",
                "not_raised",
            )
        )
    if body.decision == "grant":
        if body.amount is None:
            problems.append(item(["body", "amount"], "a grant names its amount", "missing"))
        else:
            amount = receivables.fen_of(body.amount)
            if amount <= 0:
                problems.append(item(["body", "amount"], "must be above 0.00", "not_positive"))
            elif amount > paid_fen:
                problems.append(
                    item(
                        ["body", "amount"],
                        f"{body.amount} is above the year's burden, {format_fen(paid_fen)} paid "
                        f"by the person in {year}",
                        "above_burden",
                    )
                )
    elif body.amount is not None:
        problems.append(item(["body", "amount"], "a decline has no amount", "not_allowed"))
    if problems:
        raise invalid_request(
            f"The decision has {len(problems)} problem(s); nothing was written.", problems
        )


def _apply(
    connection: Connection,
    state: AppState,
    person_id: str,
    year: int,
    body: DecisionIn,
    digest: str,
    principal: Principal,
) -> None:
    now = state.clock()
    today = receivables.business_today(state)
    amount = 0 if body.amount is None else receivables.fen_of(body.amount)
    shares = _shares(connection, person_id, year, amount) if body.decision == "grant" else []
    applied = sum(share.amount_fen for share in shares)
    connection.execute(
        insert(ASSISTANCE_DECISION),
        {
            "decision_id": body.decision_id, "person_id": person_id, "year": year,
            "decision": body.decision, "amount_fen": amount,
            "paid_to_person_fen": amount - applied, "reason": body.reason, "body_hash": digest,
            "decided_on": today, "decided_at": now, "actor": principal.actor,
        },
    )  # fmt: skip
    loaded = receivables.load(connection, [share.receivable_id for share in shares])
    for number, share in enumerate(shares, start=1):
        receivables.pay_by_grant(
            connection, loaded[share.receivable_id], f"{body.decision_id}-{number}",
            share.amount_fen, today, digest, body.decision_id, now,
        )  # fmt: skip
    connection.execute(
        update(BURDEN_ALERT)
        .where(BURDEN_ALERT.c.person_id == person_id, BURDEN_ALERT.c.year == year)
        .values(
            status="granted" if body.decision == "grant" else "declined",
            decision_id=body.decision_id,
        )
    )
    store.audit(
        connection, principal.actor, f"assistance {body.decision}",
        f"{body.decision_id} {person_id}/{year} {format_fen(amount)}", now,
    )  # fmt: skip


def _shares(connection: Connection, person_id: str, year: int, amount_fen: int) -> list[_Share]:
    """What the grant pays of each open receivable of the person-year: unpaid installments in
    (due date, receivable created, receivable id) order, due or not, until the grant is spent.
    Each receivable is locked first, so that a payment racing the grant waits for it."""
    ids = list(
        connection.execute(
            select(RECEIVABLE.c.receivable_id)
            .where(
                RECEIVABLE.c.person_id == person_id,
                RECEIVABLE.c.policy_year == year,
                RECEIVABLE.c.status == "open",
            )
            .order_by(RECEIVABLE.c.receivable_id)
        ).scalars()
    )
    for receivable_id in ids:
        receivables.lock(connection, receivable_id)
    loaded = receivables.load(connection, ids)
    unpaid = []
    for receivable in loaded.values():
        for installment, share in receivables.filled(
            receivable.installments, receivable.paid_fen()
        ):
            if installment.amount_fen > share:
                row = receivable.row
                unpaid.append(
                    (installment.due_date, timestamp(row.created_at), row.receivable_id,
                     installment.amount_fen - share, row.hospital_id)
                )  # fmt: skip
    unpaid.sort(key=lambda entry: entry[:3])
    left = amount_fen
    by_receivable: dict[str, _Share] = {}
    order: list[str] = []
    for _, _, receivable_id, remaining, hospital_id in unpaid:
        if left == 0:
            break
        take = min(left, remaining)
        left -= take
        if receivable_id not in by_receivable:
            order.append(receivable_id)
            by_receivable[receivable_id] = _Share(receivable_id, hospital_id, 0)
        before = by_receivable[receivable_id]
        by_receivable[receivable_id] = _Share(receivable_id, hospital_id, before.amount_fen + take)
    return [by_receivable[receivable_id] for receivable_id in order]


def decision_document(connection: Connection, decision_id: str) -> dict[str, Any]:
    row = connection.execute(
        select(ASSISTANCE_DECISION).where(ASSISTANCE_DECISION.c.decision_id == decision_id)
    ).one()
    payments = receivables.grant_payments(connection, decision_id)
    applications: list[dict[str, Any]] = [
        {
            "to": "receivable", "receivable_id": payment.receivable_id,
            "hospital_id": payment.hospital_id, "payment_id": payment.payment_id,
            "amount": format_fen(payment.amount_fen),
        }
        for payment in payments
    ]  # fmt: skip
    if row.paid_to_person_fen:
        applications.append(
            {"to": "person", "receivable_id": None, "hospital_id": None, "payment_id": None,
             "amount": format_fen(row.paid_to_person_fen)}
        )  # fmt: skip
    return {
        "decision_id": row.decision_id,
        "person_id": row.person_id,
        "year": row.year,
        "decision": row.decision,
        "amount": format_fen(row.amount_fen),
        "reason": row.reason,
        "decided_on": row.decided_on.isoformat(),
        "decided_at": timestamp(row.decided_at),
        "fund_code": TEMPORARY_ASSISTANCE_CODE,
        "applications": applications,
        "paid_to_person": format_fen(row.paid_to_person_fen),
    }


# ---------------------------------------------------------------- ledger verify


def differences(connection: Connection, year: int | None) -> Iterator[tuple[str, Any, Any, str]]:
    """Every alert or decision that disagrees with the accumulators and the payments, as
    (where, expected, found, message). Undecided, a person-year's alert is raised exactly when
    its `patient_paid` is at or above the threshold of its settlements in force (and withdrawn,
    or absent, when below it); a decided one has its decision; a grant is what it applied to
    receivables plus what it paid to the person; a decline paid nothing."""
    thresholds = select(
        SETTLEMENT.c.person_id,
        SETTLEMENT.c.policy_year,
        func.min(SETTLEMENT.c.burden_threshold_fen).label("threshold"),
    ).where(SETTLEMENT.c.status == "settled", SETTLEMENT.c.burden_threshold_fen.is_not(None))
    if year is not None:
        thresholds = thresholds.where(SETTLEMENT.c.policy_year == year)
    thresholds = thresholds.group_by(SETTLEMENT.c.person_id, SETTLEMENT.c.policy_year)  # fmt: skip
    paid = {
        (row.person_id, row.year): row.patient_paid_fen
        for row in connection.execute(
            select(ACCUMULATOR.c.person_id, ACCUMULATOR.c.year, ACCUMULATOR.c.patient_paid_fen)
        )
    }
    alert_query = select(BURDEN_ALERT)
    if year is not None:
        alert_query = alert_query.where(BURDEN_ALERT.c.year == year)
    alerts = {(row.person_id, row.year): row for row in connection.execute(alert_query)}
    for row in connection.execute(thresholds):
        key = (row.person_id, row.policy_year)
        if paid.get(key, 0) >= row.threshold and key not in alerts:
            yield (
                f"alert {key[0]}/{key[1]}", "raised", "none",
                f"patient_paid {paid.get(key, 0)} is at or above the threshold {row.threshold}",
            )  # fmt: skip
    for key, alert in sorted(alerts.items()):
        where = f"alert {key[0]}/{key[1]}"
        year_paid = paid.get(key, 0)
        if alert.status == "raised" and year_paid < alert.threshold_fen:
            yield (
                where,
                "withdrawn",
                "raised",
                f"patient_paid {year_paid} is below {alert.threshold_fen}",
            )
        if alert.status == "withdrawn" and year_paid >= alert.threshold_fen:
            yield (
                where,
                "raised",
                "withdrawn",
                f"patient_paid {year_paid} reaches {alert.threshold_fen}",
            )
        if alert.status in ("granted", "declined"):
            yield from _decision_differences(connection, where, alert)


def _decision_differences(
    connection: Connection, where: str, alert: Any
) -> Iterator[tuple[str, Any, Any, str]]:
    decision = None
    if alert.decision_id is not None:
        decision = connection.execute(
            select(ASSISTANCE_DECISION).where(
                ASSISTANCE_DECISION.c.decision_id == alert.decision_id
            )
        ).first()
    expected = {"granted": "grant", "declined": "decline"}[alert.status]
    if decision is None or decision.decision != expected:
        found = None if decision is None else decision.decision
        yield where, expected, found, f"the alert is {alert.status} without that decision"
        return
    applied = sum(
        payment.amount_fen
        for payment in receivables.grant_payments(connection, decision.decision_id)
    )
    if decision.amount_fen != applied + decision.paid_to_person_fen:
        yield (
            f"decision {decision.decision_id}", decision.amount_fen,
            applied + decision.paid_to_person_fen,
            "the grant ≠ what it applied to receivables + what it paid to the person",
        )  # fmt: skip
    if decision.decision == "decline" and decision.amount_fen:
        yield f"decision {decision.decision_id}", 0, decision.amount_fen, "a decline paid something"
