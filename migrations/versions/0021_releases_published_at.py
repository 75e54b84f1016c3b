"""releases by publication time

The OCDS API's ``since`` filter (``/api/releases`` and ``/api/records``) asks for what was
published at or after a moment. Its pages walk the releases' primary key; this index finds
where that walk starts (the smallest key published since then) without reading every
release before it (``portal.readmodel.api_filters``). No data changes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 23:20:00
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_releases_published_at", "releases", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_releases_published_at", table_name="releases")
