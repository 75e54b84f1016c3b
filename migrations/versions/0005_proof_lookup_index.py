"""proof lookups: partial index on the anchors not yet done

``/api/proofs`` picks the newest fully anchored checkpoint containing the entry; it asks
which checkpoints still have an anchor not done. Those rows are few (the newest checkpoints,
or those whose chain or TSA is down), so the index holds only them and stays tiny however
many checkpoints the log has.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NOT_DONE = sa.text("status != 'done'")


def upgrade() -> None:
    op.create_index(
        "ix_evidence_anchors_unfinished",
        "evidence_anchors",
        ["tree_size"],
        sqlite_where=_NOT_DONE,
        postgresql_where=_NOT_DONE,
    )


def downgrade() -> None:
    op.drop_index("ix_evidence_anchors_unfinished", table_name="evidence_anchors")
