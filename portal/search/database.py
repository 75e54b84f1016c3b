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
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnClause,
    CompoundSelect,
    Connection,
    Engine,
    Label,
    Select,
    SmallInteger,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    column,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)

from portal.db import IN_CLAUSE_CHUNK, bulk_insert, in_list
from portal.search.documents import Document
from portal.search.tables import FTS_INDEXED_MAX, catch_up_full_text, search_documents
from portal.search.text import Query

#: How much more an identifier match weighs than a word match in FTS5's BM25 (on PostgreSQL
#: the weights of ``ts_rank``, A = 1.0 for identifiers against D = 0.1 for words, do the same).
KEY_WEIGHT = 10.0

_FTS_DELETE = text(
    "INSERT INTO search_fts(search_fts, rowid, identifiers, words) "
    "VALUES ('delete', :id, :identifiers, :words)"
)
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


#: How the PostgreSQL engine finds the newest matches: its postings, one per (weight and word,
#: document id) of each document's ``tsvector``, stored in blocks (``search_posting_blocks``,
#: migration 0027): one row per word and block of PG_BLOCK_SIZE consecutive document ids, the
#: block's documents as offsets in it (``smallint[]``, in no particular order), with a b-tree
#: primary key on (term, block). A word's documents are then one range of the index, block by
#: block in document order, read newest block first, and a query's words are a merge of such
#: ranges on the block that stops at the window. The GIN index of the ``tsvector`` gives every
#: match of a query unordered, so its newest window cost reading all of them (and each one's
#: row, to recheck it): 0.1-0.4 s for words each in tens of thousands of documents at 827,206
#: documents (docs/search.md). Words much more common than the rarest of the query (more than
#: PG_MERGE_RATIO times, by PostgreSQL's statistics) are not merged but looked up for each
#: document the merge finds (an index probe costs about as much as reading PG_MERGE_RATIO
#: entries of a range).
PG_MERGE_RATIO = 8
#: An identifier prefix: the identifiers it names are listed first (a skip through the index,
#: one step each); up to this many are each read newest first and merged, more (a short
#: prefix such as "oc-2024-0", thousands of order numbers) are read whole.
PG_KEY_TERMS = 16
#: The postings' terms: the weight of the word in the ``tsvector`` (A: an identifier, D: a
#: word of the text) followed by the word, so that the words of each kind are one range.
WEIGHTS = ("A", "D")
#: Document ids per block of the postings: a block's offsets fit a ``smallint`` and a word in
#: every document of a block takes 2 KB, under the size at which PostgreSQL would compress the
#: row. One row per (word, document) was 28,858,800 rows at 827,206 documents, and storing and
#: sorting them into their b-tree cost about 50 s of a 83 s build; in blocks of 1,024 they are
#: about 4 million rows (docs/search.md).
PG_BLOCK_BITS = 10
PG_BLOCK_SIZE = 1 << PG_BLOCK_BITS
_MASK = PG_BLOCK_SIZE - 1

