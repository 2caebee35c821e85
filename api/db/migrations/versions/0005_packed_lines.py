"""the bill's lines packed in the settlement row

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:10:00.000000

A settlement wrote one `settlement_line` row per line: thirty inserts for a thirty-line bill,
the most rows of any write, though only the settlement itself ever reads them back. They now
live in `settlement.lines`, a JSON array with one array per line in the claim's order:
line_no, item_code, item_name, item_class, quantity, unit_price, then the ten amounts in fen
(`api.db.tables.PACKED_LINE_FIELDS`). This migration packs every stored settlement's lines
exactly so, then drops `settlement_line`; the downgrade unpacks them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DESCRIPTIVE = ("line_no", "item_code", "item_name", "item_class", "quantity", "unit_price")
AMOUNTS = (
    "amount_fen", "full_selfpay_fen", "over_cap_selfpay_fen", "first_selfpay_fen",
    "in_scope_fen", "basic_insurance_fen", "critical_illness_fen", "medical_assistance_fen",
    "charity_fen", "patient_pay_fen",
)  # fmt: skip
CHUNK = 1_000
"""Settlements packed (or unpacked) per statement: memory stays at one chunk."""

_settlement = sa.table("settlement", sa.column("settlement_id"), sa.column("lines"))


def _line_columns() -> list[Any]:
    return [
        sa.Column("settlement_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("item_class", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column("quantity", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("unit_price", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in AMOUNTS),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.settlement_id"]),
        sa.PrimaryKeyConstraint("settlement_id", "line_no"),
    ]


def _chunks(connection: sa.Connection) -> Iterator[list[str]]:
    """Every settlement id, CHUNK at a time, in key order (keyset pages, no offset)."""
    last = ""
    while True:
        ids = list(
            connection.execute(
                sa.select(_settlement.c.settlement_id)
                .where(_settlement.c.settlement_id > last)
                .order_by(_settlement.c.settlement_id)
                .limit(CHUNK)
            ).scalars()
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def upgrade() -> None:
    # NOT NULL needs a default for the rows already there; every one is packed below.
    op.add_column("settlement", sa.Column("lines", sa.Text(), nullable=False, server_default="[]"))
    connection = op.get_bind()
    lines = sa.table(
        "settlement_line",
        *(sa.column(name) for name in ("settlement_id", "position", *DESCRIPTIVE, *AMOUNTS)),
    )
    columns = [lines.c[name] for name in (*DESCRIPTIVE, *AMOUNTS)]
    for ids in _chunks(connection):
        packed: dict[str, list[tuple[Any, ...]]] = {settlement_id: [] for settlement_id in ids}
        rows = connection.execute(
            sa.select(lines.c.settlement_id, *columns)
            .where(lines.c.settlement_id.in_(ids))
            .order_by(lines.c.settlement_id, lines.c.position)
        )
        for settlement_id, *values in rows:
            packed[settlement_id].append(tuple(values))
        connection.execute(
            sa.update(_settlement)
            .where(_settlement.c.settlement_id == sa.bindparam("key"))
            .values(lines=sa.bindparam("packed")),
            [
                {"key": settlement_id, "packed": orjson.dumps(values).decode()}
                for settlement_id, values in packed.items()
            ],
        )
    if connection.dialect.name != "sqlite":
        # SQLite cannot drop a column default without rebuilding the table, which the tables
        # that reference settlements make unsafe; there the unused default stays.
        op.alter_column("settlement", "lines", server_default=None)
    op.drop_table("settlement_line")


def downgrade() -> None:
    connection = op.get_bind()
    lines = op.create_table("settlement_line", *_line_columns())
    for ids in _chunks(connection):
        stored = connection.execute(
            sa.select(_settlement.c.settlement_id, _settlement.c.lines).where(
                _settlement.c.settlement_id.in_(ids)
            )
        )
        rows = [
            {
                "settlement_id": settlement_id,
                "position": position,
                **dict(zip((*DESCRIPTIVE, *AMOUNTS), values, strict=True)),
            }
            for settlement_id, packed in stored
            for position, values in enumerate(orjson.loads(packed))
        ]
        if rows:
            connection.execute(sa.insert(lines), rows)
    op.drop_column("settlement", "lines")
