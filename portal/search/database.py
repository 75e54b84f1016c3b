"""The database's own full-text search: SQLite FTS5 or a PostgreSQL ``tsvector``, one behaviour.

Both index the same analysed documents (:mod:`portal.search.documents`) and answer the same
:class:`~portal.search.text.Query`: every term in its words, or an identifier starting with the
key. The text is folded and stemmed before it reaches the database, so SQLite's ``unicode61``
tokenizer and PostgreSQL's ``simple`` configuration only split it on spaces: the same words
match on both. Ranking: BM25 on SQLite, as FTS5's ``bm25()`` computes it but here, with each
term's rarity estimated (IDF_SAMPLE); PostgreSQL's ``ts_rank``; on both an identifier match
weighs more than words, and only the RANK_WINDOW most recently written matches are ranked (the
newest processes, when a word matches thousands).

Queries are built only from the Query's tokens (lowercase ASCII letters and digits), quoted,
and passed as bound parameters.

Hits are joined with ``records``: a document whose process the database no longer has is never
returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnClause,
    Connection,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)

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

_FTS_WINDOW = text("""
SELECT d.ocid, d.identifiers, d.words FROM (
    SELECT rowid AS id FROM search_fts
    WHERE search_fts MATCH :match ORDER BY rowid DESC LIMIT :window) AS hit
JOIN search_documents AS d ON d.id = hit.id
JOIN records AS r ON r.ocid = d.ocid""")
_FTS_NEWEST = text("SELECT rowid FROM search_fts WHERE search_fts MATCH :match ORDER BY rowid DESC LIMIT :k")
_LAST_ID = text("SELECT max(id) FROM search_documents")

#: SQLite ranks the window itself, with BM25 as FTS5's ``bm25()`` computes it (k1 = 1.2,
#: b = 0.75; a term's frequency in the identifiers weighs KEY_WEIGHT), but not with
#: ``bm25()``: to weigh each term by its rarity, that function counts every match of each
#: term in the whole index, 5-23 ms of CPU per query at 827,000 documents for words such as
#: "oc" and "2024" (every order number has them) against 0.1-1.5 ms for the window alone
#: (bench/search.py, docs/search.md). A term's share of the documents is estimated instead from
#: how far back its newest IDF_SAMPLE matches reach (ids follow publication, so a term
#: matching one document in ten has its 100 newest among the newest 1,000 ids); exact when
#: it has fewer. The average document length is the window's.
IDF_SAMPLE = 100
BM25_K1, BM25_B = 1.2, 0.75


#: How the PostgreSQL engine finds the newest matches. The GIN index gives every match of a
#: query, unordered: the newest window of a query whose words are each common, and common
#: together ("materiales e insumos de limpieza"), cost reading all of its matches (139,615
#: of 827,206 documents, 0.6-3 s), where walking back over the newest documents (by id,
#: checking each one's tsvector) finds 500 in a few thousand rows. The planner cannot tell:
#: it takes the words as independent and expects a few matches. So the engine walks back over
#: at most W = sqrt(PG_BITMAP_ROW_COST x window x documents) of the newest documents (a query
#: matching a share d of them fills its window there when d > window / W), then asks the GIN
#: index for the rest among older ones only, where a rarer query has fewer than
#: window x documents / W matches. Either way on the order of sqrt(window x documents) rows are
#: read (W is about 45,000 for 500 of 1,000,000), instead of up to every document. At least
#: PG_MIN_WALK. A query with a word too rare to fill
#: the window in the walk (by PostgreSQL's statistics, PG_STATS_SECONDS) skips it.
PG_MIN_WALK = 2_000
#: How many times more a row read through the GIN index's bitmap costs than a row walked over
#: (the walk reads neighbouring rows from the same pages): the walk goes sqrt(this) times
#: further than sqrt(window x documents). Measured at 827,000 documents, roughly.
PG_BITMAP_ROW_COST = 4

_PG_RANK = text("""
SELECT d.ocid FROM search_documents AS d
JOIN records AS r ON r.ocid = d.ocid
WHERE d.id = ANY(:ids)
ORDER BY ts_rank(d.tsv, to_tsquery('simple', :match)) DESC, d.ocid
LIMIT :limit""")
#: The share of documents holding each of the most common words, from PostgreSQL's own
#: statistics of the column (ANALYZE; about the 1,000 most common), read again after this many
#: seconds: a query with a word rarer than the walk's threshold is left to the GIN index.
PG_STATS_SECONDS = 600
_PG_COMMON = text(
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE tablename = 'search_documents' AND attname = 'tsv'"
)
_pg_common: dict[str, tuple[float, dict[str, float] | None]] = {}
_PG_LAST_ID = text("SELECT max(id) FROM search_documents")
# Walking back is the only plan for the newest documents (the bitmap scan would read every
# match of the index), the GIN index the only one for older ones (given a large estimate, the
# planner walked back over 525,000 documents for "oc-2024-000", whose matches are old).
_PG_WALK_ONLY = text("SET LOCAL enable_bitmapscan = off")
_PG_GIN_ONLY = (text("SET LOCAL enable_bitmapscan = on"), text("SET LOCAL enable_indexscan = off"))
_PG_ANY_PLAN = (text("SET LOCAL enable_bitmapscan = on"), text("SET LOCAL enable_indexscan = on"))
# A prepared statement's generic plan (psycopg prepares a statement run five times) ignores
# the words; each query is planned for its own.
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
        return _fts5_search(conn, query, window, limit)
    return _pg_search(conn, query, window, limit)


def _idf(conn: Connection, match: str, last: int) -> float:
    """BM25's inverse document frequency of one FTS5 phrase, from the reach of its newest
    IDF_SAMPLE matches (see IDF_SAMPLE); FTS5's formula, never below 1e-6."""
    newest = list(conn.execute(_FTS_NEWEST, {"match": match, "k": IDF_SAMPLE}).scalars())
    if len(newest) < IDF_SAMPLE:
        hits = float(len(newest))
    else:
        hits = IDF_SAMPLE * last / max(1, last - newest[-1] + 1)
    return max(1e-6, math.log((last - hits + 0.5) / (hits + 0.5)))


