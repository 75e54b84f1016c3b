"""releases: whether the compiled release of the release alone is its bytes, spliced

``releases.splice``: decided at publication (``portal.exports.splice.splice_flag``, where the
release is a Python object already), so that the first full export writes the compiled release
of a one-release process from the stored bytes with two values replaced, without a test over
the bytes; ``veraz audit`` recomputes it from the stored JSON. NULL (every release published
before this revision, and imported ones) means not decided: the export tests the bytes then,
as before. Adding a nullable column rewrites no row (SQLite and PostgreSQL alike).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 05:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("releases", sa.Column("splice", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("splice")
