"""what a settlement's claim held, kept to settle it again

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:00:00.000000

Issue 22 (policy simulation, SIMULATION.md): re-settling a recorded year needs each
settlement's claim as the engine read it. The row kept the lines (packed), the dates, the
filing, the group and the regions, but not the claim's diagnoses and surgery, nor the hospital's
level and the person's birth date and gender on the day (the registries may change since).
A settlement now keeps them: `diagnoses` (JSON list), `surgery`, `hospital_level`,
`birth_date`, `gender`.

Stored settlements are filled from what the database holds:
- `hospital_level` from the hospital's row, `birth_date` and `gender` from the person's row:
  exact unless the registry changed them after the settlement (it is what settled it otherwise);
- `diagnoses` and `surgery` of a stay settled through the national platform's interface (2304,
  the claim `claim_id = mdtrt_id`) from its encounter, as 2304 built the claim: exact;
- a claim posted over REST (`POST /v1/settlements`) kept only its hash, so its diagnoses and
  surgery cannot be recovered: they stay NULL, and `onestop simulate` refuses a year holding
  such a settlement, naming how many (it cannot re-settle what it cannot read). Every
  settlement made after this migration keeps them.

An index on (policy_year, insured_region, person_id) finds a year's persons of one region, as
the simulation's partitions read them.

Going back drops the five columns and the index (nothing else reads them).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("diagnoses", "surgery", "hospital_level", "birth_date", "gender")


def upgrade() -> None:
    op.add_column("settlement", sa.Column("diagnoses", sa.Text(), nullable=True))
    op.add_column("settlement", sa.Column("surgery", sa.Boolean(), nullable=True))
    op.add_column("settlement", sa.Column("hospital_level", sa.Integer(), nullable=True))
    op.add_column("settlement", sa.Column("birth_date", sa.Date(), nullable=True))
    op.add_column(
        "settlement",
        sa.Column("gender", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    )
    op.create_index(
        "ix_settlement_year_region_person",
        "settlement",
        ["policy_year", "insured_region", "person_id"],
        unique=False,
    )
    connection = op.get_bind()
    connection.execute(
        sa.text(
            "UPDATE settlement SET hospital_level = (SELECT h.level FROM hospital h "
            "WHERE h.hospital_id = settlement.hospital_id), "
            "birth_date = (SELECT p.birth_date FROM person p "
            "WHERE p.person_id = settlement.person_id), "
            "gender = (SELECT p.gender FROM person p WHERE p.person_id = settlement.person_id)"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE settlement SET diagnoses = (SELECT e.diagnoses FROM encounter e "
            "WHERE e.hospital_id = settlement.hospital_id AND e.mdtrt_id = settlement.claim_id), "
            "surgery = (SELECT e.oprn_oprt_code IS NOT NULL AND e.oprn_oprt_code <> '' "
            "FROM encounter e WHERE e.hospital_id = settlement.hospital_id "
            "AND e.mdtrt_id = settlement.claim_id) "
            "WHERE EXISTS (SELECT 1 FROM encounter e WHERE e.hospital_id = settlement.hospital_id "
            "AND e.mdtrt_id = settlement.claim_id)"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_year_region_person", table_name="settlement")
    for column in reversed(COLUMNS):
        op.drop_column("settlement", column)
