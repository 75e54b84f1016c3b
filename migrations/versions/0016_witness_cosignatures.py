"""independent witnesses: each witness's state and the cosignatures it returned

``evidence_witnesses``: per configured witness (by verifier key), the size it last cosigned
and its retry state. ``evidence_cosignatures``: the verified cosignature/v1 line of each
witness on each checkpoint (docs/witnesses.md).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_witnesses",
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("witness", name="pk_evidence_witnesses"),
    )
    op.create_table(
        "evidence_cosignatures",
        sa.Column("tree_size", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("witness", sa.String(255), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "witness", name="pk_evidence_cosignatures"),
    )


def downgrade() -> None:
    op.drop_table("evidence_cosignatures")
    op.drop_table("evidence_witnesses")
