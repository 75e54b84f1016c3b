"""dashboards: spending summary tables (dash_spending), each order's share (dash_orders), state;
red flags: per-buyer sums (flag_buyer_pairs, flag_buyer_years)

Derived tables (``portal.dashboards.tables``): existing databases get them empty, and the
charts read ``records`` until ``veraz dashboards refresh`` (run after every import) fills them.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dash_spending",
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(2), nullable=False),
        sa.Column("year", sa.String(8), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(30, 2), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "segment", "year", "key", "month", name="pk_dash_spending"),
    )
    op.create_table(
        "dash_orders",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("contribution", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ocid", name="pk_dash_orders"),
    )
    op.create_table(
        "dash_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_dash_state"),
    )

    # The red flags' per-buyer sums (portal.flags.sums): filled by the next full refresh.
    op.create_table(
        "flag_buyer_pairs",
        sa.Column("buyer_id", sa.String(255), nullable=False),
        sa.Column("supplier_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("priced", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("buyer_id", "supplier_id", "currency", name="pk_flag_buyer_pairs"),
    )
    op.create_table(
        "flag_buyer_years",
        sa.Column("buyer_id", sa.String(255), nullable=False),
        sa.Column("year", sa.String(4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Text(), nullable=False),
        sa.Column("late_orders", sa.Integer(), nullable=False),
        sa.Column("late_amount", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("buyer_id", "year", "currency", name="pk_flag_buyer_years"),
    )
    # A database whose flags were computed before: the next refresh must be full (it fills the
    # sums), which a changed thresholds entry triggers.
    op.execute("DELETE FROM flag_state WHERE name = 'thresholds'")


def downgrade() -> None:
    for table in ("flag_buyer_years", "flag_buyer_pairs", "dash_state", "dash_orders", "dash_spending"):
        op.drop_table(table)
