"""search: the postings of the search documents on PostgreSQL (search_postings)

One row per (weight and word, document id) of each search document's ``tsvector``, with a
b-tree primary key on (term, document): the newest documents holding a word are one range of
the index, read newest first without visiting the table, so that a query's newest matches are
a merge of a few short ranges instead of every match from the GIN index (``portal.search
.database``, docs/search.md). Derived from ``search_documents`` (written with it in the
publishing transaction, rebuilt by ``veraz search-index rebuild``); existing documents'
postings are made here from their ``tsvector``. SQLite needs none (FTS5 reads its lists
newest first).

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-05 03:00:00
"""

from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    # Byte order ("C"): the identifiers starting with a prefix are the range prefix <= term <
    # prefix with its last character incremented, whatever the database's collation.
    op.execute('CREATE TABLE search_postings (term text COLLATE "C" NOT NULL, document bigint NOT NULL)')
    # Filled before its index is made (one sort instead of a million index insertions).
    op.execute(
        "INSERT INTO search_postings (term, document) "
        "SELECT w.weight || u.lexeme, d.id FROM search_documents AS d CROSS JOIN LATERAL unnest(d.tsv) AS u "
        "JOIN (VALUES ('A'), ('D')) AS w(weight) ON w.weight = ANY(u.weights)"
    )
    op.execute("ALTER TABLE search_postings ADD CONSTRAINT pk_search_postings PRIMARY KEY (term, document)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP TABLE search_postings")
