"""PostgreSQL's search gives, query for query, the same ordered ocids as the engine it replaced.

The engine as it was (the postings one row per term and document, and the GIN index before
them) answered a query with: its newest ``max(RANK_WINDOW, limit)`` matches by document id,
matches being ``tsv @@ words OR tsv @@ key:*``, ranked by ``ts_rank`` then ocid, processes
without a record left out. That definition is written here in SQL on the ``tsvector`` alone
(no postings) and compared with ``search_ocids`` on generated Spanish documents: orders of the
demo generator made into documents as the publishing workers make them, some replaced by later
versions (new ids, the old postings removed from their blocks), ids spread over many blocks of
the postings, and queries as people type them (product words, catalogues, places, suppliers,
order numbers in several spellings, RUC prefixes) at the search box's limit and the listing's.
This file passes on the code before the postings were stored in blocks, unchanged.
"""

from __future__ import annotations

import random

import orjson
import pytest
from sqlalchemy import text
from support import fresh_postgres_db

from ocds.catalogue.generate import generate_orders
from ocds.summary import process_facts
from portal.db import make_engine, upgrade
from portal.publishing.orders import map_order
from portal.search import database, search_ocids
from portal.search.documents import Document, document_of
from portal.search.text import parse_query

ORDERS = 1500
BATCH = 150


def _documents(orders: list[dict]) -> list[Document]:
    docs = []
    for order in orders:
        mapped = map_order(orjson.loads(orjson.dumps(order)), ocid_prefix="ocds-vrz0pe")
        for release in (mapped.agreement_release, mapped.order_release):
            docs.append(document_of(release["ocid"], process_facts(release)))
    return docs


@pytest.fixture(scope="module")
def corpus(postgres_server):
    url = fresh_postgres_db(postgres_server)
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(20261206)
    orders = list(generate_orders(ORDERS, 7))
    docs = _documents(orders)
    ocids = sorted({d.ocid for d in docs})
    with engine.begin() as conn:
        # Search joins records: every process has one but a few (never returned).
        kept = [o for o in ocids if rng.random() > 0.02]
        conn.execute(
            text(
                "INSERT INTO records (ocid, release_count, last_release, updated_at, kind) "
                "VALUES (:ocid, 1, 1, '2026-01-01', 'order')"
            ),
            [{"ocid": o} for o in kept],
        )
    for start in range(0, len(docs), BATCH):
        batch = list({d.ocid: d for d in docs[start : start + BATCH]}.values())
        with engine.begin() as conn:
            database.write_documents(conn, [d.ocid for d in batch], batch)
            # The next batch's ids further on: the documents span many blocks of the postings.
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('search_documents', 'id'), max(id) + :gap) "
                    "FROM search_documents"
                ),
                {"gap": rng.choice([0, 1, 700, 3000])},
            )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE search_documents"))
        conn.execute(text("ANALYZE records"))
    database._pg_common.clear()
    yield engine, docs
    engine.dispose()


def _queries(docs: list[Document], rng: random.Random) -> list[str]:
    words = sorted({w for d in docs for w in d.words.split()})
    identifiers = sorted({i for d in docs for i in d.identifiers.split()})
    common = [w for w, _ in _most_common(docs)[:40]]
    made = [
        "impresora",
        "Impresoras multifuncionales",
        "papel bond A4",
        "computadora de escritorio",
        "Servicios Generales Pacífico",
        "Grupo Huamán",
        "municipalidad provincial huamanga",
        "red de salud",
        "ugel",
        "para",
        "oc-2024-000",
        "OC 2024 0001",
        "2013",
    ]
    made += [rng.choice(words) for _ in range(40)]
    made += [" ".join(rng.sample(common, 2)) for _ in range(25)]
    made += [" ".join(rng.sample(common, 3)) for _ in range(10)]
    made += [f"{rng.choice(common)} {rng.choice(words)}" for _ in range(20)]
    made += [(i := rng.choice(identifiers))[: rng.randint(4, len(i))] for _ in range(30)]
    made += [f"{rng.choice(common)} {rng.choice(identifiers)[:8]}" for _ in range(10)]
    return made


def _most_common(docs: list[Document]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for d in docs:
        for w in set(d.words.split()):
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _as_before(conn, typed: str, limit: int) -> list[str]:
    """The engine before: the newest window of the tsvector's matches, ranked by ts_rank."""
    query = parse_query(typed)
    if query.empty:
        return []
    conds, params = [], {"match": database.pg_tsquery(query), "limit": limit}
    params["window"] = max(database.RANK_WINDOW, limit)
    if query.terms:
        conds.append("tsv @@ to_tsquery('simple', :words)")
        params["words"] = " & ".join(f"'{t}':D" for t in query.terms)
    if query.key is not None:
        conds.append("tsv @@ to_tsquery('simple', :key)")
        params["key"] = f"'{query.key}':*A"
    sql = (
        "SELECT d.ocid FROM search_documents AS d WHERE d.id IN (SELECT id FROM search_documents WHERE "
        + " OR ".join(conds)
        + " ORDER BY id DESC LIMIT :window) AND EXISTS (SELECT 1 FROM records AS r WHERE r.ocid = d.ocid) "
        "ORDER BY ts_rank(d.tsv, to_tsquery('simple', :match)) DESC, d.ocid LIMIT :limit"
    )
    return list(conn.execute(text(sql), params).scalars())


@pytest.mark.parametrize("limit", [20, 1000])
def test_search_gives_what_the_engine_gave_before(corpus, limit):
    engine, docs = corpus
    config = {"SEARCH_ENGINE": "database"}
    found_any = 0
    for typed in _queries(docs, random.Random(limit)):
        with engine.connect() as conn:
            expected = _as_before(conn, typed, limit)
        assert search_ocids(engine, config, typed, limit=limit) == expected, typed
        found_any += bool(expected)
    assert found_any > 100  # the queries find things: the comparison is not of empty lists
