"""partial indexes on reversal times, for the totals' reversed part

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:10:00.000000

Totals (3201) sum what was reversed in a period by reversal time. Without an index on
`reversed_at` that query walked every settlement (of the hospital, or of all hospitals). Only
reversed settlements have a reversal time, so the indexes are partial: a settlement adds
nothing to them until it is reversed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

REVERSED = sa.text("reversed_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.create_index(
            "ix_settlement_reversed_at",
            ["reversed_at"],
            unique=False,
            sqlite_where=REVERSED,
            postgresql_where=REVERSED,
        )
        batch_op.create_index(
            "ix_settlement_hospital_reversed_at",
            ["hospital_id", "reversed_at"],
            unique=False,
            sqlite_where=REVERSED,
            postgresql_where=REVERSED,
        )


def downgrade() -> None:
    with op.batch_alter_table("settlement", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_hospital_reversed_at")
        batch_op.drop_index("ix_settlement_reversed_at")
