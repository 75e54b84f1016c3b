"""The search index's tables: the analysed documents, and each database's full-text index of them.

``search_documents`` holds one analysed document per process (:mod:`portal.search.documents`),
written in the publishing transaction. Its ``id`` is new each time a process's document is
written (AUTOINCREMENT on SQLite, a sequence on PostgreSQL, never reused), so an index kept
outside the database (Whoosh) catches up with ``id > last id it indexed``.

The full-text index over it (created by the migration, in SQL this module cannot express):
SQLite: ``search_fts``, an FTS5 table with ``search_documents`` as external content (columns
``identifiers`` and ``words``; ``detail=column``: no phrase is ever searched, so positions are not
kept). PostgreSQL: the generated column ``search_documents.tsv`` (``identifiers`` weighted A, ``words``
D, in the ``simple`` configuration: the text is already folded and stemmed) and its postings,
``search_posting_blocks`` (migration 0027: in blocks of document ids; migration 0024 made them one
row each; the GIN index was dropped by migration 0026: no query read it).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, Text

from portal.models import BigId

metadata = MetaData()

search_documents = Table(
    "search_documents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ocid", String(255), nullable=False, unique=True),
    Column("identifiers", Text, nullable=False),
    Column("words", Text, nullable=False),
    sqlite_autoincrement=True,
)

# The highest document id in FTS5's index (its ``docsize`` shadow table has a row per indexed
# document), or NULL when it indexes none: every document up to it is indexed, none above it
# (see portal.search.database.full_text_deferred).
FTS_INDEXED_MAX = "SELECT max(id) FROM search_fts_docsize"
_PENDING = f"FROM search_documents WHERE ({FTS_INDEXED_MAX}) IS NULL OR id > ({FTS_INDEXED_MAX})"
_FTS_CATCH_UP = (
    f"INSERT INTO search_fts(rowid, identifiers, words) SELECT id, identifiers, words {_PENDING} ORDER BY id"
)


def catch_up_full_text(conn: Connection) -> int:
    """Add the documents a bulk load left out of SQLite's full-text index (see
    ``portal.search.database.full_text_deferred``); how many. PostgreSQL: none are ever left
    out."""
    if conn.dialect.name != "sqlite":
        return 0
    return int(conn.exec_driver_sql(_FTS_CATCH_UP).rowcount or 0)


def documents_pending(conn: Connection) -> bool:
    """Whether some documents are not yet in SQLite's full-text index (a bulk load running, or
    killed before its end): search does not find their processes yet."""
    if conn.dialect.name != "sqlite":
        return False
    return bool(conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 {_PENDING})").scalar())
