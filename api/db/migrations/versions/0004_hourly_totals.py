"""hourly totals of what was settled and reversed, per hospital

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:30:00.000000

The totals (3201) added up every settlement of the period; with a province's month stored
that is a million rows a call. `settlement_hour` keeps, per hospital and UTC hour, the count
and sums of what was settled (by settlement time) and of what was reversed (by reversal
time); the service maintains it with each write, and this migration fills it from the
settlements already stored (slot 0).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

AMOUNTS = (
    "total_fen", "basic_insurance_fen", "critical_illness_fen", "medical_assistance_fen",
    "charity_fen", "fund_total_fen", "patient_pay_fen",
)  # fmt: skip


def _hour(column: str) -> str:
    if op.get_bind().dialect.name == "sqlite":
        return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"
    return f"date_trunc('hour', {column}, 'UTC')"


def upgrade() -> None:
    op.create_table(
        "settlement_hour",
        sa.Column("hospital_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hour", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in AMOUNTS),
        sa.PrimaryKeyConstraint("hospital_id", "hour", "kind", "slot"),
    )
    op.create_index("ix_settlement_hour_kind_hour", "settlement_hour", ["kind", "hour"])
    sums = ", ".join(f"sum({name})" for name in AMOUNTS)
    columns = ", ".join(AMOUNTS)
    for kind, when, condition in (
        ("settled", "settled_at", "1 = 1"),
        ("reversed", "reversed_at", "status = 'reversed'"),
    ):
        op.execute(
            f"INSERT INTO settlement_hour (hospital_id, hour, kind, slot, count, {columns}) "
            f"SELECT hospital_id, {_hour(when)}, '{kind}', 0, count(*), {sums} "
            f"FROM settlement WHERE {condition} GROUP BY hospital_id, {_hour(when)}"
        )


def downgrade() -> None:
    op.drop_index("ix_settlement_hour_kind_hour", table_name="settlement_hour")
    op.drop_table("settlement_hour")
