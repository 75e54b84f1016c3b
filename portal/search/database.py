"""The database's own full-text search: SQLite FTS5 or a PostgreSQL ``tsvector``, one behaviour.

Both index the same analysed documents (:mod:`portal.search.documents`) and answer the same
:class:`~portal.search.text.Query`: every term in its words, or an identifier starting with the
key. The text is folded and stemmed before it reaches the database, so SQLite's ``unicode61``
tokenizer and PostgreSQL's ``simple`` configuration only split it on spaces: the same words
match on both. Ranking is each database's own: FTS5's BM25 (``bm25()``), PostgreSQL's
``ts_rank``; on both an identifier match weighs more than words, and only the RANK_WINDOW most
recently written matches are ranked (the newest processes, when a word matches thousands).

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

_FTS_DELETE = text(
    "INSERT INTO search_fts(search_fts, rowid, identifiers, words) "
    "VALUES ('delete', :id, :identifiers, :words)"
)
_FTS_INSERT = text(
    "INSERT INTO search_fts(rowid, identifiers, words) SELECT id, identifiers, words "
    "FROM search_documents WHERE ocid IN :ocids"
).bindparams(bindparam("ocids", expanding=True))
#: Matches ranked: the most recently written this many (by document id, which follows
#: publication). A word such as "impresoras" matches a tenth of all processes, and ranking
#: them all cost 100-200 ms at 100,000 processes (FTS5's bm25 reads every match's size and
#: counts every match of each word; ts_rank reads every match's tsvector) against 5-15 ms for
#: this many (bench/search.py, docs/search.md). A query with fewer matches is ranked whole.
RANK_WINDOW = 500

_FTS_SEARCH = text(f"""
SELECT d.ocid FROM (
    SELECT rowid AS id, bm25(search_fts, {KEY_WEIGHT}, 1.0) AS score FROM search_fts
    WHERE search_fts MATCH :match ORDER BY rowid DESC LIMIT :window) AS hit
JOIN search_documents AS d ON d.id = hit.id
JOIN records AS r ON r.ocid = d.ocid
ORDER BY hit.score, d.ocid
LIMIT :limit""")
_PG_SEARCH = text("""
SELECT d.ocid FROM (
    SELECT id FROM search_documents WHERE tsv @@ to_tsquery('simple', :match)
    ORDER BY id DESC LIMIT :window) AS hit
JOIN search_documents AS d ON d.id = hit.id
JOIN records AS r ON r.ocid = d.ocid
ORDER BY ts_rank(d.tsv, to_tsquery('simple', :match)) DESC, d.ocid
LIMIT :limit""")
# The window's best plan depends on the words: walking ids backwards for a common word, the
# GIN index for a rare one. A prepared statement's generic plan (psycopg prepares a statement
# run five times) cannot tell them apart and chose the bitmap scan of every match.
_PG_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


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
    """The ocids of the best ``limit`` processes for ``query``, best first: the engine's rank
    (identifiers weighing more than words) over the RANK_WINDOW most recently written matches,
    ties by ocid."""
    if query.empty:
        return []
    window = max(RANK_WINDOW, limit)
    if conn.dialect.name == "sqlite":
        rows = conn.execute(_FTS_SEARCH, {"match": fts5_match(query), "window": window, "limit": limit})
    else:
        conn.execute(_PG_CUSTOM_PLANS)
        rows = conn.execute(_PG_SEARCH, {"match": pg_tsquery(query), "window": window, "limit": limit})
    return [ocid for (ocid,) in rows]


def write_documents(conn: Connection, ocids: Iterable[str], docs: Sequence[Document]) -> None:
    """Replace the documents of ``ocids`` with ``docs`` (an ocid without a document loses its
    own), in ``conn``'s transaction."""
    wanted = list(dict.fromkeys([*ocids, *(d.ocid for d in docs)]))
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(wanted), IN_CLAUSE_CHUNK):
        chunk = wanted[i : i + IN_CLAUSE_CHUNK]
        if sqlite:
            old = (
                conn.execute(
                    select(
                        search_documents.c.id, search_documents.c.identifiers, search_documents.c.words
                    ).where(search_documents.c.ocid.in_(chunk))
                )
                .mappings()
                .all()
            )
            if old:
                conn.execute(_FTS_DELETE, [dict(r) for r in old])
        conn.execute(delete(search_documents).where(search_documents.c.ocid.in_(chunk)))
    if not docs:
        return
    bulk_insert(
        conn,
        search_documents,
        [{"ocid": d.ocid, "identifiers": d.identifiers, "words": d.words} for d in docs],
    )
    if sqlite:
        fresh = [d.ocid for d in docs]
        for i in range(0, len(fresh), IN_CLAUSE_CHUNK):
            conn.execute(_FTS_INSERT, {"ocids": fresh[i : i + IN_CLAUSE_CHUNK]})


def drop_orphans(conn: Connection) -> int:
    """Remove the documents of processes the database no longer has; how many were removed."""
    orphans = text(
        "SELECT id, identifiers, words FROM search_documents AS d "
        "WHERE NOT EXISTS (SELECT 1 FROM records AS r WHERE r.ocid = d.ocid)"
    )
    old = [dict(r) for r in conn.execute(orphans).mappings()]
    if old and conn.dialect.name == "sqlite":
        conn.execute(_FTS_DELETE, old)
    ids = [r["id"] for r in old]
    for i in range(0, len(ids), IN_CLAUSE_CHUNK):
        conn.execute(delete(search_documents).where(search_documents.c.id.in_(ids[i : i + IN_CLAUSE_CHUNK])))
    return len(ids)


def reindex_full_text(conn: Connection) -> None:
    """Build the full-text index again from the stored documents (SQLite FTS5; PostgreSQL's
    generated column cannot disagree with them). It repairs an index that a change made
    behind its back (a document row deleted by hand) left out of step with its documents, on
    which FTS5 reports the database as malformed; it costs seconds at 100,000 documents."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))


def optimize(conn: Connection) -> None:
    """Merge the index's segments after a rebuild (SQLite FTS5; PostgreSQL needs nothing)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
