"""order tokens: the minting state of the ERC-721 order tokens

``token_batches``: each mint transaction, recorded (signed) before it is sent, then done or
failed. ``order_tokens``: each order in a batch, one row per ocid (docs/tokens.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "token_batches",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("holder", sa.String(42), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("gas_used", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_batches"),
    )
    op.create_table(
        "order_tokens",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("release_id", sa.String(255), nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ocid", name="pk_order_tokens"),
    )
    op.create_index("ix_order_tokens_batch_id", "order_tokens", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_order_tokens_batch_id", table_name="order_tokens")
    op.drop_table("order_tokens")
    op.drop_table("token_batches")
