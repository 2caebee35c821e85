"""the year's personal burden and who may pay later

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:00:00.000000

Rules sections 15–16. The accumulators gain `patient_paid` (what the person paid of the year's
bills); a settlement records whether its patient may defer their share (先诊疗后付费,
`pay_later_eligible`), the alert threshold of its policy tariff (`burden_threshold_fen`, NULL
when the tariff has none) and whether it crossed it (`burden_crossed`); its stored
`accumulators_after` gains `patient_paid`, which is also the burden it answers.

The stored history fills them exactly, by replaying each person-year's settlements and
reversals in the order they happened (a settlement at its `settled_at`, ordered within one
instant by the admissions count it left, as one group-commit batch settles one person's
claims in turn; a reversal at its `reversed_at`): a settlement adds its `patient_pay`, a
reversal takes it off again. The accumulator is the sum of its settled settlements'
`patient_pay`, which is what that replay leaves. The threshold and the eligibility are read
from the tariffs the service is configured with (`ONESTOP_TARIFF_DIR`, else the shipped
ones), by each settlement's tariff version, its group, its hospital's level and whether it was
in-region: a version those tariffs do not have leaves the settlement with no threshold and not
eligible, as a tariff without those sections would.

Alerts are raised for stored years as the service would have raised them: a person-year whose
`patient_paid` stands at or above the threshold that a settlement still in force crossed.
Receivables, their installments and payments, and temporary-assistance decisions start empty.

Going back drops the columns and the alerts (every figure they hold is derived from what
stays); it is refused while a receivable or a decision is kept, which nothing else can say.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHUNK = 1_000


def upgrade() -> None:
    op.add_column(
        "accumulator",
        sa.Column("patient_paid_fen", sa.BigInteger(), nullable=False, server_default="0"),
    )
    for column, type_, default in (
        ("pay_later_eligible", sa.Boolean(), sa.false()),
        ("burden_crossed", sa.Boolean(), sa.false()),
    ):
        op.add_column(
            "settlement", sa.Column(column, type_, nullable=False, server_default=default)
        )
    op.add_column("settlement", sa.Column("burden_threshold_fen", sa.BigInteger(), nullable=True))
    _create_receivables()
    _create_alerts()
    connection = op.get_bind()
    connection.execute(
        sa.text(
            "UPDATE accumulator SET patient_paid_fen = COALESCE((SELECT sum(s.patient_pay_fen) "
            "FROM settlement s WHERE s.person_id = accumulator.person_id AND s.policy_year = "
            "accumulator.year AND s.status = 'settled'), 0)"
        )
    )
    _fill_settlements(connection)
    if connection.dialect.name != "sqlite":
        # As in 0005: SQLite cannot drop a column default without rebuilding the table.
        op.alter_column("accumulator", "patient_paid_fen", server_default=None)
        op.alter_column("settlement", "pay_later_eligible", server_default=None)
        op.alter_column("settlement", "burden_crossed", server_default=None)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _create_receivables() -> None:
    moment = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "receivable",
        sa.Column("receivable_id", _text(40), nullable=False),
        sa.Column("settlement_id", _text(40), nullable=False),
        sa.Column("hospital_id", _text(64), nullable=False),
        sa.Column("person_id", _text(64), nullable=False),
        sa.Column("policy_year", sa.Integer(), nullable=False),
        sa.Column("discharge_date", sa.Date(), nullable=False),
        sa.Column("paid_at_discharge_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("body_hash", _text(64), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("refund_due_fen", sa.BigInteger(), nullable=True),
        sa.Column("refund_to_fund_fen", sa.BigInteger(), nullable=True),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("cancelled_at", moment(), nullable=True),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.settlement_id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.hospital_id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"]),
        sa.PrimaryKeyConstraint("receivable_id"),
        sa.UniqueConstraint("settlement_id"),
    )
    op.create_index(
        "ix_receivable_hospital", "receivable", ["hospital_id", "discharge_date"], unique=False
    )
    op.create_table(
        "receivable_installment",
        sa.Column("receivable_id", _text(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["receivable_id"], ["receivable.receivable_id"]),
        sa.PrimaryKeyConstraint("receivable_id", "position"),
    )
    op.create_table(
        "receivable_payment",
        sa.Column("receivable_id", _text(40), nullable=False),
        sa.Column("payment_id", _text(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("method", _text(32), nullable=False),
        sa.Column("body_hash", _text(64), nullable=False),
        sa.Column("decision_id", _text(64), nullable=True),
        sa.Column("recorded_at", moment(), nullable=False),
        sa.ForeignKeyConstraint(["receivable_id"], ["receivable.receivable_id"]),
        sa.PrimaryKeyConstraint("receivable_id", "payment_id"),
    )


def _create_alerts() -> None:
    moment = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "burden_alert",
        sa.Column("person_id", _text(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("threshold_fen", sa.BigInteger(), nullable=False),
        sa.Column("settlement_id", _text(40), nullable=False),
        sa.Column("raised_at", moment(), nullable=False),
        sa.Column("withdrawn_at", moment(), nullable=True),
        sa.Column("decision_id", _text(64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"]),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.settlement_id"]),
        sa.PrimaryKeyConstraint("person_id", "year"),
    )
    op.create_index("ix_burden_alert_year_status", "burden_alert", ["year", "status"], unique=False)
    op.create_table(
        "assistance_decision",
        sa.Column("decision_id", _text(64), nullable=False),
        sa.Column("person_id", _text(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("decision", _text(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_to_person_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("body_hash", _text(64), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_at", moment(), nullable=False),
        sa.Column("actor", _text(64), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"]),
        sa.PrimaryKeyConstraint("decision_id"),
    )


def _fill_settlements(connection: sa.Connection) -> None:
    from api.core.config import Settings
    from settlement.engine import pay_later_eligible
    from settlement.model import Group
    from tariffs import load_default, load_tariffs

    tariff_dir = Settings().tariff_dir
    book = (load_default() if tariff_dir is None else load_tariffs(tariff_dir)).book
    levels = dict(connection.execute(sa.text("SELECT hospital_id, level FROM hospital")).all())
    rows = connection.execute(
        sa.text(
            'SELECT settlement_id, person_id, policy_year, hospital_id, tariff_version, "group", '
            "insured_region, treatment_region, patient_pay_fen, settled_at, reversed_at, "
            "accumulators_after FROM settlement"
        )
    ).all()
    by_person_year: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in rows:
        by_person_year[(row.person_id, row.policy_year)].append(row)
    updates = []
    alerts = []
    for (person_id, year), settlements in by_person_year.items():
        crossing = None
        for row, before, after in _replayed(settlements):
            tariff = book.by_version(row.tariff_version)
            threshold = None
            eligible = False
            if tariff is not None:
                if tariff.burden_alert is not None:
                    threshold = tariff.burden_alert.threshold_fen
                group = None if row.group is None else Group(row.group)
                in_region = row.insured_region == row.treatment_region
                level = levels.get(row.hospital_id, 3)
                eligible = pay_later_eligible(tariff, group, level, in_region=in_region)
            stored = orjson.loads(row.accumulators_after)
            stored["patient_paid"] = _yuan(after)
            crossed = threshold is not None and before < threshold <= after
            updates.append(
                {
                    "id": row.settlement_id,
                    "accumulators_after": orjson.dumps(stored).decode(),
                    "eligible": eligible,
                    "threshold": threshold,
                    "crossed": crossed,
                }
            )
            if crossed and row.reversed_at is None:
                crossing = (row, threshold)
        in_force = [row for row in settlements if row.reversed_at is None]
        year_paid = sum(row.patient_pay_fen for row in in_force)
        if crossing is not None and year_paid >= crossing[1]:
            # The year stands at or over the threshold a settlement still in force crossed:
            # its alert is raised (rules §16), as the service would have raised it.
            alerts.append(
                {
                    "person_id": person_id, "year": year, "status": "raised",
                    "threshold_fen": crossing[1], "settlement_id": crossing[0].settlement_id,
                    "raised_at": crossing[0].settled_at,
                }
            )  # fmt: skip
    statement = sa.text(
        "UPDATE settlement SET accumulators_after = :accumulators_after, pay_later_eligible = "
        ":eligible, burden_threshold_fen = :threshold, burden_crossed = :crossed "
        "WHERE settlement_id = :id"
    )
    for start in range(0, len(updates), CHUNK):
        connection.execute(statement, updates[start : start + CHUNK])
    if alerts:
        connection.execute(
            sa.text(
                "INSERT INTO burden_alert (person_id, year, status, threshold_fen, "
                "settlement_id, raised_at) VALUES (:person_id, :year, :status, :threshold_fen, "
                ":settlement_id, :raised_at)"
            ),
            alerts,
        )


def _replayed(settlements: list[Any]) -> list[tuple[Any, int, int]]:
    """Each settlement of one person-year with the year's `patient_paid` before and after it,
    replaying the settlements and reversals in the order they happened."""
    events = []
    for row in settlements:
        admissions = orjson.loads(row.accumulators_after)["admissions"]
        events.append((_moment(row.settled_at), 1, admissions, row))
        if row.reversed_at is not None:
            events.append((_moment(row.reversed_at), 0, 0, row))
    events.sort(key=lambda event: event[:3])
    paid = 0
    replayed = []
    for _, kind, _, row in events:
        if kind == 0:
            paid -= row.patient_pay_fen
            continue
        before = paid
        paid += row.patient_pay_fen
        replayed.append((row, before, paid))
    return replayed


def _moment(value: Any) -> str:
    """A stored time as a sortable text (SQLite hands back text, PostgreSQL a datetime)."""
    return value if isinstance(value, str) else value.isoformat()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def downgrade() -> None:
    """Refused while a receivable is kept: revision 0008 has no place for what is owed."""
    connection = op.get_bind()
    kept = connection.execute(sa.text("SELECT count(*) FROM receivable")).scalar_one()
    decided = connection.execute(sa.text("SELECT count(*) FROM assistance_decision")).scalar_one()
    if kept or decided:
        raise RuntimeError(
            f"{kept} receivables and {decided} assistance decisions are kept: going back below "
            "0009 would lose what patients owe their hospitals and what temporary assistance "
            "granted; export them (GET /v1/receivables?format=csv, GET /v1/alerts?format=csv) "
            "and remove them first"
        )
    for table in (
        "assistance_decision", "burden_alert", "receivable_payment", "receivable_installment",
        "receivable",
    ):  # fmt: skip
        op.drop_table(table)
    rows = connection.execute(
        sa.text("SELECT settlement_id, accumulators_after FROM settlement")
    ).all()
    updates = []
    for row in rows:
        stored = orjson.loads(row.accumulators_after)
        stored.pop("patient_paid", None)
        updates.append({"id": row.settlement_id, "after": orjson.dumps(stored).decode()})
    statement = sa.text(
        "UPDATE settlement SET accumulators_after = :after WHERE settlement_id = :id"
    )
    for start in range(0, len(updates), CHUNK):
        connection.execute(statement, updates[start : start + CHUNK])
    for column in ("burden_crossed", "burden_threshold_fen", "pay_later_eligible"):
        op.drop_column("settlement", column)
    op.drop_column("accumulator", "patient_paid_fen")
