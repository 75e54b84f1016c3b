"""red flags: the unfiltered page's counts (flag_counts per flag and month, flag_totals per flag)

Derived tables (``portal.flags.tables``): existing databases get them empty, and the flags page
runs its queries over the hits until the next ``veraz flags refresh`` (run after every import)
fills them.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_counts",
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("flag", "month", name="pk_flag_counts"),
    )
    op.create_table(
        "flag_totals",
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.Column("suppliers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("flag", name="pk_flag_totals"),
    )


def downgrade() -> None:
    op.drop_table("flag_totals")
    op.drop_table("flag_counts")
