"""red flags: per-process facts, priced lines, the flags raised, and the refresh state

Derived tables (``portal.flags.tables``): existing databases get them empty; run
``veraz flags refresh --full`` once after this migration (imports refresh them after that).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flag_facts",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("last_release", _BIG_ID, nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("buyer_id", sa.String(255)),
        sa.Column("supplier_id", sa.String(255)),
        sa.Column("agreement_ocid", sa.String(255)),
        sa.Column("amount", sa.Numeric(20, 2)),
        sa.Column("currency", sa.String(3)),
        sa.Column("date", sa.String(10)),
        sa.Column("month", sa.String(7)),
        sa.Column("quotes", sa.Integer()),
        sa.Column("first_amount", sa.Numeric(20, 2)),
        sa.Column("first_currency", sa.String(3)),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("deliveries_met", sa.Integer(), nullable=False),
        sa.Column("deliveries_late", sa.Integer(), nullable=False),
        sa.Column("deliveries_not_met", sa.Integer(), nullable=False),
        sa.Column("days_late", sa.Integer()),
        sa.PrimaryKeyConstraint("ocid", name="pk_flag_facts"),
    )
    op.create_index(
        "ix_flag_facts_buyer",
        "flag_facts",
        ["buyer_id", "live", "cancelled", "supplier_id", "currency", "amount", "date"],
    )
    op.create_index(
        "ix_flag_facts_supplier",
        "flag_facts",
        ["supplier_id", "live", "cancelled", "date", "currency", "amount"],
    )
    op.create_index(
        "ix_flag_facts_agreement",
        "flag_facts",
        ["agreement_ocid", "live", "cancelled", "currency", "supplier_id", "amount"],
    )
    op.create_table(
        "flag_prices",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(600), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("unit_price", sa.Numeric(20, 2)),
        sa.Column("supplier_id", sa.String(255)),
        sa.Column("segment", sa.String(2)),
        sa.PrimaryKeyConstraint("ocid", "position", name="pk_flag_prices"),
    )
    op.create_index(
        "ix_flag_prices_product_currency_unit_price", "flag_prices", ["product", "currency", "unit_price"]
    )
    op.create_index("ix_flag_prices_supplier_id_segment", "flag_prices", ["supplier_id", "segment"])
    op.create_table(
        "flag_hits",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("flag", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(600), nullable=False),
        sa.Column("ocid", sa.String(255)),
        sa.Column("buyer_id", sa.String(255)),
        sa.Column("supplier_id", sa.String(255)),
        sa.Column("agreement_ocid", sa.String(255)),
        sa.Column("month", sa.String(7)),
        sa.Column("amount", sa.Numeric(20, 2)),
        sa.Column("currency", sa.String(3)),
        sa.Column("orders", sa.Integer()),
        sa.Column("value", sa.Float()),
        sa.Column("threshold", sa.Float()),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_flag_hits"),
    )
    op.create_index("ix_flag_hits_flag_scope", "flag_hits", ["flag", "scope"])
    op.create_index("ix_flag_hits_ocid", "flag_hits", ["ocid"])
    op.create_index("ix_flag_hits_buyer_id", "flag_hits", ["buyer_id"])
    op.create_index("ix_flag_hits_supplier_id", "flag_hits", ["supplier_id"])
    op.create_index("ix_flag_hits_flag_month", "flag_hits", ["flag", "month"])
    op.create_index("ix_flag_hits_flag_value_id", "flag_hits", ["flag", "value", "id"])
    op.create_table(
        "flag_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_flag_state"),
    )


def downgrade() -> None:
    for table in ("flag_state", "flag_hits", "flag_prices", "flag_facts"):
        op.drop_table(table)
