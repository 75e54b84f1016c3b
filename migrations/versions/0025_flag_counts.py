"""red flags: the page's counts (flag_counts per flag and month, flag_totals per flag,
flag_month_firsts for ranges of months), and flag_hits' indexes of the views filtered by buyer,
supplier or agreement (which replace the plain buyer_id and supplier_id indexes) and of an
order flag's months (ocid added to the flag and month one)

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


#: flag_hits' indexes per buyer, supplier and agreement, as portal.flags.tables declares them.
HIT_INDEXES = {
    "ix_flag_hits_buyer": ["buyer_id", "flag", "month", "ocid", "supplier_id"],
    "ix_flag_hits_supplier": ["supplier_id", "flag", "month", "ocid", "buyer_id"],
    "ix_flag_hits_agreement": ["agreement_ocid", "flag", "month", "ocid", "buyer_id", "supplier_id"],
}


def upgrade() -> None:
    op.drop_index("ix_flag_hits_buyer_id", table_name="flag_hits")
    op.drop_index("ix_flag_hits_supplier_id", table_name="flag_hits")
    op.drop_index("ix_flag_hits_flag_month", table_name="flag_hits")
    op.create_index("ix_flag_hits_flag_month_ocid", "flag_hits", ["flag", "month", "ocid"])
    for name, columns in HIT_INDEXES.items():
        op.create_index(name, "flag_hits", columns)
    without_month = sa.text("month IS NULL")
    op.create_index(
        "ix_flag_hits_without_month",
        "flag_hits",
        ["subject"],
        postgresql_where=without_month,
        sqlite_where=without_month,
    )
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
    op.create_table(
        "flag_month_firsts",
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("measure", sa.String(16), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("previous", sa.String(7), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("flag", "measure", "month", "previous", name="pk_flag_month_firsts"),
    )


def downgrade() -> None:
    op.drop_table("flag_month_firsts")
    op.drop_table("flag_totals")
    op.drop_table("flag_counts")
    op.drop_index("ix_flag_hits_without_month", table_name="flag_hits")
    for name in HIT_INDEXES:
        op.drop_index(name, table_name="flag_hits")
    op.drop_index("ix_flag_hits_flag_month_ocid", table_name="flag_hits")
    op.create_index("ix_flag_hits_flag_month", "flag_hits", ["flag", "month"])
    op.create_index("ix_flag_hits_buyer_id", "flag_hits", ["buyer_id"])
    op.create_index("ix_flag_hits_supplier_id", "flag_hits", ["supplier_id"])
