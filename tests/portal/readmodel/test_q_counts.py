"""With ``q``, the listing's total, rows and every facet's counts are exact however many processes
the text finds: checked against what is recomputed from the releases (each process's search
document and facet values from its compiled release), on a word more than a thousand processes
hold (more than the ranked search ever returns), on SQLite and PostgreSQL, through the facet
tally and through SQL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import make_app

from ocds.catalogue.generate import write_orders
from ocds.summary import browse_columns, read_model_rows
from portal import queries
from portal.db import app_engine
from portal.models import parties, records
from portal.readmodel import queries as readmodel_queries
from portal.readmodel.facets import FACETS, Browse
from portal.search import MAX_LIMIT, page_matching
from portal.search import database as search_database
from portal.search import matching as search_matching
from portal.search.documents import document
from portal.search.text import parse_query

#: Enough generated orders for more than MAX_LIMIT processes to hold the word searched.
ORDERS = 1400
#: A word nearly every generated order's title holds ("Orden de compra ..."), but not all.
WORD = "orden"
LIMITS = {f: 50 if f in ("month", "year", "segment") else 12 for f in FACETS}


@pytest.fixture
def app(database_url, tmp_path):
    from portal.db import make_engine
    from portal.publishing import import_orders

    path = tmp_path / "orders.jsonl"
    write_orders(path, ORDERS, 7)
    engine = make_engine(database_url)
    try:
        summary = import_orders(engine, Path(path), ocid_prefix="ocds-test01", workers=1, batch_size=500)
        assert summary.rejected == 0
    finally:
        engine.dispose()
    app = make_app(database_url, tmp_path)
    yield app
    app_engine(app).dispose()


def _from_releases(app, text: str) -> dict[str, dict]:
    """Each process ``text`` finds, with its facet values, recomputed from its compiled release:
    its search document holds every word of the text (or an identifier starting with it), or its
    order number holds the text (any case), or its ocid or a party's identifier is the text."""
    query = parse_query(text)
    found = {}
    with app_engine(app).connect() as conn:
        for ocid, number in conn.execute(select(records.c.ocid, records.c.order_number)):
            compiled = queries.compiled_release(conn, ocid)
            doc = document(ocid, compiled)
            columns, rows = browse_columns(compiled), read_model_rows(compiled)
            words, keys = set(doc.words.split()), doc.identifiers.split()
            hit = (
                (query.terms and set(query.terms) <= words)
                or (query.key is not None and any(k.startswith(query.key) for k in keys))
                or (number is not None and text.lower() in number.lower())
                or ocid == text
                or text in {p["identifier"] for p in rows["parties"]}
            )
            if hit:
                found[ocid] = {
                    "procedure": {columns["procedure"]} - {None},
                    "buyer": {columns["buyer_id"]} - {None},
                    "status": {columns["status"]} - {None},
                    "region": {columns["delivery_region"]} - {None},
                    "month": {columns["month"]} - {None},
                    "year": {columns["month"][:4]} if columns["month"] else set(),
                    "agreement": {columns["agreement_ocid"]} - {None},
                    "segment": {r["segment"] for r in rows["item_lines"]} - {None},
                    "family": {r["family"] for r in rows["item_lines"]} - {None},
                    "supplier": {p["party_id"] for p in rows["parties"] if p["role"] == "supplier"} - {None},
                }
    return found


def _expected(found: dict[str, dict], facet: str, selected: dict) -> Counter:
    counts: Counter = Counter()
    for facts in found.values():
        if all(facts[name] & set(values) for name, values in selected.items() if name != facet):
            counts.update(facts[facet])
    return counts


def _matching(found: dict[str, dict], selected: dict) -> list[str]:
    return [o for o, f in found.items() if all(f[k] & set(v) for k, v in selected.items())]


def _check(body: dict, found: dict[str, dict], selected: dict) -> None:
    assert body["total"] == len(_matching(found, selected)), selected
    for facet in FACETS:
        if facet == "amount":
            continue  # amount ranges are not in the facts; the tally's own tests cover them
        expected = _expected(found, facet, selected)
        shown = {v["value"]: v["count"] for v in body["facets"][facet]}
        for value, count in shown.items():
            assert count == expected[value], (facet, value, selected)
        counted = sorted((c for c in shown.values() if c), reverse=True)
        assert counted == sorted(expected.values(), reverse=True)[: LIMITS[facet]], (facet, selected)


def _pages(client, query: str) -> list[str]:
    """The ocids of every page of the listing, in order, each page once (sorted after)."""
    seen, url = [], f"/contracts.json?{query}"
    while url:
        page = json.loads(client.get(url).data)
        seen += [r["ocid"] for r in page["results"]]
        url = page["next"] and page["next"].replace("http://localhost", "")
    assert len(seen) == len(set(seen))
    return sorted(seen)


def _first(client, query: str) -> list[str]:
    """The ocids of the listing's first page, in its order."""
    return [r["ocid"] for r in _get(client, query)["results"]]


def _get(client, query: str) -> dict:
    response = client.get(f"/contracts.json?{query}")
    assert response.status_code == 200, response.data
    return json.loads(response.data)


