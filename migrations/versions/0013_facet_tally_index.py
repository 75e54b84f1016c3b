"""facet tally: records by write time

The browse page counts facets over per-process keys held in memory
(``portal.readmodel.tally``); they follow the read model by the newest ``records.updated_at``
and re-read only the records written since they were loaded. This index makes both an index
lookup instead of a scan of every record. No data changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 20:20:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_updated_at", "records", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_records_updated_at", table_name="records")
