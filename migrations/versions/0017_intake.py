"""intake API: bearer tokens (hashes only) and the report of refused quote changes

``intake_tokens``: each token's name, scope (quotes, orders), the SHA-256 of its secret, when it
was made, expires and was revoked. ``intake_refusals``: quotes refused because their id had
arrived before with other content (docs/intake.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_intake_tokens"),
        sa.UniqueConstraint("secret_hash", name="uq_intake_tokens_secret_hash"),
    )
    op.create_table(
        "intake_refusals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("proforma_id", sa.String(128), nullable=False),
        sa.Column("offered_hash", sa.String(64), nullable=False),
        sa.Column("stored_hash", sa.String(64), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intake_refusals"),
    )
    op.create_index("ix_intake_refusals_refused_at", "intake_refusals", ["refused_at"])


def downgrade() -> None:
    op.drop_index("ix_intake_refusals_refused_at", table_name="intake_refusals")
    op.drop_table("intake_refusals")
    op.drop_table("intake_tokens")
