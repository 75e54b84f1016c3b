"""records: one index by amount

``records`` had both ``ix_records_amount (amount)`` and ``ix_records_amount_ocid (amount,
ocid)``, made later for the listing's keyset pages by amount. Every search of the first is a
search of the second by its leading column, so the first only cost its upkeep: one more
index entry to write for each record stored or replaced (at a random place: amounts do not
arrive in order), and one more index to rebuild after a bulk load. No data changes.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 14:05:00
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_records_amount", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_amount", "records", ["amount"])
