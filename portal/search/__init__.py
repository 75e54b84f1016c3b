"""Search: one search box over every contracting process, behind one interface.

Finds a process by its order number (any case; a prefix of it, compared on letters and digits
only: "oc-2024-0001" finds OC-2024-000123), its ocid, a buyer's or supplier's RUC (or OCDS
party id), and by the words of its title, items, framework agreement, buyer and suppliers,
accent- and case-insensitively with Spanish stemming ("construccion" finds "Construcción",
"computadora" finds "Computadoras"). Every word typed must be present; an identifier prefix
is an alternative to them. Any text a person can type is a valid query (:mod:`.text`).

Interface:

* :func:`search_ocids` (the search box): ocids, best first, only of processes ``records`` has.
* :func:`matching`: every process a text finds, unranked and unlimited (a subquery), over
  which a listing filtered by it is shown and counted exactly.
* :func:`index_records` (publishing): in the publishing transaction, after ``records`` is
  written, replaces the search documents of the processes it touched.
* :func:`rebuild`: every document again from the database (``veraz search-index rebuild``).

Engines (setting ``SEARCH_ENGINE``): ``database``, the database's own full-text index
(SQLite FTS5, PostgreSQL ``tsvector``; :mod:`.database`), written in the publishing
transaction; ``whoosh``, a Whoosh index in the instance folder (:mod:`.whoosh_index`) that
catches up from the database's documents. Both index the same analysed documents
(:mod:`.documents`). Why ``database`` is the default, with figures: ``docs/search.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Select, select

from anchoring.log import EvidenceLog
from portal.models import records
from portal.search import database
from portal.search.documents import Document, documents
from portal.search.text import parse_query
from portal.settings import default

__all__ = [
    "ENGINES",
    "MAX_LIMIT",
    "SearchError",
    "engine_name",
    "index_records",
    "matching",
    "page_matching",
    "rebuild",
    "search_ocids",
    "whoosh_path",
]

#: Values of the SEARCH_ENGINE setting.
ENGINES = ("database", "whoosh")

#: Most hits one search returns.
MAX_LIMIT = 1000

#: Processes per transaction while rebuilding.
REBUILD_BATCH = 2000


class SearchError(ValueError):
    """A search setting the portal cannot use (an unknown SEARCH_ENGINE)."""


def whoosh_path(config: Mapping[str, Any]) -> Path:
    """Where the Whoosh index lives: ``search-whoosh`` in INSTANCE_PATH."""
    return Path(config["INSTANCE_PATH"]) / "search-whoosh"


def engine_name(config: Mapping[str, Any]) -> str:
    """The SEARCH_ENGINE of ``config`` (raises :class:`SearchError` when unknown)."""
    name = str(config.get("SEARCH_ENGINE") or default("SEARCH_ENGINE")).strip().lower()
    if name not in ENGINES:
        raise SearchError(f"SEARCH_ENGINE is {name!r}; it must be one of {', '.join(ENGINES)}")
    return name


def search_ocids(engine: Engine, config: Mapping[str, Any], text: str, limit: int = 50) -> list[str]:
    """The ocids of the processes that best match ``text`` (any text), best first, at most
    ``limit`` (1 to MAX_LIMIT); only processes the database has."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = parse_query(text)
    if query.empty:
        return []
    if engine_name(config) == "whoosh":
        from portal.search.whoosh_index import whoosh_index_at

        return whoosh_index_at(whoosh_path(config)).search(engine, query, limit)
    with engine.connect() as conn:
        return database.search(conn, query, limit)


def matching(dialect: str, text: str) -> Select | None:
    """Every process ``text`` finds by full text or identifier prefix, unranked and however
    many (a SELECT of ocids for a subquery; :func:`portal.search.database.matching`): the
    same set every engine finds, from the database's own index; None when the text has no
    searchable word."""
    return database.matching(dialect, parse_query(text))


def matching_ids(conn: Connection, text: str) -> np.ndarray:
    """The ids of the documents :func:`matching` finds (:func:`portal.search.database.matching_ids`),
    for the facet tally."""
    return database.matching_ids(conn, parse_query(text))


def page_matching(conn: Connection, text: str, ocid_column, *, common: bool = False) -> Any:
    """The condition that a process (``ocid_column``) is one :func:`matching` finds, in the form
    that finds a listing's page fastest: checked process by process when the text is common
    (:func:`portal.search.database.walk_condition`, ``pg_walk_condition``), or on SQLite when
    the caller knows the listing's matches are many (``common``: a RUC's processes); else
    None (use :func:`matching`)."""
    query = parse_query(text)
    if query.empty:
        return None
    if conn.dialect.name == "sqlite":
        if common or database.is_common(conn, query):
            return database.walk_condition(query, ocid_column)
    elif database.is_common(conn, query):
        return database.pg_walk_condition(query, ocid_column)
    return None


def index_records(
    conn: Connection,
    ocids: Iterable[str],
    known: Mapping[str, Document] | None = None,
    *,
    new: Collection[str] = (),
) -> None:
    """Replace the search documents of ``ocids`` from their records, in ``conn``'s transaction
    (call it after the records are stored); an ocid without a record loses its document.

    ``known``: documents the caller already made from the same compiled releases (the
    publishing workers do, for new orders), not read and made again here. ``new``: ocids the
    caller knows had no release before its transaction, hence no document to replace."""
    wanted = list(dict.fromkeys(ocids))
    if not wanted:
        return
    known = known or {}
    made = [known[o] for o in wanted if o in known]
    made += documents(conn, [o for o in wanted if o not in known])
    database.write_documents(conn, wanted, made, new=new)


def rebuild(engine: Engine, progress: Callable[[int], None] | None = None, batch: int = REBUILD_BATCH) -> int:
    """Write every process's search document again from the database; how many there are.

    First the full-text index is built again from the stored documents (which repairs one out
    of step with them); then batch by batch, each in its own transaction holding the
    publishers' lock (the evidence log's), so an import running meanwhile is never overwritten
    by an older reading and search keeps answering throughout; then the documents of processes
    no longer stored are removed.
    ``progress`` is told how many processes each batch did.
    """
    with engine.begin() as conn:
        EvidenceLog().lock(conn)
        database.reindex_full_text(conn)
    with engine.connect() as conn:
        # In publication order, so documents' ids follow it as when written by publishing
        # (the database engine ranks the most recently written matches).
        ocids = list(
            conn.execute(select(records.c.ocid).order_by(records.c.last_release, records.c.ocid)).scalars()
        )
    for i in range(0, len(ocids), batch):
        with engine.begin() as conn:
            EvidenceLog().lock(conn)
            index_records(conn, ocids[i : i + batch])
        if progress:
            progress(len(ocids[i : i + batch]))
    with engine.begin() as conn:
        EvidenceLog().lock(conn)
        database.drop_orphans(conn)
        database.optimize(conn)
    return len(ocids)
