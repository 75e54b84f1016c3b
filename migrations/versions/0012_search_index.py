"""search index: analysed documents and the database's full-text index over them

One document per process (identifiers, and the stems of its title, items, buyer and
suppliers; see ``portal.search``), indexed by SQLite FTS5 or by a PostgreSQL ``tsvector`` with
a GIN index. Existing databases get an empty index: run ``veraz search-index rebuild`` once
after this migration.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("ocid", sa.String(255), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_search_documents"),
        sa.UniqueConstraint("ocid", name="uq_search_documents_ocid"),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(identifiers, words, "
            "content='search_documents', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 0', detail=column)"
        )
    else:
        op.execute(
            "ALTER TABLE search_documents ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(setweight(to_tsvector('simple'::regconfig, identifiers), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, words), 'D')) STORED"
        )
        op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_documents")
