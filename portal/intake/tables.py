"""The intake API's own tables (migration ``0017``).

``intake_tokens``: the bearer tokens of the catalogue systems that post quotes and orders. Only
the SHA-256 of each secret is kept (``secret_hash``), never the secret: a copy of the database
gives nobody a token. ``scope`` is ``quotes`` or ``orders``; a token is refused once
``revoked_at`` is set or ``expires_at`` has passed.

``intake_refusals``: what ``POST /api/intake/quotes`` refused because a quote id already
received came again with other content (a quote is immutable from its arrival). The operator's
report (``veraz tokens refusals``); nothing here is published or logged, and nothing is stored
of the refused content but its hash.

The quotes themselves are stored where every quote is (``portal.models.proformas``), logged
with the same entry kind, so proofs, ``veraz verify --quote`` and ``veraz audit`` treat a quote
that arrived alone exactly like one that came inside its order.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

from portal.models import BigId

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SCOPES = ("quotes", "orders")

tokens = Table(
    "intake_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("scope", String(20), nullable=False),  # quotes | orders
    Column("secret_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the secret
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

refusals = Table(
    "intake_refusals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_id", Integer, nullable=False),
    Column("ocid", String(255), nullable=False),
    Column("proforma_id", String(128), nullable=False),
    Column("offered_hash", String(64), nullable=False),  # SHA-256 of what came
    Column("stored_hash", String(64), nullable=False),  # SHA-256 of the quote as it arrived
    Column("refused_at", DateTime(timezone=True), nullable=False),
    Index(None, "refused_at"),
)
