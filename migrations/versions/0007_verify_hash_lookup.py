"""verify lookup: find an order from a pasted hash without scanning

``/verify?q=<sha256>`` looks the hash up as a release's data hash, an order PDF's hash and a
proforma's hash; without these indexes each is a scan of its table (0.25-1 s per lookup at
100,000 orders on SQLite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 10:00:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_releases_data_hash"), "releases", ["data_hash"])
    op.create_index(op.f("ix_order_pdfs_sha256"), "order_pdfs", ["sha256"])
    op.create_index(op.f("ix_proformas_data_hash"), "proformas", ["data_hash"])


def downgrade() -> None:
    op.drop_index(op.f("ix_proformas_data_hash"), table_name="proformas")
    op.drop_index(op.f("ix_order_pdfs_sha256"), table_name="order_pdfs")
    op.drop_index(op.f("ix_releases_data_hash"), table_name="releases")