#: The share of documents holding each of the most common words, from PostgreSQL's own
#: statistics of the column (ANALYZE; about the 1,000 most common), read again after this many
#: seconds: the order in which a query's words are merged, and which are looked up instead.
PG_STATS_SECONDS = 600
_PG_COMMON = text(
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE tablename = 'search_documents' AND attname = 'tsv'"
)
_pg_common: dict[str, tuple[float, dict[str, float] | None]] = {}
# The merge is the plan for the words of a window (ranges read in document order, stopping
# at the window); the planner, which takes the words as independent and knows only the 100
# most common terms of the postings, otherwise hashed whole lists or probed a common word's
# documents one by one. Parallel workers cost more to start than such a query takes. A
# prepared statement's generic plan (psycopg prepares a statement run five times) would ignore
# the words: each query is planned for its own. The search's one statement has no other join
# (its documents are read by id, their records checked by a scalar subquery), so these
# settings hold for the whole of it, but for its identifier prefix's lateral join, which can only
# be a nested loop: its cost then counts the setting's penalty, which made PostgreSQL compile
# the statement (JIT, about 250 ms): JIT is off for it.
_PG_SEARCH_SETTINGS = {
    "plan_cache_mode": "force_custom_plan",
    "enable_hashjoin": "off",
    "enable_nestloop": "off",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "enable_bitmapscan": "off",
    "enable_sort": "off",
}
# One statement (a round trip each costs about as much as the words' merge): the settings as
# they were, and set for this transaction; then put back after the search.
_PG_SET = text(
    "SELECT "
    + ", ".join(f"current_setting('{name}')" for name in _PG_SEARCH_SETTINGS)
    + ", "
    + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in _PG_SEARCH_SETTINGS.items())
)
_PG_RESTORE = text(
    "SELECT " + ", ".join(f"set_config('{name}', :s{i}, true)" for i, name in enumerate(_PG_SEARCH_SETTINGS))
)
# The postings of the documents of some ocids, from their tsvector itself (so that they hold
# exactly the words and weights ``tsv @@`` matches): written after the documents, deleted
# before them. Each weight's lexemes are the tsvector filtered to it (``ts_filter``: the
# lexemes with a position of that weight), as an array: 4.7 s of the server's CPU for the
# 28,858,800 postings of 827,206 documents, against 12.6 s for ``unnest(tsv)`` joined with the
# two weights (``weight = ANY(weights)``: the same rows, docs/search.md).
PG_POSTINGS_OF = """
SELECT posting.term, d.id AS document
FROM search_documents AS d CROSS JOIN LATERAL (
    SELECT 'A' || lexeme FROM unnest(tsvector_to_array(ts_filter(d.tsv, '{a}'))) AS lexeme
    UNION ALL
    SELECT 'D' || lexeme FROM unnest(tsvector_to_array(ts_filter(d.tsv, '{d}'))) AS lexeme
) AS posting(term)"""
#: The postings as stored, one row per (term, document): each block's offsets made document ids
#: again (the audit compares them with :data:`PG_POSTINGS_OF`).
PG_STORED_POSTINGS = f"""
SELECT b.term, (b.block << {PG_BLOCK_BITS}) + o.offset_ AS document
FROM search_posting_blocks AS b CROSS JOIN LATERAL unnest(b.offsets) AS o(offset_)"""
# Postings made blocks: (term, block, offsets) of the postings of the documents ``:where``
# selects (replaced by a condition on ``d``).
_PG_BLOCKS_OF = f"""
SELECT p.term, p.document >> {PG_BLOCK_BITS} AS block,
    array_agg(CAST(p.document & {_MASK} AS smallint)) AS offsets
FROM ({PG_POSTINGS_OF} WHERE :where) AS p GROUP BY p.term, p.document >> {PG_BLOCK_BITS}"""
#: Every block of the documents of blocks ``:first`` to ``:last``: each block's postings are
#: grouped by term on their own (a hash of a few thousand terms; one grouping of all the
#: postings would hash or sort tens of millions of rows), and the blocks written in the index's
#: order, so that a word's blocks are neighbours in the table too: a query reads each block
#: it merges from the table (an index scan), and a word in one document of each of hundreds
#: of blocks cost a page per block written in block order (the benchmark's median 6.2 ms against
#: 5.0 ms in the index's order, 827,206 documents, docs/search.md). The postings of
#: :data:`PG_POSTINGS_OF`, each weight's lexemes grouped apart and prefixed once per block
#: rather than once per posting (11% less of the server's time). The build (the rebuild,
#: migration 0027, bench/search.py, which runs it in two connections on two halves).
PG_FILL_BLOCKS = (
    """
INSERT INTO search_posting_blocks (term, block, offsets)
SELECT g.term, b.block, g.offsets
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS b(block) CROSS JOIN LATERAL ("""
    + " UNION ALL".join(
        f"""
    SELECT '{weight}' || lexeme, array_agg(CAST(d.id & {_MASK} AS smallint))
    FROM search_documents AS d
    CROSS JOIN LATERAL unnest(tsvector_to_array(ts_filter(d.tsv, '{{{weight.lower()}}}'))) AS lexeme
    WHERE d.id >= b.block << {PG_BLOCK_BITS} AND d.id < (b.block + 1) << {PG_BLOCK_BITS}
    GROUP BY lexeme"""
        for weight in WEIGHTS
    )
    + """
) AS g(term, offsets)
ORDER BY g.term, b.block"""
)
# A written document's id is new (a sequence), so its postings are added to its blocks as they
# are; concurrent writers each add theirs (the conflicting row is locked and read again).
_PG_POSTINGS_INSERT = text(
    "INSERT INTO search_posting_blocks (term, block, offsets) "
    + _PG_BLOCKS_OF.replace(":where", "d.ocid = ANY(:ocids)")
    + " ON CONFLICT (term, block) DO UPDATE "
    "SET offsets = search_posting_blocks.offsets || excluded.offsets"
)