def test_counts_are_exact_however_many_processes_q_finds(app, monkeypatch):
    found = _from_releases(app, WORD)
    with app_engine(app).connect() as conn:
        processes = len(conn.execute(select(records.c.ocid)).all())
    assert MAX_LIMIT < len(found) < processes  # the word is common, not universal
    client = app.test_client()

    body = _get(client, f"q={WORD}&limit=1")
    _check(body, found, {})
    segment = _expected(found, "segment", {}).most_common(2)[1][0]
    _check(_get(client, f"q={WORD}&segment={segment}&limit=1"), found, {"segment": [segment]})

    # every page of the listing: each matching process exactly once, whether SQLite reads the
    # text's matches whole or checks them row by row (a common text: fewer than here made so)
    assert _pages(client, f"q={WORD}&limit=200") == sorted(found)
    with monkeypatch.context() as patched:
        patched.setattr(search_database, "COMMON_MATCHES", 50)
        patched.setattr(search_database, "_pg_common", {})  # PostgreSQL's statistics read afresh
        with app_engine(app).begin() as conn:  # both walk now (PostgreSQL: by its statistics)
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE search_documents")
        with app_engine(app).connect() as conn:
            assert page_matching(conn, WORD, records.c.ocid) is not None
        assert _pages(client, f"q={WORD}&limit=200") == sorted(found)
        assert _pages(client, f"q={WORD}&limit=150&sort=amount") == sorted(found)
        csv_rows = client.get(f"/contracts.csv?q={WORD}").data.decode().splitlines()[1:]
        assert sorted(r.split(",")[0] for r in csv_rows) == sorted(found)

    # the same counts with SQL (what the portal counts with before the facet tally is loaded)
    browse = Browse(q=WORD, selected={"segment": (segment,)})
    engine = app_engine(app)
    with engine.connect() as conn:
        conds = readmodel_queries.conditions(
            browse, search_matching(engine.dialect.name, WORD), counting=True
        )
        assert readmodel_queries.count(conn, conds) == len(_matching(found, {"segment": [segment]}))
        for facet in ("supplier", "buyer", "year"):
            counted = readmodel_queries.facet_counts(conn, browse, conds, facet, limit=100_000)
            assert {v["value"]: v["count"] for v in counted} == dict(
                _expected(found, facet, {"segment": [segment]})
            ), facet

    # a RUC (a supplier's identifier, an identifier prefix too) finds every process of it
    with engine.connect() as conn:
        ruc = conn.execute(
            select(parties.c.identifier)
            .where(parties.c.role == "supplier", parties.c.identifier.isnot(None))
            .group_by(parties.c.identifier)
            .order_by(func.count().desc(), parties.c.identifier)
        ).first()[0]
    by_ruc = _from_releases(app, ruc)
    assert len(by_ruc) > 1
    _check(_get(client, f"q={ruc}&limit=1"), by_ruc, {})
    assert _pages(client, f"q={ruc}&limit=7") == sorted(by_ruc)
    # an identifier prefix many processes' RUCs start with (none of their parties' identifier)
    prefix = ruc[:5]
    by_prefix = _from_releases(app, prefix)
    assert len(by_prefix) > len(by_ruc)
    _check(_get(client, f"q={prefix}&limit=1"), by_prefix, {})
    with engine.connect() as conn:
        dates = dict(conn.execute(select(records.c.ocid, records.c.date)).all())
    assert None not in dates.values()  # the newest first, on either database

    def newest(found: dict, n: int) -> list[str]:
        return sorted(found, key=lambda o: (dates[o], o), reverse=True)[:n]

    for text, found in ((ruc, by_ruc), (prefix, by_prefix)):
        assert _first(client, f"q={text}&limit=7") == newest(found, 7), text
    # a RUC of one process: an identifier prefix too, but a rare one
    with engine.connect() as conn:
        lone = conn.execute(
            select(parties.c.identifier)
            .where(parties.c.role == "supplier", parties.c.identifier.isnot(None))
            .group_by(parties.c.identifier)
            .having(func.count() == 1)
            .order_by(parties.c.identifier)
        ).first()[0]
    by_lone = _from_releases(app, lone)
    assert len(by_lone) == 1
    with monkeypatch.context() as patched:  # many processes: both databases walk their pages
        patched.setattr(search_database, "COMMON_MATCHES", 2)
        patched.setattr(search_database, "_pg_common", {})
        with engine.connect() as conn:
            # PostgreSQL: the prefix's postings, not its statistics, which list no identifier
            assert page_matching(conn, prefix, records.c.ocid) is not None
            assert page_matching(conn, ruc, records.c.ocid) is not None
            # a rare prefix is read from the index whole (a walk would pass every process)
            assert page_matching(conn, lone, records.c.ocid) is None
        for text, found in ((ruc, by_ruc), (prefix, by_prefix), (lone, by_lone)):
            assert _pages(client, f"q={text}&limit=7") == sorted(found), text
            assert _first(client, f"q={text}&limit=7") == newest(found, 7), text
