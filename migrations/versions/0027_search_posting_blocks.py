"""search: PostgreSQL's postings in blocks of document ids (search_posting_blocks)

``search_postings`` held one row per (term, document): 28,858,800 rows at 827,206 documents,
and storing them and sorting them into their b-tree was most of the index's build (about 50 s
of 83 s, docs/search.md). The same postings are now one row per term and block of
``portal.search.database.PG_BLOCK_SIZE`` consecutive document ids, the documents as offsets in
the block (``smallint[]``, in no particular order), with a b-tree primary key on (term, block):
a word's documents are still one range of the index in document order, block by block. Filled
from each document's ``tsvector`` block by block (``PG_FILL_BLOCKS``), then indexed (one sort).
Rows of common words hold up to 2 KB of offsets: ``toast_tuple_target`` keeps PostgreSQL from
compressing them (a row is under a page). SQLite: nothing to do (FTS5).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 03:00:00
"""

from alembic import op
from sqlalchemy import text

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# What the search wrote with migration 0024's table: every (term, document) of each document's
# tsvector (portal.search.database.PG_POSTINGS_OF as it then was), for the downgrade.
_POSTINGS_OF = """
SELECT posting.term, d.id AS document
FROM search_documents AS d CROSS JOIN LATERAL (
    SELECT 'A' || lexeme FROM unnest(tsvector_to_array(ts_filter(d.tsv, '{a}'))) AS lexeme
    UNION ALL
    SELECT 'D' || lexeme FROM unnest(tsvector_to_array(ts_filter(d.tsv, '{d}'))) AS lexeme
) AS posting(term)"""


# The blocks of 1,024 ids (portal.search.database.PG_BLOCK_BITS = 10 and PG_FILL_BLOCKS, written
# out: a migration stays what it was): each block's postings grouped by term on their own, each
# weight's lexemes apart, written in the index's order (a word's blocks neighbours in the table:
# a query reads them).
_FILL = """
INSERT INTO search_posting_blocks (term, block, offsets)
SELECT g.term, b.block, g.offsets
FROM generate_series(0, (SELECT coalesce(max(id), 0) FROM search_documents) >> 10) AS b(block)
CROSS JOIN LATERAL (
    SELECT 'A' || lexeme, array_agg(CAST(d.id & 1023 AS smallint))
    FROM search_documents AS d
    CROSS JOIN LATERAL unnest(tsvector_to_array(ts_filter(d.tsv, '{a}'))) AS lexeme
    WHERE d.id >= b.block << 10 AND d.id < (b.block + 1) << 10
    GROUP BY lexeme
    UNION ALL
    SELECT 'D' || lexeme, array_agg(CAST(d.id & 1023 AS smallint))
    FROM search_documents AS d
    CROSS JOIN LATERAL unnest(tsvector_to_array(ts_filter(d.tsv, '{d}'))) AS lexeme
    WHERE d.id >= b.block << 10 AND d.id < (b.block + 1) << 10
    GROUP BY lexeme
) AS g(term, offsets)
ORDER BY g.term, b.block"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP TABLE search_postings")
    # Byte order ("C"): the identifiers starting with a prefix are the range prefix <= term <
    # prefix with its last character incremented, whatever the database's collation.
    op.execute(
        'CREATE TABLE search_posting_blocks (term text COLLATE "C" NOT NULL, block bigint NOT NULL, '
        "offsets smallint[] NOT NULL) WITH (toast_tuple_target = 8160)"
    )
    op.execute(_FILL)
    op.execute(
        "ALTER TABLE search_posting_blocks ADD CONSTRAINT pk_search_posting_blocks PRIMARY KEY (term, block)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP TABLE search_posting_blocks")
    op.execute('CREATE TABLE search_postings (term text COLLATE "C" NOT NULL, document bigint NOT NULL)')
    op.get_bind().execute(text(f"INSERT INTO search_postings (term, document) {_POSTINGS_OF}"))
    op.execute("ALTER TABLE search_postings ADD CONSTRAINT pk_search_postings PRIMARY KEY (term, document)")
