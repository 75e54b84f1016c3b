"""evidence log: entries in C2SP entry bundles; each published row keeps its leaf index

``log_entries`` (one row per entry, with its leaf hash a second time) becomes
``log_entry_bundles`` (one row per 256 entries, c2sp.org/tlog-tiles ``tile/entries/N`` format;
the leaf hashes are the level-0 tiles). ``evidence_leaves`` (leaf hash -> index, one row and
one random-key index entry per entry) is replaced by a ``leaf_index`` column on ``releases``
and ``proformas``, filled here from the entries themselves. The entries' bytes do not change:
every leaf, root, checkpoint and proof stays the same.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 11:40:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WIDTH = 256


def _bundle(entries):
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def _unbundle(blob):
    out, at = [], 0
    while at < len(blob):
        length = int.from_bytes(blob[at : at + 2], "big")
        out.append(blob[at + 2 : at + 2 + length])
        at += 2 + length
    return out


def upgrade() -> None:
    op.create_table(
        "log_entry_bundles",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False, comment="bundle index"),
        sa.Column(
            "entries",
            sa.LargeBinary(),
            nullable=False,
            comment="<= 256 entries, each a big-endian uint16 length + the entry bytes",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("idx"),
    )
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("leaf_index", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("proformas") as batch:
        batch.add_column(sa.Column("leaf_index", sa.BigInteger(), nullable=True))

    conn = op.get_bind()
    bundles = sa.table("log_entry_bundles", sa.column("idx"), sa.column("entries"), sa.column("created_at"))
    start = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT idx, entry, created_at FROM log_entries WHERE idx >= :s ORDER BY idx LIMIT :n"),
            {"s": start, "n": 64 * _WIDTH},
        ).all()
        if not rows:
            break
        for k in range(0, len(rows), _WIDTH):
            chunk = rows[k : k + _WIDTH]
            if chunk[0].idx % _WIDTH or chunk[-1].idx != chunk[0].idx + len(chunk) - 1:
                raise RuntimeError(f"log_entries has a gap near index {chunk[0].idx}")
            conn.execute(
                bundles.insert().values(
                    idx=chunk[0].idx // _WIDTH,
                    entries=_bundle([bytes(r.entry) for r in chunk]),
                    created_at=chunk[0].created_at,
                )
            )
        releases, proformas = [], []
        for r in rows:
            entry = json.loads(bytes(r.entry))
            if entry.get("kind") == "release":
                releases.append({"i": r.idx, "o": entry["ocid"], "r": entry["releaseId"]})
            elif entry.get("kind") == "proforma":
                proformas.append({"i": r.idx, "o": entry["ocid"], "p": entry["proformaId"]})
        # The first entry of a row wins (a row is logged once; never overwrite).
        if releases:
            conn.execute(
                sa.text(
                    "UPDATE releases SET leaf_index = :i WHERE ocid = :o AND "
                    "release_id = :r AND leaf_index IS NULL"
                ),
                releases,
            )
        if proformas:
            conn.execute(
                sa.text(
                    "UPDATE proformas SET leaf_index = :i WHERE ocid = :o AND "
                    "proforma_id = :p AND leaf_index IS NULL"
                ),
                proformas,
            )
        start = rows[-1].idx + 1

    with op.batch_alter_table("releases") as batch:
        batch.create_index("ix_releases_leaf_index", ["leaf_index"], unique=True)
    with op.batch_alter_table("proformas") as batch:
        batch.create_index("ix_proformas_leaf_index", ["leaf_index"], unique=True)
    with op.batch_alter_table("evidence_leaves") as batch:
        batch.drop_index("ix_evidence_leaves_leaf_hash")
    op.drop_table("evidence_leaves")
    op.drop_table("log_entries")


def downgrade() -> None:
    import hashlib

    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False, comment="leaf index"),
        sa.Column("kind", sa.String(length=32), nullable=False, comment="entry kind, e.g. release"),
        sa.Column("entry", sa.LargeBinary(), nullable=False, comment="leaf input (anchoring.entries)"),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False, comment="SHA-256(0x00 || entry)"),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("idx"),
    )
    op.create_table(
        "evidence_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name="pk_evidence_leaves"),
    )
    with op.batch_alter_table("evidence_leaves") as batch:
        batch.create_index("ix_evidence_leaves_leaf_hash", ["leaf_hash"], unique=False)
    conn = op.get_bind()
    entries_t = sa.table(
        "log_entries",
        sa.column("idx"),
        sa.column("kind"),
        sa.column("entry"),
        sa.column("leaf_hash"),
        sa.column("created_at"),
    )
    leaves_t = sa.table("evidence_leaves", sa.column("leaf_index"), sa.column("leaf_hash"))
    for row in conn.execute(
        sa.text("SELECT idx, entries, created_at FROM log_entry_bundles ORDER BY idx")
    ).all():
        rows = []
        for k, data in enumerate(_unbundle(bytes(row.entries))):
            rows.append(
                {
                    "idx": row.idx * _WIDTH + k,
                    "kind": json.loads(data)["kind"],
                    "entry": data,
                    "leaf_hash": hashlib.sha256(b"\x00" + data).digest(),
                    "created_at": row.created_at,
                }
            )
        if rows:
            conn.execute(entries_t.insert(), rows)
            conn.execute(
                leaves_t.insert(), [{"leaf_index": r["idx"], "leaf_hash": r["leaf_hash"]} for r in rows]
            )
    with op.batch_alter_table("proformas") as batch:
        batch.drop_index("ix_proformas_leaf_index")
        batch.drop_column("leaf_index")
    with op.batch_alter_table("releases") as batch:
        batch.drop_index("ix_releases_leaf_index")
        batch.drop_column("leaf_index")
    op.drop_table("log_entry_bundles")