def _pg_postings_delete(where: str) -> Any:
    """The statement removing the postings of the documents ``where`` selects from their
    blocks; it returns the (term, block) of the blocks it left empty."""
    return text(
        f"WITH gone AS ({_PG_BLOCKS_OF.replace(':where', where)}), "
        "kept AS (UPDATE search_posting_blocks AS b "
        "SET offsets = ARRAY(SELECT o FROM unnest(b.offsets) AS o WHERE o <> ALL(gone.offsets)) "
        "FROM gone WHERE b.term = gone.term AND b.block = gone.block RETURNING b.term, b.block, b.offsets) "
        "SELECT term, block FROM kept WHERE cardinality(offsets) = 0"
    )


_PG_POSTINGS_DELETE = _pg_postings_delete("d.ocid = ANY(:ocids)")
_PG_POSTINGS_DELETE_IDS = _pg_postings_delete("d.id = ANY(:ids)")
_PG_EMPTY_BLOCKS_DELETE = text(
    "DELETE FROM search_posting_blocks WHERE (term, block) IN "
    "(SELECT * FROM unnest(CAST(:terms AS text[]), CAST(:blocks AS bigint[]))) AND cardinality(offsets) = 0"
)


def _pg_delete_postings(conn: Connection, statement: Any, params: dict[str, Any]) -> None:
    """Remove some documents' postings (``statement``, :func:`_pg_postings_delete`), and the
    blocks left empty (a later statement: a statement cannot change a row twice)."""
    emptied = conn.execute(statement, params).all()
    if emptied:
        conn.execute(
            _PG_EMPTY_BLOCKS_DELETE, {"terms": [t for t, _ in emptied], "blocks": [b for _, b in emptied]}
        )


# A term's documents: each of its blocks' offsets made document ids again (a set-returning
# function in the SELECT list: no join, so none of the joins the search's settings disable).
_PG_DOCUMENTS = f"(b.block << {PG_BLOCK_BITS}) + unnest(b.offsets)"
# An identifier prefix's newest documents, as common table expressions of the search's
# statement (``key``, newest first): its terms listed by a recursive skip through the index
# (``key_terms``, at most PG_KEY_TERMS + 1); up to PG_KEY_TERMS of them each read newest first
# (block by block, each block's documents sorted: an incremental sort) and merged, more the
# prefix's range read whole. The two branches are gated by uncorrelated conditions (one-time
# filters): only one is executed.
_PG_KEY_CTES = f"""
key_skip(term) AS (
    SELECT min(term) FROM search_posting_blocks WHERE term >= :key_lo AND term < :key_hi
    UNION ALL
    SELECT (SELECT min(term) FROM search_posting_blocks WHERE term > key_skip.term AND term < :key_hi)
    FROM key_skip WHERE key_skip.term IS NOT NULL
),
key_terms AS MATERIALIZED (SELECT term FROM key_skip WHERE term IS NOT NULL LIMIT :key_n),
key AS MATERIALIZED (
    SELECT x.document FROM key_terms CROSS JOIN LATERAL (
        SELECT {_PG_DOCUMENTS} AS document FROM search_posting_blocks AS b WHERE b.term = key_terms.term
        ORDER BY b.block DESC, document DESC LIMIT :window) AS x
    WHERE (SELECT count(*) FROM key_terms) <= :key_max
    UNION
    (SELECT DISTINCT r.document FROM (
        SELECT {_PG_DOCUMENTS} AS document FROM search_posting_blocks AS b
        WHERE b.term >= :key_lo AND b.term < :key_hi) AS r
    WHERE (SELECT count(*) FROM key_terms) > :key_max
    ORDER BY r.document DESC LIMIT :window)
)"""


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


