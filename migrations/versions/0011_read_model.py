"""read model: item lines, parties, and the per-process browse columns

What the browse page, its facets and the profiles read, derived from the compiled releases
(``ocds.summary.browse_columns`` and ``read_model_rows``). Existing databases get empty tables
and NULL columns: run ``veraz reindex`` once after this migration to derive them from the
releases already published.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_RECORD_COLUMNS = [
    sa.Column("procedure", sa.String(32)),
    sa.Column("agreement_title", sa.Text()),
    sa.Column("delivery_region", sa.String(64)),
    sa.Column("delivery_district", sa.String(128)),
    sa.Column("month", sa.String(7)),
]

_RECORD_INDEXES = [
    ("ix_records_procedure_date", ["procedure", "date"]),
    ("ix_records_delivery_region_date", ["delivery_region", "date"]),
    ("ix_records_month_date", ["month", "date"]),
    ("ix_records_status_date", ["status", "date"]),
    ("ix_records_date_ocid", ["date", "ocid"]),
    ("ix_records_amount_ocid", ["amount", "ocid"]),
]


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        for column in _RECORD_COLUMNS:
            batch.add_column(column)
    for name, columns in _RECORD_INDEXES:
        op.create_index(name, "records", columns)
    op.create_table(
        "item_lines",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(64)),
        sa.Column("code", sa.String(64)),
        sa.Column("segment", sa.String(2)),
        sa.Column("family", sa.String(4)),
        sa.Column("class", sa.String(6)),
        sa.Column("commodity", sa.String(8)),
        sa.Column("description", sa.Text()),
        sa.Column("quantity", sa.Numeric(20, 2)),
        sa.Column("unit", sa.String(128)),
        sa.Column("unit_price", sa.Numeric(20, 2)),
        sa.Column("amount", sa.Numeric(20, 2)),
        sa.Column("currency", sa.String(3)),
        sa.PrimaryKeyConstraint("ocid", "position", name="pk_item_lines"),
    )
    op.create_index("ix_item_lines_segment_ocid", "item_lines", ["segment", "ocid"])
    op.create_index("ix_item_lines_family_ocid", "item_lines", ["family", "ocid"])
    op.create_table(
        "parties",
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("party_id", sa.String(255)),
        sa.Column("scheme", sa.String(64)),
        sa.Column("identifier", sa.String(255)),
        sa.Column("name", sa.Text()),
        sa.Column("region", sa.String(64)),
        sa.Column("scale", sa.String(32)),
        sa.PrimaryKeyConstraint("ocid", "position", name="pk_parties"),
    )
    op.create_index("ix_parties_role_party_id_ocid", "parties", ["role", "party_id", "ocid"])
    op.create_index("ix_parties_identifier", "parties", ["identifier"])


def downgrade() -> None:
    op.drop_table("parties")
    op.drop_table("item_lines")
    for name, _ in _RECORD_INDEXES:
        op.drop_index(name, table_name="records")
    with op.batch_alter_table("records") as batch:
        for column in _RECORD_COLUMNS:
            batch.drop_column(column.name)
