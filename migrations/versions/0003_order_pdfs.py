"""order PDFs: the published bytes of each order release's PDF

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_pdfs",
        sa.Column("ocid", sa.String(length=255), nullable=False),
        sa.Column("release_id", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("ocid", "release_id", name=op.f("pk_order_pdfs")),
    )


def downgrade() -> None:
    op.drop_table("order_pdfs")
