"""dashboards: spending summary tables (dash_spending), each order's share (dash_orders), state

Derived tables (``portal.dashboards.tables``): existing databases get them empty, and the
charts read ``records`` until ``veraz dashboards refresh`` (run after every import) fills them.

Revision ID: 0022
Revises: 0016
Create Date: 2026-12-05 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0016"
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


def downgrade() -> None:
    for table in ("dash_state", "dash_orders", "dash_spending"):
        op.drop_table(table)
