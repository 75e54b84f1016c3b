"""The portal's evidence tables (the log's own tables are ``anchoring.log``'s).

``evidence_anchors``: the anchor state of every sealed checkpoint. ``evidence_pdfs``: the signed
evidence PDF of every fully anchored checkpoint (``portal.evidence.pdfs`` makes them; the read
side serves the stored bytes as they are).

One row per (checkpoint tree size, anchor type). A row is created ``pending`` in the same
transaction that seals its checkpoint, so a sealed checkpoint can never lack its anchors. The
watcher moves it to ``done`` (``receipt`` holds the anchor record) or, after a failure, to
``failed-retrying`` with ``next_attempt_at`` pushed back exponentially.

``intent`` is written and committed BEFORE anything leaves the process (for EVM: the signed
transaction and its hash), so a process killed after sending finds on restart what it sent and
looks for it instead of sending a second anchor.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from portal.models import BigId

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PENDING, DONE, RETRYING = "pending", "done", "failed-retrying"
EVM, RFC3161 = "evm", "rfc3161"

anchors = Table(
    "evidence_anchors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("type", String(20), nullable=False),  # evm | rfc3161
    Column("status", String(20), nullable=False),  # pending | done | failed-retrying
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("intent", Text),  # JSON, committed before sending (see module docstring)
    Column("receipt", Text),  # JSON anchor record once done
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tree_size", "type"),
    # Only the rows not done (few): which checkpoints are not fully anchored (read/proofs.py).
    Index(
        "ix_evidence_anchors_unfinished",
        "tree_size",
        sqlite_where=text("status != 'done'"),
        postgresql_where=text("status != 'done'"),
    ),
)

# One signed evidence PDF per sealed checkpoint (migration 0004).
evidence_pdfs = Table(
    "evidence_pdfs",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("sha256", String(64), nullable=False),
    Column("byte_length", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Independent witnesses (portal/witness/, migration 0016). One row per configured witness: the
# size it last cosigned for this log (or said it holds, in a 409 answer), which is the "old
# size" of the next add-checkpoint request, and its retry state (backoff as for anchors).
witness_state = Table(
    "evidence_witnesses",
    metadata,
    Column("witness", String(255), primary_key=True),  # its verifier key string
    Column("url", Text, nullable=False),
    Column("cosigned_size", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One cosignature/v1 line per (checkpoint, witness), verified against the witness's key before
# it is stored; served after the checkpoint's own signature and carried in proof bundles.
cosignatures = Table(
    "evidence_cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(255), primary_key=True),  # its verifier key string
    Column("line", Text, nullable=False),  # "— <name> <base64>", without the newline
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's own timestamp
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Bulk download files made evidence (``portal.evidence.files``, migration 0014): one row per
# file version logged, re-derived into its ``bulk`` entry by ``veraz audit``. A file exported
# again with the same bytes keeps its first row.
bulk_files = Table(
    "evidence_bulk_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("releases", BigInteger, nullable=False),
    Column("log_size", BigInteger, nullable=False),  # the log's size at the export's snapshot
    Column("leaf_index", BigInteger, nullable=False),
    Column("logged_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "sha256"),
    Index(None, "leaf_index", unique=True),
)