def _key_range(key: str) -> tuple[str, str]:
    """The postings' terms of the identifiers starting with ``key`` (letters and digits):
    ``lo <= term < hi`` in the column's byte order (collation "C")."""
    lo = "A" + key
    return lo, lo[:-1] + chr(ord(lo[-1]) + 1)


def _pg_merge_plan(conn: Connection, terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """The query's words to merge (rarest first) and those to look up for each document the
    merge finds (more than PG_MERGE_RATIO times as common as the rarest, by the statistics:
    see PG_MERGE_RATIO). A word the statistics do not list is rarer than any they list."""
    shares = _pg_shares(conn) or {}
    ordered = sorted(terms, key=lambda t: (shares.get(t, 0.0), t))
    rarest = max(shares.get(ordered[0], 0.0), min(shares.values(), default=0.0))
    merged = ordered[:1] + [t for t in ordered[1:] if shares.get(t, 0.0) <= PG_MERGE_RATIO * rarest]
    return merged, [t for t in ordered if t not in merged]


def _pg_words_sql(conn: Connection, terms: Sequence[str], params: dict[str, Any]) -> str:
    """A SELECT of the ids of the newest ``:window`` documents holding every word of ``terms``,
    newest first (its parameters added to ``params``): the rarer words' ranges merged in
    document order, newest first, the commoner ones looked up for each document found (a
    scalar subquery, which the planner cannot turn into a join that reads their whole range)."""
    merged, looked_up = _pg_merge_plan(conn, terms)
    joins, arrays, inside, checks = [], [], [], []
    for i, term in enumerate(merged):
        params[f"m{i}"] = "D" + term
        if i:
            joins.append(f"JOIN search_posting_blocks AS m{i} ON m{i}.block = b.block AND m{i}.term = :m{i}")
            arrays.append(f", m{i}.offsets AS o{i}")
            inside.append(f"CAST(f.document & {_MASK} AS smallint) = ANY(f.o{i})")
    for i, term in enumerate(looked_up):
        params[f"c{i}"] = "D" + term
        checks.append(
            f"(SELECT 1 FROM search_posting_blocks AS c{i} WHERE c{i}.term = :c{i} AND c{i}.block = m.block "
            f"AND CAST(m.document & {_MASK} AS smallint) = ANY(c{i}.offsets)) IS NOT NULL"
        )
    # The rarest word's blocks (b) joined on the block with the other merged words' (a merge
    # join: each read newest block first), each of its documents kept if in their blocks too
    # (f), then sorted block by block (an incremental sort: the search's settings disable the
    # full sort, which the planner, expecting few documents to pass, chose, reading every block
    # of the rarest word where a window is often its newest few). OFFSET 0 keeps each step a
    # subquery: the lookups are made on what the merge found, not pushed down to the rarest
    # word's range (where they ran once per document of that word).
    return (
        "SELECT m.document FROM (SELECT f.block, f.document FROM "
        f"(SELECT b.block, {_PG_DOCUMENTS} AS document"
        + "".join(arrays)
        + " FROM search_posting_blocks AS b "
        + " ".join(joins)
        + " WHERE b.term = :m0 ORDER BY b.block DESC OFFSET 0) AS f"
        + (" WHERE " + " AND ".join(inside) if inside else "")
        + " ORDER BY f.block DESC, f.document DESC OFFSET 0) AS m"
        + (" WHERE " + " AND ".join(checks) if checks else "")
        + " ORDER BY m.block DESC, m.document DESC LIMIT :window"
    )


def _pg_window_sql(conn: Connection, query: Query, window: int, params: dict[str, Any]) -> tuple[str, str]:
    """The newest ``window`` matches of ``query`` (not empty) from the postings, as
    ``(with, newest)``: a WITH clause (the words' documents and the identifier prefix's, each
    newest first) and a SELECT of the ids of the newest ``window`` of either, newest first.
    Parameters are added to ``params``; run under the search's settings (_PG_SET)."""
    params["window"] = window
    ctes, parts = [], []
    if query.terms:
        ctes.append(f"words AS MATERIALIZED ({_pg_words_sql(conn, query.terms, params)})")
        parts.append("SELECT document FROM words")
    if query.key is not None:
        params["key_lo"], params["key_hi"] = _key_range(query.key)
        params["key_n"], params["key_max"] = PG_KEY_TERMS + 1, PG_KEY_TERMS
        ctes.append(_PG_KEY_CTES)
        parts.append("SELECT document FROM key")
    newest = (
        "SELECT document FROM (" + " UNION ".join(parts) + ") AS hit ORDER BY document DESC LIMIT :window"
    )
    return "WITH RECURSIVE " + ", ".join(ctes), newest


def _pg_settings(conn: Connection) -> dict[str, Any]:
    """Set the search's planner settings for this transaction; the parameters of _PG_RESTORE
    that put back those it had."""
    before = conn.execute(_PG_SET).one()[: len(_PG_SEARCH_SETTINGS)]
    return {f"s{i}": value for i, value in enumerate(before)}


def _pg_window(conn: Connection, query: Query, window: int) -> list[int]:
    """The ids of the newest ``window`` matches of ``query`` (not empty), newest first: what
    the search ranks (:func:`_pg_search`)."""
    restore = _pg_settings(conn)
    params: dict[str, Any] = {}
    with_, newest = _pg_window_sql(conn, query, window, params)
    found = list(conn.execute(text(f"{with_} {newest}"), params).scalars())
    conn.execute(_PG_RESTORE, restore)
    return found


def _pg_search(conn: Connection, query: Query, window: int, limit: int) -> list[str]:
    """PostgreSQL: the newest ``window`` matches from the postings (the newest of the words'
    and of the identifier prefix's, which hold the newest of either), ranked with ``ts_rank``:
    one statement, between setting the planner's settings and putting them back. (Five to
    seven statements before: the settings, the words, the prefix's terms, its documents, the
    ranking of the ids sent back; at 827,206 documents one statement took the median of the
    benchmark's queries from 4.8 to 3.9 ms at limit 20, docs/search.md.)"""
    restore = _pg_settings(conn)
    params: dict[str, Any] = {"match": pg_tsquery(query), "limit": limit}
    with_, newest = _pg_window_sql(conn, query, window, params)
    sql = (
        f"{with_} SELECT d.ocid FROM search_documents AS d WHERE d.id = ANY(ARRAY({newest})) "
        "AND (SELECT 1 FROM records AS r WHERE r.ocid = d.ocid) IS NOT NULL "
        "ORDER BY ts_rank(d.tsv, to_tsquery('simple', :match)) DESC, d.ocid LIMIT :limit"
    )
    found = list(conn.execute(text(sql), params).scalars())
    conn.execute(_PG_RESTORE, restore)
    return found


def pg_postings(query: Query) -> Select | CompoundSelect | None:
    """PostgreSQL: the ids of the documents ``query`` matches, read from the postings alone
    (every word's range joined, or the identifier prefix's range), as a SELECT of one column;
    None for an empty query. The same set as the ``tsvector`` condition ``tsv @@ words OR
    tsv @@ key:*`` (:func:`pg_tsquery`), which the postings mirror."""
    if query.empty:
        return None
    blocks = table("search_posting_blocks", column("term"), column("block"), column("offsets"))
    documents: Label[Any] = literal_column(f"(block << {PG_BLOCK_BITS}) + unnest(offsets)").label("document")
    parts: list[Select[Any] | CompoundSelect] = []
    if query.terms:
        # The first word's documents, each kept when its offset is in the other words' blocks
        # of the same ids (joined on the block, in the order the planner chooses from the
        # words' statistics). Each word's documents read whole and intersected instead took
        # 0.6 s for "oc-2024-0001" (oc and 2024 in nearly every document) at 827,206 documents.
        # A document is in a word's block once: no document twice.
        words = [blocks.alias(f"w{i}") for i in range(len(query.terms))]
        joined: Any = words[0]
        for other in words[1:]:
            joined = joined.join(other, other.c.block == words[0].c.block)
        first = (
            select(
                literal_column(f"(w0.block << {PG_BLOCK_BITS}) + unnest(w0.offsets)").label("document"),
                *[other.c.offsets.label(f"o{i}") for i, other in enumerate(words[1:], 1)],
            )
            .select_from(joined)
            .where(
                *[w.c.term == bindparam(None, "D" + term) for w, term in zip(words, query.terms, strict=True)]
            )
            .subquery("w")
        )
        offset = cast(first.c.document.op("&")(literal_column(str(_MASK))), SmallInteger)
        parts.append(
            select(first.c.document).where(*[offset == any_(first.c[f"o{i}"]) for i in range(1, len(words))])
        )
    if query.key is not None:
        lo, hi = _key_range(query.key)
        parts.append(
            select(documents).where(blocks.c.term >= bindparam(None, lo), blocks.c.term < bindparam(None, hi))
        )
    # A document may have several identifiers starting with the key.
    if len(parts) > 1:
        return union(*parts)
    if query.terms:
        return parts[0]
    key = parts[0]
    assert isinstance(key, Select)
    return select(key.subquery().c.document).distinct()


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
    postings = pg_postings(query)
    assert postings is not None  # the query is not empty
    return select(docs.c.ocid).where(docs.c.id.in_(postings))


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
        found = pg_postings(query)
        assert found is not None
        hits = found.subquery()
        agg = func.string_agg(cast(hits.c.document, Text), literal_column("','"))
        joined = conn.execute(select(agg).select_from(hits)).scalar()
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


#: SQLite: a text matching at least this many documents is "common" (see :func:`walk_condition`).
COMMON_MATCHES = 5000


_PG_ROWS = text("SELECT reltuples FROM pg_class WHERE relname = 'search_documents'")
# The postings of an identifier prefix's first ``:k`` blocks (each holds at least one), read
# in the primary key's order: the ORDER BY makes it an index scan that stops at ``:k`` rows.
# Without it, PostgreSQL scanned the table for a wide range until ``:k`` rows passed (135 ms for
# ``oc2025``, 312,553 blocks, at 913,728 documents, against 6 ms).
_PG_KEY_PROBE = text(
    "SELECT coalesce(sum(cardinality(b.offsets)), 0) FROM (SELECT offsets FROM search_posting_blocks "
    "WHERE term >= :lo AND term < :hi ORDER BY term, block LIMIT :k) AS b"
)


def is_common(conn: Connection, query: Query) -> bool:
    """Whether ``query`` matches at least COMMON_MATCHES documents. SQLite: reading no more of
    the full-text index than that many of its newest matches. PostgreSQL: its words by its
    statistics of the column (the most common words' shares, :func:`_pg_shares`; words it does
    not list are rare), or its identifier prefix by the postings of at most COMMON_MATCHES of
    the prefix's blocks (:func:`_pg_key_common`)."""
    if query.empty:
        return False
    if conn.dialect.name != "sqlite":
        return _pg_words_common(conn, query) or _pg_key_common(conn, query)
    probe = text("SELECT count(*) FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH :m LIMIT :k)")
    return (
        int(conn.execute(probe, {"m": fts5_match(query), "k": COMMON_MATCHES}).scalar_one()) >= COMMON_MATCHES
    )


def _pg_words_common(conn: Connection, query: Query) -> bool:
    """PostgreSQL: whether every word of ``query`` is in at least COMMON_MATCHES documents by
    the statistics of the column (False without words or statistics)."""
    shares = _pg_shares(conn) if query.terms else None
    if not shares:
        return False
    rows = float(conn.execute(_PG_ROWS).scalar() or 0)
    return min(shares.get(t, 0.0) for t in query.terms) * rows >= COMMON_MATCHES


def _pg_key_common(conn: Connection, query: Query) -> bool:
    """PostgreSQL: whether the identifiers starting with ``query``'s key are in at least
    COMMON_MATCHES documents, counted in the postings of the prefix's range, reading at most
    COMMON_MATCHES of its blocks (:data:`_PG_KEY_PROBE`; a document holding two identifiers with
    the prefix counts twice). The statistics cannot tell: a prefix names many identifiers, each
    of them too rare to be listed (``2011`` starts the RUCs of 53,443 documents at 913,728,
    none among the statistics' words). 7 ms for ``2011`` at 913,728 documents (5,000 of its
    range's 7,909 blocks; all of them 17 ms, and ``oc2025``'s 312,553 blocks 0.7 s), 2 ms for
    the largest RUC, 0.2 ms for a prefix of 10 documents."""
    if query.key is None:
        return False
    lo, hi = _key_range(query.key)
    found = conn.execute(_PG_KEY_PROBE, {"lo": lo, "hi": hi, "k": COMMON_MATCHES}).scalar_one()
    return int(found) >= COMMON_MATCHES


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
    """SQLite: the same set as :func:`matching`, as a condition checked process by process: the
    process's document, its own text read (a ``search_documents`` row, through its ocid's
    unique index). For a listing's page of a common text, which then walks its sort's index
    and stops at a page, where SQLite read every match of :func:`matching` and sorted them
    (1.8 s of CPU against 11 ms at a million processes, for a word in each of them; 0.6 s
    against 14 ms for one in 160,000). For a rare text the walk would pass every process:
    :func:`matching` is the form then.

    A document's ``identifiers`` and ``words`` are FTS5's tokens exactly, each a run of
    lowercase ASCII letters and digits, one space between two (:mod:`portal.search.documents`;
    ``unicode61`` splits at nothing else): an identifier starts with the key when
    ``' ' || identifiers`` holds ``' ' || key``, and a term is a word when ``' ' || words || ' '``
    holds ``' ' || term || ' '``: the set FTS5 finds while the index is in step with the
    documents (the audit checks it, ``portal.evidence.audit_derived``; ``reindex_full_text``
    repairs it). FTS5 asked about the one document instead (MATCH with its rowid) merged the
    whole of the key's prefix doclist for each process walked: 1.2 s of CPU for a page of the
    largest RUC (39,188 documents hold it) at 828,445 processes, against 2 ms; for a common
    word 20-70 µs a process against about 2 µs."""
    docs = search_documents.alias("walk_doc")
    space = literal(" ")
    conds = []
    if query.terms:
        words = space + docs.c.words + space
        conds.append(and_(*[func.instr(words, bindparam(None, f" {t} ")) > 0 for t in query.terms]))
    if query.key is not None:
        conds.append(func.instr(space + docs.c.identifiers, bindparam(None, f" {query.key}")) > 0)
    return select(literal_column("1")).where(docs.c.ocid == ocid_column, or_(*conds)).exists()


#: True while a bulk load defers SQLite's full-text index (see :func:`full_text_deferred`).
_FULL_TEXT_DEFERRED: ContextVar[bool] = ContextVar("full_text_deferred", default=False)


@contextmanager
def full_text_deferred(engine: Engine) -> Iterator[None]:
    """For the ``with`` block (a bulk load, in this thread), write documents to
    ``search_documents`` only; at its end, however it ends, add them to SQLite's full-text
    index in one statement (:func:`catch_up_full_text`). PostgreSQL's postings are written as
    usual.

    Indexed batch by batch, 100,000 new orders cost the writer about 2.6 s of CPU (each commit
    flushes a segment, which FTS5 then merges with the others again and again); added at the
    end, about 0.6 s. Meanwhile, search does not find the load's processes (the search page
    says so, :func:`portal.search.tables.documents_pending`), as the lookup indexes are down
    for the same time.

    The full-text index always holds exactly the documents up to some id (documents are
    written with ever larger ids): those above it are pending. A document replaced meanwhile
    is removed from the index only if it was in it. Every other write adds the pending
    documents first, and so do ``veraz db upgrade`` and the next import, if the process was
    killed before its end (the audit names each pending document until then)."""
    token = _FULL_TEXT_DEFERRED.set(True)
    try:
        yield
    finally:
        _FULL_TEXT_DEFERRED.reset(token)
        with engine.begin() as conn:
            catch_up_full_text(conn)


def write_documents(
    conn: Connection, ocids: Iterable[str], docs: Sequence[Document], *, new: Collection[str] = ()
) -> None:
    """Replace the documents of ``ocids`` with ``docs`` (an ocid without a document loses its
    own), in ``conn``'s transaction. ``new``: ocids the caller knows have no document (no
    release before its transaction): none is looked for. Under :func:`full_text_deferred`,
    SQLite's full-text index is left for the end of the bulk load.

    On SQLite the statements are sent to the driver as text: the publishing writer calls this
    with hundreds of ocids a batch, and SQLAlchemy's expanding ``IN`` rendered and named a
    parameter per ocid on every execution. They are the statements SQLAlchemy renders, so
    the rows come in the same order (FTS5's segments depend on the order of its inserts)."""
    wanted = list(dict.fromkeys([*ocids, *(d.ocid for d in docs)]))
    stored = [o for o in wanted if o not in new] if new else wanted
    sqlite = conn.dialect.name == "sqlite"
    deferred = sqlite and _FULL_TEXT_DEFERRED.get()
    indexed_max = None
    if sqlite and not deferred:
        catch_up_full_text(conn)  # nothing pending, but after a bulk load that was killed
    for i in range(0, len(stored), IN_CLAUSE_CHUNK):
        chunk = stored[i : i + IN_CLAUSE_CHUNK]
        if sqlite:
            where = f"ocid {in_list(conn.dialect, len(chunk))}"
            old = conn.exec_driver_sql(
                f"SELECT id, identifiers, words FROM search_documents WHERE {where}", tuple(chunk)
            ).all()
            if old:
                if deferred and indexed_max is None:
                    indexed_max = conn.exec_driver_sql(FTS_INDEXED_MAX).scalar()
                # Only documents the index holds: FTS5 takes a 'delete' of one it does not hold
                # for a corrupt index.
                gone = [
                    {"id": d, "identifiers": k, "words": w}
                    for d, k, w in old
                    if not deferred or (indexed_max is not None and d <= indexed_max)
                ]
                if gone:
                    conn.execute(_FTS_DELETE, gone)
                conn.exec_driver_sql(f"DELETE FROM search_documents WHERE {where}", tuple(chunk))
        else:
            _pg_delete_postings(conn, _PG_POSTINGS_DELETE, {"ocids": chunk})
            conn.execute(delete(search_documents).where(search_documents.c.ocid.in_(chunk)))
    if not docs:
        return
    bulk_insert(
        conn,
        search_documents,
        [{"ocid": d.ocid, "identifiers": d.identifiers, "words": d.words} for d in docs],
    )
    if deferred:
        return
    fresh = [d.ocid for d in docs]
    for i in range(0, len(fresh), IN_CLAUSE_CHUNK):
        chunk = fresh[i : i + IN_CLAUSE_CHUNK]
        if sqlite:
            conn.exec_driver_sql(
                "INSERT INTO search_fts(rowid, identifiers, words) SELECT id, identifiers, words "
                f"FROM search_documents WHERE ocid {in_list(conn.dialect, len(chunk))}",
                tuple(chunk),
            )
        else:
            conn.execute(_PG_POSTINGS_INSERT, {"ocids": chunk})


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
        chunk = ids[i : i + IN_CLAUSE_CHUNK]
        if conn.dialect.name != "sqlite":
            _pg_delete_postings(conn, _PG_POSTINGS_DELETE_IDS, {"ids": chunk})
        conn.execute(delete(search_documents).where(search_documents.c.id.in_(chunk)))
    return len(ids)


def reindex_full_text(conn: Connection) -> None:
    """Build the full-text index again from the stored documents (SQLite FTS5; PostgreSQL's
    postings, from each document's ``tsvector``, a generated column that cannot disagree with
    the document). It repairs an index that a change made behind its back (a document row
    deleted by hand, a posting edited) left out of step with its documents, on which FTS5
    reports the database as malformed; it costs seconds at 100,000 documents (FTS5; the
    postings about a minute of the server's time at 827,206 documents, docs/search.md).
    On PostgreSQL, searches meanwhile read the postings as they were (the transaction's
    snapshot)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))
    else:
        conn.execute(text("DELETE FROM search_posting_blocks"))
        fill_postings(conn)


def fill_postings(conn: Connection, first: int = 0, last: int | None = None) -> None:
    """PostgreSQL: write the postings of the documents of blocks ``first`` to ``last`` (every
    block by default: ids ``first * PG_BLOCK_SIZE`` up to those of ``last``), which must have
    none (:data:`PG_FILL_BLOCKS`)."""
    if last is None:
        last = int(conn.execute(_LAST_ID).scalar() or 0) >> PG_BLOCK_BITS
    conn.execute(text(PG_FILL_BLOCKS), {"first": first, "last": last})


def optimize(conn: Connection) -> None:
    """Merge the index's segments after a rebuild (SQLite FTS5; PostgreSQL needs nothing)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
