"""parties: the identifier index carries the ocid

``ix_parties_identifier`` (identifier) becomes ``ix_parties_identifier_ocid`` (identifier, ocid):
the listing's ``q`` reads the processes of a party by its identifier (a RUC) from the index
alone, without a table row per process (at 1,033,600 processes, a supplier with 49,650 of them:
60 ms of CPU instead of 175 ms on SQLite; docs/search.md).

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-05 00:15:00
"""

from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_parties_identifier_ocid", "parties", ["identifier", "ocid"])
    op.drop_index("ix_parties_identifier", table_name="parties")


def downgrade() -> None:
    op.create_index("ix_parties_identifier", "parties", ["identifier"])
    op.drop_index("ix_parties_identifier_ocid", table_name="parties")
