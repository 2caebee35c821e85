"""cross-region claims, the health poverty fund and rule-check findings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:40:00.000000

Rules sections 12–14. A settlement now records its insured and treatment regions, its filing,
the catalog tariff that read its lines, the rule checks' findings, and two more amounts:
refused self-pay (违规自付) and the fifth fund, the health poverty fund (健康扶贫基金). Fund
steps keep their Chinese explanation for the printed slip; postings name both regions so that
finance can clear what each insured region owes each treatment region; accumulators and the
hourly totals gain the fifth fund.

Every settlement stored before this migration was settled in-region under its person's tariff
with no rule data and four funds, so its natural values are exact, not guesses: both regions
are its tariff version's region (a version starts with its region code, `tariffs.schema`),
no filing, the catalog version its tariff version, no findings, refused self-pay and health
fund 0.00. Amounts already stored are not touched, so `ledger verify` finds what it found
before. Packed lines are read with the two appended amounts as zero (`api.db.rows`); a step
stored before has no Chinese text (NULL) and the slip shows its stored text.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HEALTH_FUND_CODE = "610103"
_REGION = sqlmodel.sql.sqltypes.AutoString(length=6)
_NEW_NOT_NULL = (
    # (table, column, type, default for the rows already there)
    ("settlement", "refused_selfpay_fen", sa.BigInteger(), "0"),
    ("settlement", "health_fund_fen", sa.BigInteger(), "0"),
    ("settlement", "insured_region", _REGION, ""),
    ("settlement", "treatment_region", _REGION, ""),
    ("settlement", "catalog_version", sqlmodel.sql.sqltypes.AutoString(length=64), ""),
    ("settlement", "findings", sa.Text(), "[]"),
    ("fund_posting", "insured_region", _REGION, ""),
    ("fund_posting", "treatment_region", _REGION, ""),
    ("settlement_hour", "health_fund_fen", sa.BigInteger(), "0"),
    ("accumulator", "health_paid_fen", sa.BigInteger(), "0"),
)


def upgrade() -> None:
    for table, column, type_, default in _NEW_NOT_NULL:
        op.add_column(table, sa.Column(column, type_, nullable=False, server_default=default))
    op.add_column(
        "settlement",
        sa.Column("filing", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    )
    op.add_column("settlement_fund", sa.Column("explanation_zh", sa.Text(), nullable=True))
    connection = op.get_bind()
    region = "substr(tariff_version, 1, 6)"
    connection.execute(
        sa.text(
            f"UPDATE settlement SET insured_region = {region}, treatment_region = {region}, "
            "catalog_version = tariff_version"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE fund_posting SET insured_region = (SELECT s.insured_region FROM settlement s "
            "WHERE s.settlement_id = fund_posting.settlement_id), treatment_region = (SELECT "
            "s.treatment_region FROM settlement s WHERE s.settlement_id = "
            "fund_posting.settlement_id)"
        )
    )
    # `funds` always lists five funds: the fifth, paying 0.00, for every settlement stored
    # before, with its zero postings (one 'settle', and one 'reversal' where reversed) so that
    # each fund row has the postings `ledger verify` asks of it. Its base is what the four
    # funds left of the in-scope amount, as the engine's health-fund step has it. 610103 is
    # the fund code every shipped tariff gives it (DEFAULT_TARIFF.md).
    connection.execute(
        sa.text(
            "INSERT INTO settlement_fund (settlement_id, position, fund, fund_code, base_fen, "
            "payable_fen, cap_remaining_fen, paid_fen, explanation, explanation_zh) "
            "SELECT settlement_id, 4, 'health_fund', :code, in_scope_fen - fund_total_fen, 0, "
            "NULL, 0, '[\"no health fund under tariff ' || tariff_version || ': pays 0.00\"]', "
            "'[\"政策 ' || tariff_version || ' 未设健康扶贫基金：支付 0.00\"]' FROM settlement"
        ),
        {"code": HEALTH_FUND_CODE},
    )
    for kind, moment, where in (
        ("settle", "settled_at", ""),
        ("reversal", "reversed_at", " WHERE status = 'reversed'"),
    ):
        connection.execute(
            sa.text(
                "INSERT INTO fund_posting (settlement_id, hospital_id, insured_region, "
                "treatment_region, fund, fund_code, kind, amount_fen, posted_at) "
                "SELECT settlement_id, hospital_id, insured_region, treatment_region, "
                f"'health_fund', :code, '{kind}', 0, {moment} FROM settlement{where}"
            ),
            {"code": HEALTH_FUND_CODE},
        )
    if connection.dialect.name != "sqlite":
        # As in 0005: SQLite cannot drop a column default without rebuilding the table.
        for table, column, _, _ in _NEW_NOT_NULL:
            op.alter_column(table, column, server_default=None)


PACKED_WIDTH_BEFORE = 16
"""Fields of a packed line before this revision appended refused self-pay and the health fund."""
CHUNK = 1_000


def downgrade() -> None:
    """Back to four funds, refused only when a settlement holds what four funds cannot say."""
    connection = op.get_bind()
    beyond = connection.execute(
        sa.text(
            "SELECT count(*) FROM settlement WHERE refused_selfpay_fen <> 0 OR "
            "health_fund_fen <> 0 OR insured_region <> treatment_region OR findings <> '[]'"
        )
    ).scalar_one()
    if beyond:
        raise RuntimeError(
            f"{beyond} settlements are cross-region, have findings or a health-fund payment: "
            "revision 0005 cannot hold them; restore a backup taken before 0006 instead"
        )
    # The health fund's steps and postings are all 0.00 here; the lines drop two zero amounts.
    connection.execute(sa.text("DELETE FROM settlement_fund WHERE fund = 'health_fund'"))
    connection.execute(sa.text("DELETE FROM fund_posting WHERE fund = 'health_fund'"))
    settlement = sa.table("settlement", sa.column("settlement_id"), sa.column("lines"))
    last = ""
    while True:
        rows = connection.execute(
            sa.select(settlement.c.settlement_id, settlement.c.lines)
            .where(settlement.c.settlement_id > last)
            .order_by(settlement.c.settlement_id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        connection.execute(
            sa.update(settlement)
            .where(settlement.c.settlement_id == sa.bindparam("key"))
            .values(lines=sa.bindparam("packed")),
            [
                {
                    "key": settlement_id,
                    "packed": orjson.dumps(
                        [line[:PACKED_WIDTH_BEFORE] for line in orjson.loads(packed)]
                    ).decode(),
                }
                for settlement_id, packed in rows
            ],
        )
        last = rows[-1][0]
    op.drop_column("settlement_fund", "explanation_zh")
    op.drop_column("settlement", "filing")
    for table, column, _, _ in reversed(_NEW_NOT_NULL):
        op.drop_column(table, column)