def _fts5_search(conn: Connection, query: Query, window: int, limit: int) -> list[str]:
    """SQLite: the newest ``window`` matches, ranked by BM25 here (see IDF_SAMPLE)."""
    rows = conn.execute(_FTS_WINDOW, {"match": fts5_match(query), "window": window}).all()
    if not rows:
        return []
    last = conn.execute(_LAST_ID).scalar() or 1
    # A term's frequency: how many times " term " is in the words, doubly spaced so that a
    # repeated word is counted each time; the key's: how many identifiers start with it.
    terms = [(f" {t} ", _idf(conn, f'words : "{t}"', last)) for t in query.terms]
    key = f" {query.key}" if query.key is not None else None
    key_idf = _idf(conn, f'identifiers : "{query.key}" *', last) if query.key is not None else 0.0
    docs = []
    total = 0
    for ocid, identifiers, words in rows:
        spaced = " " + words.replace(" ", "  ") + " "
        freqs = [(idf, spaced.count(term)) for term, idf in terms]
        if key is not None:
            freqs.append((key_idf, KEY_WEIGHT * (" " + identifiers).count(key)))
        length = (words.count(" ") + 1 if words else 0) + identifiers.count(" ") + 1
        total += length
        docs.append((ocid, freqs, length))
    average = total / len(docs)
    k1, b = BM25_K1, BM25_B
    scored = sorted(
        (
            -sum(idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average)) for idf, tf in freqs if tf),
            ocid,
        )
        for ocid, freqs, length in docs
    )
    return [ocid for _, ocid in scored[:limit]]


def _pg_shares(conn: Connection) -> dict[str, float] | None:
    """Word -> share of documents holding it, for the most common words (None without
    statistics), cached for PG_STATS_SECONDS."""
    key = str(conn.engine.url)
    read_at, shares = _pg_common.get(key, (0.0, None))
    if time.monotonic() - read_at > PG_STATS_SECONDS:
        row = conn.execute(_PG_COMMON).first()
        shares = dict(zip(row[0], row[1], strict=False)) if row and row[0] else None
        _pg_common[key] = (time.monotonic(), shares)
    return shares


