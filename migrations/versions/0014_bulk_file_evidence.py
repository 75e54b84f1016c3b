"""bulk file evidence: every bulk download file logged as a ``bulk`` entry

``veraz export`` logs each finished file (name, SHA-256, size, releases, the log's size at the
export) in the evidence log; this table says where each file version's entry is, for its proof
bundle (``/api/proofs/files/<name>``) and for the audit. Existing exports are logged the next
time they are written.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evidence_bulk_files",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("releases", sa.BigInteger(), nullable=False),
        sa.Column("log_size", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_bulk_files"),
        sa.UniqueConstraint("name", "sha256", name="uq_evidence_bulk_files_name_sha256"),
    )
    op.create_index("ix_evidence_bulk_files_leaf_index", "evidence_bulk_files", ["leaf_index"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_evidence_bulk_files_leaf_index", table_name="evidence_bulk_files")
    op.drop_table("evidence_bulk_files")
