"""The database's own full-text search: SQLite FTS5 or a PostgreSQL ``tsvector``, one behaviour.

Both index the same analysed documents (:mod:`portal.search.documents`) and answer the same
:class:`~portal.search.text.Query`: every term in its words, or an identifier starting with the
key. The text is folded and stemmed before it reaches the database, so SQLite's ``unicode61``
tokenizer and PostgreSQL's ``simple`` configuration only split it on spaces: the same words
match on both. Ranking is each database's own: FTS5's BM25 (``bm25()``), PostgreSQL's
``ts_rank``; on both an identifier match weighs more than words.

Queries are built only from the Query's tokens (lowercase ASCII letters and digits), quoted,
and passed as bound parameters.

Hits are joined with ``records``: a document whose process the database no longer has is never
returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, bindparam, delete, select, text

from portal.db import IN_CLAUSE_CHUNK, bulk_insert
from portal.search.documents import Document
from portal.search.tables import search_documents
from portal.search.text import Query

#: How much more an identifier match weighs than a word match in FTS5's BM25 (on PostgreSQL
#: the weights of ``ts_rank``, A = 1.0 for identifiers against D = 0.1 for words, do the same).
KEY_WEIGHT = 10.0

_FTS_DELETE = text("INSERT INTO search_fts(search_fts, rowid, identifiers, words) "
                   "VALUES ('delete', :id, :identifiers, :words)")
_FTS_INSERT = text("INSERT INTO search_fts(rowid, identifiers, words) SELECT id, identifiers, words "
                   "FROM search_documents WHERE ocid IN :ocids").bindparams(
    bindparam("ocids", expanding=True))
_FTS_SEARCH = text(f"""
SELECT d.ocid FROM search_fts
JOIN search_documents AS d ON d.id = search_fts.rowid
JOIN records AS r ON r.ocid = d.ocid
WHERE search_fts MATCH :match
ORDER BY bm25(search_fts, {KEY_WEIGHT}, 1.0), d.ocid
LIMIT :limit""")
_PG_SEARCH = text("""
SELECT d.ocid FROM search_documents AS d
JOIN records AS r ON r.ocid = d.ocid
WHERE d.tsv @@ to_tsquery('simple', :match)
ORDER BY ts_rank(d.tsv, to_tsquery('simple', :match)) DESC, d.ocid
LIMIT :limit""")


def fts5_match(query: Query) -> str:
    """The FTS5 MATCH expression of ``query`` (its tokens are letters and digits only)."""
    parts = []
    if query.terms:
        parts.append("(words : (" + " AND ".join(f'"{t}"' for t in query.terms) + "))")
    if query.key is not None:
        parts.append(f'(identifiers : "{query.key}" *)')
    return " OR ".join(parts)


def pg_tsquery(query: Query) -> str:
    """The ``to_tsquery('simple', ...)`` text of ``query``: words weighted D,
    the identifier prefix weighted A."""
    parts = []
    if query.terms:
        parts.append("(" + " & ".join(f"'{t}':D" for t in query.terms) + ")")
    if query.key is not None:
        parts.append(f"'{query.key}':*A")
    return " | ".join(parts)


def search(conn: Connection, query: Query, limit: int) -> list[str]:
    """The ocids of the best ``limit`` processes for ``query``, best first."""
    if query.empty:
        return []
    if conn.dialect.name == "sqlite":
        rows = conn.execute(_FTS_SEARCH, {"match": fts5_match(query), "limit": limit})
    else:
        rows = conn.execute(_PG_SEARCH, {"match": pg_tsquery(query), "limit": limit})
    return [ocid for (ocid,) in rows]


def write_documents(conn: Connection, ocids: Iterable[str], docs: Sequence[Document]) -> None:
    """Replace the documents of ``ocids`` with ``docs`` (an ocid without a document loses its
    own), in ``conn``'s transaction."""
    wanted = list(dict.fromkeys([*ocids, *(d.ocid for d in docs)]))
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = wanted[i:i + IN_CLAUSE_CHUNK]
        if sqlite:
            old = conn.execute(select(search_documents.c.id, search_documents.c.identifiers,
                                      search_documents.c.words)
                               .where(search_documents.c.ocid.in_(chunk))).mappings().all()
            if old:
                conn.execute(_FTS_DELETE, [dict(r) for r in old])
        conn.execute(delete(search_documents).where(search_documents.c.ocid.in_(chunk)))
    if not docs:
        return
    bulk_insert(conn, search_documents,
                [{"ocid": d.ocid, "identifiers": d.identifiers, "words": d.words} for d in docs])
    if sqlite:
        fresh = [d.ocid for d in docs]
        for i in range(0, len(fresh), IN_CLAUSE_CHUNK):
            conn.execute(_FTS_INSERT, {"ocids": fresh[i:i + IN_CLAUSE_CHUNK]})


def drop_orphans(conn: Connection) -> int:
    """Remove the documents of processes the database no longer has; how many were removed."""
    orphans = text("SELECT id, identifiers, words FROM search_documents AS d "
                   "WHERE NOT EXISTS (SELECT 1 FROM records AS r WHERE r.ocid = d.ocid)")
    old = [dict(r) for r in conn.execute(orphans).mappings()]
    if old and conn.dialect.name == "sqlite":
        conn.execute(_FTS_DELETE, old)
    ids = [r["id"] for r in old]
    for i in range(0, len(ids), IN_CLAUSE_CHUNK):
        conn.execute(delete(search_documents).where(search_documents.c.id.in_(ids[i:i + IN_CLAUSE_CHUNK])))
    return len(ids)


def optimize(conn: Connection) -> None:
    """Merge the index's segments after a rebuild (SQLite FTS5; PostgreSQL needs nothing)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