def _pg_search(conn: Connection, query: Query, window: int, limit: int) -> list[str]:
    """PostgreSQL: the newest ``window`` matches (first by walking back over the newest
    documents when every word is common, then from the GIN index among older ones: see
    PG_MIN_WALK), ranked."""
    last = conn.execute(_PG_LAST_ID).scalar()
    if last is None:
        return []
    # The words and the identifier prefix as two conditions, not one tsquery "words | key":
    # the GIN index then skips through the common words' lists by the rarest one (a query
    # such as "oc-2024-000", whose words "oc" and "2024" are in nearly every document, read
    # all of them: 2.5 times slower).
    conds, params = [], {}
    if query.terms:
        conds.append("tsv @@ to_tsquery('simple', :words)")
        params["words"] = " & ".join(f"'{t}':D" for t in query.terms)
    if query.key is not None:
        conds.append("tsv @@ to_tsquery('simple', :key)")
        params["key"] = f"'{query.key}':*A"
    where = "(" + " OR ".join(conds) + ")"
    walk = max(PG_MIN_WALK, math.isqrt(PG_BITMAP_ROW_COST * window * last))
    floor = last - walk
    conn.execute(_PG_CUSTOM_PLANS)
    ids: list[int] = []
    shares = _pg_shares(conn)
    common = shares is None or (
        bool(query.terms) and min(shares.get(t, 0.0) for t in query.terms) * walk >= window
    )
    if common:
        conn.execute(_PG_WALK_ONLY)
        newest = text(
            f"SELECT id FROM search_documents WHERE id > :floor AND {where} ORDER BY id DESC LIMIT :window"
        )
        ids += conn.execute(newest, {**params, "floor": floor, "window": window}).scalars()
    else:
        floor = last
    if len(ids) < window:
        for statement in _PG_GIN_ONLY:
            conn.execute(statement)
        older = text(
            f"SELECT id FROM search_documents WHERE id <= :floor AND {where} ORDER BY id DESC LIMIT :window"
        )
        ids += conn.execute(older, {**params, "floor": floor, "window": window - len(ids)}).scalars()
    for statement in _PG_ANY_PLAN:
        conn.execute(statement)
    if not ids:
        return []
    rows = conn.execute(_PG_RANK, {"ids": ids, "match": pg_tsquery(query), "limit": limit})
    return [ocid for (ocid,) in rows]


def matching(dialect: str, query: Query) -> Select | None:
    """Every process whose document matches ``query`` (every term in its words, or an
    identifier starting with its key), unranked and unlimited, as a SELECT of their ocids to use
    as a subquery (``records.ocid IN (...)``); None for an empty query.

    What a listing filtered by ``q``, its total and its facet counts are taken over, so that
    they are exact however many processes match (the ranked search stops at MAX_LIMIT). It
    reads the database's full-text index whatever SEARCH_ENGINE is: every engine indexes these
    same documents and finds the same set; they differ only in how they rank it."""
    if query.empty:
        return None
    docs = search_documents
    if dialect == "sqlite":
        fts: ColumnClause[Any] = literal_column("search_fts")
        hits: Select[Any] = select(literal_column("rowid")).select_from(table("search_fts"))
        hits = hits.where(fts.op("MATCH")(bindparam(None, fts5_match(query))))
        return select(docs.c.ocid).where(docs.c.id.in_(hits))
    return select(docs.c.ocid).where(_pg_condition(query))


def _pg_condition(query: Query):
    tsv: ColumnClause[Any] = literal_column("search_documents.tsv")
    conds = []
    if query.terms:
        words = " & ".join(f"'{t}':D" for t in query.terms)
        conds.append(tsv.op("@@")(func.to_tsquery(literal_column("'simple'"), bindparam(None, words))))
    if query.key is not None:
        key = f"'{query.key}':*A"
        conds.append(tsv.op("@@")(func.to_tsquery(literal_column("'simple'"), bindparam(None, key))))
    return or_(*conds)


