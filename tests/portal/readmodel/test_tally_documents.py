"""The facet tally takes q's full-text matches as search documents' ids (what FTS5 and the
PostgreSQL index give without reading ocids): every id maps to its own process, the ids found are
the documents the ocid subquery finds, the counts through them are those through ocids and SQL,
and the map follows documents written again (a republished process, ``veraz reindex --search``)
without loading everything again (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
from readmodel_publish import publish
from sqlalchemy import select

from ocds.catalogue.generate import write_orders
from portal import search
from portal.db import make_engine
from portal.models import parties, records
from portal.publishing import import_orders
from portal.readmodel import queries, tally
from portal.readmodel.facets import FACETS, Browse
from portal.search.tables import search_documents

EVERYTHING = 100_000  # values per facet: compare all of them
#: Texts of every kind: a word nearly every order holds, rarer words, two words, an order
#: number's prefix (an identifier), a text nothing holds, one with no searchable word.
TEXTS = ("orden", "limpieza", "papel bond", "oc-", "zzzqx", "***")


def _ocids_of(conn, ids: np.ndarray) -> set[str]:
    wanted = [int(i) for i in ids]
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        rows = select(search_documents.c.ocid).where(search_documents.c.id.in_(wanted[i : i + 500]))
        found.update(conn.execute(rows).scalars())
    return found


def _by_documents(conn, found: tally.Tally, browse: Browse) -> tuple[int, dict]:
    """Counts as the listing makes them: the RUC and ocid part as ocids, full text as ids."""
    q_ocids = conn.execute(queries.text_ocids(browse.q)).scalars().all()
    ids = search.matching_ids(conn, browse.q)
    total, counted = tally.counts(found, browse, q_ocids, dict.fromkeys(FACETS, EVERYTHING), None, ids)
    return total, {f: {v["value"]: v["count"] for v in values} for f, values in counted.items()}


def _by_ocids(conn, found: tally.Tally, browse: Browse) -> tuple[int, dict]:
    candidates = search.matching(conn.dialect.name, browse.q)
    q_ocids = conn.execute(queries.text_ocids(browse.q, candidates)).scalars().all()
    total, counted = tally.counts(found, browse, q_ocids, dict.fromkeys(FACETS, EVERYTHING))
    return total, {f: {v["value"]: v["count"] for v in values} for f, values in counted.items()}


def _by_sql(conn, browse: Browse) -> tuple[int, dict]:
    conds = queries.conditions(browse, search.matching(conn.dialect.name, browse.q), counting=True)
    return queries.count(conn, conds), {
        f: {v["value"]: v["count"] for v in queries.facet_counts(conn, browse, conds, f, limit=EVERYTHING)}
        for f in FACETS
    }


def _check(conn, found: tally.Tally, *, sql: bool) -> None:
    """The ids found are the documents the ocid subquery finds, and counts through them are
    those through ocids with a tally loaded now (and those SQL makes, with ``sql``)."""
    fresh = tally.load(conn)
    ruc = conn.execute(select(parties.c.identifier).where(parties.c.identifier.isnot(None)).limit(1)).scalar()
    for text in (*TEXTS, ruc):
        browse = Browse(q=text)
        candidates = search.matching(conn.dialect.name, text)
        ids = search.matching_ids(conn, text)
        assert len(np.unique(ids)) == len(ids)
        expected = set() if candidates is None else set(conn.execute(candidates).scalars())
        assert _ocids_of(conn, ids) == expected, text
        counted = _by_documents(conn, found, browse)
        assert counted == _by_ocids(conn, fresh, browse), text
        if sql:
            assert counted == _by_sql(conn, browse), text
    assert _by_documents(conn, found, Browse(q="orden"))[0] > 50  # the common word is common


def test_document_ids_find_what_ocids_find_as_documents_are_written(database_url, tmp_path, monkeypatch):
    publish(database_url, tmp_path, orders=150, real=False)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        before = tally.load(conn)
        rows = conn.execute(select(search_documents.c.id, search_documents.c.ocid)).all()
        assert len(rows) == before.size > 0
        ids = np.array([r.id for r in rows], dtype=np.int64)
        positions = before.documents.positions(ids)
        assert len(positions) == len(rows)  # every document is of a process the tally holds
        assert list(before.keys[positions]) == [hash(r.ocid) for r in rows]
        unknown = np.array([0, -5, before.documents.seen + 1, 2**40], dtype=np.int64)
        assert len(before.documents.positions(unknown)) == 0
        _check(conn, before, sql=True)

    # New processes, and documents of some old ones written again (new ids; the old rows gone).
    path = tmp_path / "more.jsonl"
    write_orders(path, 40, 11)
    summary = import_orders(engine, path, ocid_prefix="ocds-test02", workers=1, batch_size=17)
    assert summary.new_orders > 0  # (orders whose number the first import holds are refused)
    with engine.begin() as conn:
        some = conn.execute(select(records.c.ocid).order_by(records.c.ocid).limit(30)).scalars().all()
        search.index_records(conn, some)

    def no_full_load(conn):
        raise AssertionError("refresh loaded everything again")

    with engine.connect() as conn:
        monkeypatch.setattr(tally, "load", no_full_load)
        after = tally.refresh(conn, before)
        monkeypatch.undo()
        assert after is not None and after.documents.seen > before.documents.seen
        _check(conn, after, sql=False)
    # Every document written again without touching the records (veraz reindex --search): the
    # version changes, and the map follows it.
    search.rebuild(engine)
    with engine.connect() as conn:
        assert tally.version(conn) != after.version
        monkeypatch.setattr(tally, "load", no_full_load)
        rebuilt = tally.refresh(conn, after)
        monkeypatch.undo()
        assert rebuilt is not None and rebuilt.documents.seen > after.documents.seen
        _check(conn, rebuilt, sql=False)
    engine.dispose()
