"""the owner of an encounter's seal

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:30:00.000000

Issue 19, section 2: a 2304 seals its encounter's lines while it settles them, and until now
anyone could lift the seal (a 2305 naming an old, reversed settlement of the encounter did), so
a line added meanwhile was answered infcode 0 and never settled. The seal now has an owner: a
random token of the 2304 that set it (`sealed_by`), and only that 2304 lifts it. A seal kept
before this migration has no owner (NULL): no 2304 lifts it, and it lapses after SEAL_SECONDS
as the seal of a 2304 that never came back does.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "encounter",
        sa.Column("sealed_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    )


def downgrade() -> None:
    """The owner goes; a seal kept stays and lapses as before (0007 lifted seals by anyone)."""
    op.drop_column("encounter", "sealed_by")