def matching_ids(conn: Connection, query: Query) -> np.ndarray:
    """The ids (``search_documents.id``) of the documents :func:`matching` finds, as a numpy
    array in no particular order (empty for an empty query).

    For the facet tally, which maps document ids to its positions: a word every one of a
    million documents holds is read as FTS5 rowids without visiting ``search_documents``, and
    handed over as one comma-separated text that numpy parses (a row per match through the
    driver cost about 0.35 s of CPU at 1,033,600 matches, the ocids 0.7 s, hashing them as
    much again; the text about 0.1 s). A rowid FTS5 holds that no document has any more
    (none should) matches no position of the tally, which knows only documents' ids, so the
    set is :func:`matching`'s."""
    if query.empty:
        return np.zeros(0, dtype=np.int64)
    if conn.dialect.name == "sqlite":
        sql = text("SELECT group_concat(rowid) FROM search_fts WHERE search_fts MATCH :m")
        joined = conn.execute(sql, {"m": fts5_match(query)}).scalar()
    else:
        agg = func.string_agg(cast(search_documents.c.id, Text), literal_column("','"))
        joined = conn.execute(select(agg).where(_pg_condition(query))).scalar()
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


#: SQLite: a text matching at least this many documents is "common" (see :func:`walk_condition`).
COMMON_MATCHES = 5000


_PG_ROWS = text("SELECT reltuples FROM pg_class WHERE relname = 'search_documents'")


def is_common(conn: Connection, query: Query) -> bool:
    """Whether ``query`` matches at least COMMON_MATCHES documents. SQLite: reading no more of
    the full-text index than that many of its newest matches. PostgreSQL: by its statistics of
    the column (the most common words' shares, :func:`_pg_shares`), for the words only (an
    identifier prefix alone is never taken as common); False without statistics."""
    if query.empty:
        return False
    if conn.dialect.name != "sqlite":
        shares = _pg_shares(conn) if query.terms else None
        if not shares:
            return False
        rows = float(conn.execute(_PG_ROWS).scalar() or 0)
        return min(shares.get(t, 0.0) for t in query.terms) * rows >= COMMON_MATCHES
    probe = text("SELECT count(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH :m LIMIT :k)")
    return (
        int(conn.execute(probe, {"m": fts5_match(query), "k": COMMON_MATCHES}).scalar_one()) >= COMMON_MATCHES
    )


def pg_walk_condition(query: Query, ocid_column):
    """PostgreSQL: the same set as :func:`matching`, as a condition checked process by process:
    the process's ``tsv`` (a scalar subquery, which PostgreSQL cannot turn into a hashed set as
    it does an EXISTS or IN within an OR) against the query. A page of a word in every one of
    1,033,600 processes: 14 ms instead of 3.4-33 s (every match read)."""
    tsv = (
        select(literal_column("walk_doc.tsv"))
        .select_from(search_documents.alias("walk_doc"))
        .where(literal_column("walk_doc.ocid") == ocid_column)
        .scalar_subquery()
    )
    conds = []
    if query.terms:
        words = " & ".join(f"'{t}':D" for t in query.terms)
        conds.append(tsv.op("@@")(func.to_tsquery(literal_column("'simple'"), bindparam(None, words))))
    if query.key is not None:
        key = f"'{query.key}':*A"
        conds.append(tsv.op("@@")(func.to_tsquery(literal_column("'simple'"), bindparam(None, key))))
    return or_(*conds)


def walk_condition(query: Query, ocid_column):
    """SQLite: the same set as :func:`matching`, as a condition checked process by process (the
    process's document, then FTS5 asked about that one document): for a listing's page of a
    common text, which then walks its sort's index and stops at a page, where SQLite read every
    match of :func:`matching` and sorted them (1.8 s of CPU against 11 ms at a million
    processes, for a word in each of them; 0.6 s against 14 ms for one in 160,000). For a
    rare text the walk would pass every process: :func:`matching` is the form then."""
    docs = search_documents.alias("walk_doc")
    fts: ColumnClause[Any] = literal_column("search_fts")
    in_fts: Select[Any] = (
        select(literal_column("1"))
        .select_from(table("search_fts"))
        .where(
            fts.op("MATCH")(bindparam(None, fts5_match(query))),
            literal_column("search_fts.rowid") == docs.c.id,
        )
    )
    return select(literal_column("1")).where(docs.c.ocid == ocid_column, in_fts.exists()).exists()


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
