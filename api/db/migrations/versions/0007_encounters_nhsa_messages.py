"""encounters and the national platform's messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:40:00.000000

Issue 13: onestop answers the national platform's inpatient interface (INTEROP.md). A stay is
built up as an encounter (2401 admission, 2301/2302 fee lines, 2402 discharge) before it is
settled as a claim; each writing message's answer is kept by hospital and `msgid`, so that a
repeated message answers the same, byte for byte. A fund step keeps the rate it applied where it
has one (basic insurance: the platform's `pool_prop_selfpay`); steps stored before have none
(NULL), which the platform's answer writes as null.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.add_column("settlement_fund", sa.Column("rate_ppm", sa.Integer(), nullable=True))
    op.create_table(
        "encounter",
        sa.Column("mdtrt_id", _text(30), nullable=False),
        sa.Column("hospital_id", _text(64), nullable=False),
        sa.Column("person_id", _text(64), nullable=False),
        sa.Column("insutype", _text(6), nullable=False),
        sa.Column("med_type", _text(6), nullable=False),
        sa.Column("ipt_no", _text(30), nullable=False),
        sa.Column("begntime", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("adm_diag_dscr", sa.Text(), nullable=False),
        sa.Column("filing", _text(16), nullable=True),
        sa.Column("endtime", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("dscg_way", _text(6), nullable=True),
        sa.Column("oprn_oprt_code", _text(30), nullable=True),
        sa.Column("diagnoses", sa.Text(), nullable=False),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospital.hospital_id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.person_id"]),
        sa.PrimaryKeyConstraint("mdtrt_id"),
        sa.UniqueConstraint("hospital_id", "ipt_no", name="uq_encounter_stay"),
    )
    op.create_index(
        "ix_encounter_hospital_person", "encounter", ["hospital_id", "person_id"], unique=False
    )
    op.create_table(
        "encounter_line",
        sa.Column("mdtrt_id", _text(30), nullable=False),
        sa.Column("feedetl_sn", _text(30), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("med_list_codg", _text(50), nullable=False),
        sa.Column("medins_list_codg", _text(150), nullable=False),
        sa.Column("fee_ocur_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cnt", _text(32), nullable=False),
        sa.Column("pric", _text(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("init_feedetl_sn", _text(30), nullable=True),
        sa.Column("uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mdtrt_id"], ["encounter.mdtrt_id"]),
        sa.PrimaryKeyConstraint("mdtrt_id", "feedetl_sn"),
    )
    op.create_table(
        "nhsa_message",
        sa.Column("hospital_id", _text(64), nullable=False),
        sa.Column("msgid", _text(30), nullable=False),
        sa.Column("infno", _text(4), nullable=False),
        sa.Column("body_hash", _text(64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hospital_id", "msgid"),
    )


def downgrade() -> None:
    """Refused while an encounter or a message is kept: revision 0006 has no place for them."""
    connection = op.get_bind()
    kept = sum(
        connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("encounter", "nhsa_message")
    )
    if kept:
        raise RuntimeError(
            f"{kept} encounters or platform messages are kept: revision 0006 cannot hold them; "
            "restore a backup taken before 0007 instead"
        )
    op.drop_table("nhsa_message")
    op.drop_table("encounter_line")
    op.drop_index("ix_encounter_hospital_person", table_name="encounter")
    op.drop_table("encounter")
    op.drop_column("settlement_fund", "rate_ppm")
