"""Whoosh 2.7.4 as the search engine: an index in the instance folder, fed from the database.

The index is a copy of ``search_documents`` (the analysed documents the publishing transaction
writes), never a second source of truth: it records the last document ``id`` it has indexed and
catches up with the newer ones (a process's document gets a new ``id`` whenever it is written
again), at most CATCH_UP_BATCH before each search, all of them on :meth:`WhooshIndex.rebuild`.
Hits are checked against ``records`` before they are returned, so a process the database no
longer has is never shown.

The fields hold the same tokens as the database's index (folded and stemmed by
:mod:`portal.search.text`), so both engines find the same processes: ``words`` and ``identifiers`` are
space-separated KEYWORD fields; ranking is Whoosh's BM25F, identifiers weighted KEY_WEIGHT.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, select
from whoosh import index as whoosh_index
from whoosh.fields import ID, KEYWORD, Schema
from whoosh.index import LockError
from whoosh.query import And, Or, Prefix, Term
from whoosh.scoring import BM25F
from whoosh.sorting import FieldFacet, ScoreFacet

from portal.db import IN_CLAUSE_CHUNK
from portal.models import records
from portal.search.database import KEY_WEIGHT
from portal.search.tables import search_documents
from portal.search.text import Query

#: Documents indexed per writer commit while catching up or rebuilding.
COMMIT_EVERY = 20_000

#: Most documents a search indexes before it answers: a search after a large import is not
#: held up for minutes; the rest waits for the next searches or ``veraz search-index rebuild``.
CATCH_UP_BATCH = 2_000

#: Extra hits fetched to make up for those the database no longer has.
SPARE_HITS = 20

_WATERMARK = "last-document-id"


def schema() -> Schema:
    """The index's fields (see the module docstring)."""
    return Schema(
        ocid=ID(stored=True, unique=True, sortable=True),
        identifiers=KEYWORD(scorable=True, field_boost=KEY_WEIGHT),
        words=KEYWORD(scorable=True),
    )


def whoosh_query(query: Query):
    """The Whoosh query of ``query``: every term in ``words``, or ``identifiers`` starting with the key."""
    parts = []
    if query.terms:
        parts.append(And([Term("words", t) for t in query.terms]))
    if query.key is not None:
        parts.append(Prefix("identifiers", query.key))
    return parts[0] if len(parts) == 1 else Or(parts)


class WhooshIndex:
    """The Whoosh index in folder ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._index = None
        self._searcher = None

    # --- what it has indexed -------------------------------------------------------------
    def last_id(self) -> int:
        """The highest ``search_documents.id`` indexed (0 when none)."""
        try:
            return int((self.path / _WATERMARK).read_text(encoding="ascii"))
        except (FileNotFoundError, ValueError):
            return 0

    def _set_last_id(self, value: int) -> None:
        tmp = self.path / f"{_WATERMARK}.tmp"
        tmp.write_text(str(value), encoding="ascii")
        os.replace(tmp, self.path / _WATERMARK)

    def _open(self):
        if self._index is None:
            self.path.mkdir(parents=True, exist_ok=True)
            if whoosh_index.exists_in(str(self.path)):
                self._index = whoosh_index.open_dir(str(self.path))
            else:
                self._index = whoosh_index.create_in(str(self.path), schema())
        return self._index

    # --- writing ---------------------------------------------------------------------------
    def catch_up(
        self,
        engine: Engine,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
        *,
        fresh: bool = False,
    ) -> int:
        """Index the documents written since the last one indexed (at most ``limit``); how
        many. Returns 0 without waiting when another process is writing the index.
        ``fresh``: the index is empty, so documents are added without looking for old copies."""
        ix = self._open()
        try:
            writer = ix.writer(limitmb=256)
        except LockError:
            return 0
        done = 0
        last = self.last_id()
        try:
            while limit is None or done < limit:
                size = COMMIT_EVERY if limit is None else min(COMMIT_EVERY, limit - done)
                with engine.connect() as conn:
                    rows = conn.execute(
                        select(
                            search_documents.c.id,
                            search_documents.c.ocid,
                            search_documents.c.identifiers,
                            search_documents.c.words,
                        )
                        .where(search_documents.c.id > last)
                        .order_by(search_documents.c.id)
                        .limit(size)
                    ).all()
                if not rows:
                    break
                add = writer.add_document if fresh else writer.update_document
                for row in rows:
                    add(ocid=row.ocid, identifiers=row.identifiers, words=row.words)
                done += len(rows)
                last = rows[-1].id
                if progress:
                    progress(len(rows))
        except BaseException:
            writer.cancel()
            raise
        if done:
            writer.commit()
            self._set_last_id(last)
        else:
            writer.cancel()
        return done

    def rebuild(self, engine: Engine, progress: Callable[[int], None] | None = None) -> int:
        """Start the index over from every document in the database; how many it holds."""
        with self._lock:
            self._close()
            shutil.rmtree(self.path, ignore_errors=True)
        return self.catch_up(engine, progress=progress, fresh=True)

    def _close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None
        if self._index is not None:
            self._index.close()
        self._index = None

    def close(self) -> None:
        """Let go of the index's files (it opens again on next use)."""
        with self._lock:
            self._close()

    # --- searching -------------------------------------------------------------------------
    def search(self, engine: Engine, query: Query, limit: int) -> list[str]:
        """The ocids of the best ``limit`` processes for ``query`` that ``records`` still has."""
        if query.empty:
            return []
        with engine.connect() as conn:
            newest = conn.execute(
                select(search_documents.c.id).order_by(search_documents.c.id.desc()).limit(1)
            ).scalar()
        if newest is not None and newest > self.last_id():
            self.catch_up(engine, CATCH_UP_BATCH)
        with self._lock:
            ix = self._open()
            if self._searcher is None:
                self._searcher = ix.searcher(weighting=BM25F())
            else:
                self._searcher = self._searcher.refresh()
            # Best score first, then by ocid: the same answer whatever order documents were
            # indexed in (as the database's ORDER BY rank, ocid).
            searcher = self._searcher
            assert searcher is not None  # opened just above
            hits = searcher.search(
                whoosh_query(query), limit=limit + SPARE_HITS, sortedby=[ScoreFacet(), FieldFacet("ocid")]
            )
            ocids = [hit["ocid"] for hit in hits]
        return _still_published(engine, ocids)[:limit]


def _still_published(engine: Engine, ocids: list[str]) -> list[str]:
    """``ocids`` (in order) that ``records`` holds."""
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(ocids), IN_CLAUSE_CHUNK):
            chunk = ocids[i : i + IN_CLAUSE_CHUNK]
            found.update(conn.execute(select(records.c.ocid).where(records.c.ocid.in_(chunk))).scalars())
    return [o for o in ocids if o in found]


_INDEXES: dict[str, WhooshIndex] = {}
_INDEXES_LOCK = threading.Lock()


def whoosh_index_at(path: str | os.PathLike) -> WhooshIndex:
    """The process's :class:`WhooshIndex` for ``path`` (one per folder, kept open)."""
    key = str(Path(path).resolve())
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = WhooshIndex(key)
        return _INDEXES[key]
