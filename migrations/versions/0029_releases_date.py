"""releases by date

The OCDS API's ``date_from``/``date_to`` filters on ``/api/releases`` ask for the releases of
some days. Its pages walk the releases' primary key; this index finds where that walk starts
(the smallest key of a release dated within the bounds) and its next keys without reading
every release before it (``portal.readmodel.api_filters``); with the key in it, PostgreSQL
reads them from the index alone. No data changes.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 10:55:00
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_releases_date_id", "releases", ["date", "id"])


def downgrade() -> None:
    op.drop_index("ix_releases_date_id", table_name="releases")
