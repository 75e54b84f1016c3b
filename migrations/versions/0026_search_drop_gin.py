"""search: PostgreSQL's GIN index of ``search_documents.tsv`` dropped

No query reads it any more: the search box, the listing's matches and its counts read the
postings (``search_postings``, migration 0024), and the listing's page of a common text checks
each process's ``tsvector`` found by its ocid (``portal.search.database``). Kept, it cost every
build of the index at a million documents about 18 s of a 39 s build (docs/search.md), 205 MB,
and an update at each document written. The ``tsvector`` column stays (ranking, the postings'
source, the audit) and so do PostgreSQL's statistics of it (ANALYZE makes them for the column,
index or not), which the search reads to order a query's words. SQLite: nothing to do.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 00:30:00
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP INDEX IF EXISTS ix_search_documents_tsv")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
