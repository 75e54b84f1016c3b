"""home page totals: a covering index on records

The totals (orders, amount, distinct buyers and suppliers) otherwise scan the records table,
whose rows carry compiled releases: 2.2 s at 100,000 orders on SQLite.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 09:50:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_records_totals", "records", ["kind", "status", "currency", "amount", "buyer_id", "supplier_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_records_totals", table_name="records")
