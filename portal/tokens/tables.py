"""The minting state of order tokens (migration 0018): what was sent to the chain, and when.

``token_batches``: one row per mint transaction, written with the signed transaction BEFORE it
is sent (the intent, ``status = 'pending'``), then ``done`` with its block once confirmed, or
``failed`` when it never took effect. ``order_tokens``: one row per order in a batch, the ocid
as primary key, so an order can be in one batch only. See docs/tokens.md.

The chain is the authority on what was minted: ``veraz mint --check`` re-reads every recorded
token from the chain.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, MetaData, String, Table, Text

from portal.models import BigId

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PENDING, DONE, FAILED = "pending", "done", "failed"

token_batches = Table(
    "token_batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract", String(42), nullable=False),  # EIP-55 address
    Column("holder", String(42), nullable=False),  # who the tokens are minted to
    Column("status", String(16), nullable=False),  # pending | done | failed
    Column("tx_hash", String(66), nullable=False),  # 0x + 64 hex: signed bytes (LACChain: the relay tx)
    Column("raw", LargeBinary, nullable=False),  # the signed transaction, re-sent as is
    Column("nonce", BigInteger, nullable=False),
    Column("from_block", BigInteger, nullable=False),  # the chain head when it was signed
    Column("block_number", BigInteger),  # once done
    Column("gas_used", BigInteger),  # once done
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

order_tokens = Table(
    "order_tokens",
    metadata,
    Column("ocid", String(255), primary_key=True),
    Column("token_id", String(64), nullable=False),  # SHA-256(ocid), 64 lowercase hex digits
    Column("release_id", String(255), nullable=False),  # the release whose data hash was minted
    Column("data_hash", String(64), nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Index("ix_order_tokens_batch_id", "batch_id"),
)
