"""The condition a listing's page checks process by process for a common text
(``walk_condition`` on SQLite, ``pg_walk_condition`` on PostgreSQL) holds for exactly the
processes the full-text index finds (``matching``), and both for exactly those a reference
computed here from the documents finds: every term one of the document's words, or one of its
identifiers starting with the key.

On generated orders made into documents as the publishing workers make them, with queries
chosen where a check of the document's text could go wrong: a RUC (also the tail of its
``peruc…`` form, and shared by many processes), identifier prefixes of every length, order
numbers in several spellings and their serial alone, words that start or end other words,
words in most documents, and several words at once. SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter

import orjson
from sqlalchemy import select, text

from ocds.catalogue.generate import generate_orders
from ocds.summary import process_facts
from portal.db import make_engine
from portal.models import records
from portal.publishing.orders import map_order
from portal.search import database
from portal.search.documents import Document, document_of
from portal.search.text import parse_query

ORDERS = 400
#: COMMON_MATCHES here: a text in this many documents walks.
COMMON = 20


def _documents() -> list[Document]:
    docs = {}
    for order in generate_orders(ORDERS, 11):
        mapped = map_order(orjson.loads(orjson.dumps(order)), ocid_prefix="ocds-vrz0pe")
        for release in (mapped.agreement_release, mapped.order_release):
            docs[release["ocid"]] = document_of(release["ocid"], process_facts(release))
    # A word only first or only last in its document, others it starts or ends, a RUC only at
    # the end of another identifier: where a check of the text would see a word's edges wrong.
    made = [
        ("peruc20999999991 oc2099000007", "quetzal primer ultimoq"),
        ("20999999992 peruc20999999993", "xquetzal ultimoqx"),
        ("ocdsvrz0pehand", "primerx quetzalx xultimoq"),
    ]
    for n, (identifiers, words) in enumerate(made):
        docs[f"ocds-vrz0pe-hand-{n}"] = Document(f"ocds-vrz0pe-hand-{n}", identifiers, words)
    return list(docs.values())


def _queries(docs: list[Document], rng: random.Random) -> list[str]:
    words = sorted({w for d in docs for w in d.words.split()})
    identifiers = sorted({i for d in docs for i in d.identifiers.split()})
    counts = Counter(w for d in docs for w in set(d.words.split()))
    common = [w for w, _ in counts.most_common(20)]
    rucs = Counter(i for d in docs for i in d.identifiers.split() if i.isdigit() and len(i) == 11)
    made = ["quetzal", "primero", "ultimoq", "20999999991", "20999999992", "2099000007", "0007", "2999"]
    made += [ruc for ruc, _ in rucs.most_common(5)]  # each in many processes, and in "peruc…"
    made += [ruc[:n] for ruc, _ in rucs.most_common(3) for n in (4, 6, 9)]
    made += [f"PE-RUC-{ruc}" for ruc, _ in rucs.most_common(2)]
    # words another word starts or ends with: a check of the text must see where a word ends
    made += [w for w in words if any(o != w and (o.startswith(w) or o.endswith(w)) for o in words)][:15]
    made += common[:5] + [" ".join(rng.sample(common, 2)) for _ in range(10)]
    made += [rng.choice(words) for _ in range(20)]
    numbers = [i for i in identifiers if i.startswith("oc") and not i.startswith("ocds")]
    for number in rng.sample(numbers, 5):
        year, serial = number[2:6], number[6:]
        made += [f"OC-{year}-{serial}", f"oc {year} {serial}", serial, number[:7]]
    made += [(i := rng.choice(identifiers))[: rng.randint(4, len(i))] for _ in range(30)]
    made += [f"{rng.choice(common)} {rng.choice(identifiers)[:8]}" for _ in range(10)]
    return made


def _reference(docs: list[Document], kept: set[str], typed: str) -> set[str]:
    query = parse_query(typed)
    found = set()
    for d in docs:
        words, keys = set(d.words.split()), d.identifiers.split()
        if d.ocid in kept and (
            (query.terms and set(query.terms) <= words)
            or (query.key is not None and any(k.startswith(query.key) for k in keys))
        ):
            found.add(d.ocid)
    return found


def _keyed(docs: list[Document], key: str | None) -> tuple[int, int]:
    """How many documents have an identifier starting with ``key``, and how many identifiers
    do (a document's each: what PostgreSQL's estimate counts, its postings)."""
    if key is None:
        return 0, 0
    found = [sum(i.startswith(key) for i in d.identifiers.split()) for d in docs]
    return sum(n > 0 for n in found), sum(found)


def test_the_walk_finds_what_the_index_finds(database_url, monkeypatch):
    engine = make_engine(database_url)
    rng = random.Random(20261206)
    docs = _documents()
    # A process without a record is never found (its document alone is not enough).
    kept = {d.ocid for d in docs if rng.random() > 0.02 or "hand" in d.ocid}
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO records (ocid, release_count, last_release, updated_at, kind) "
                    "VALUES (:ocid, 1, 1, '2026-01-01', 'order')"
                ),
                [{"ocid": o} for o in sorted(kept)],
            )
            database.write_documents(conn, [d.ocid for d in docs], docs)
        walk_condition = (
            database.walk_condition if engine.dialect.name == "sqlite" else database.pg_walk_condition
        )
        many = common_keys = rare_keys = 0
        monkeypatch.setattr(database, "COMMON_MATCHES", COMMON)
        monkeypatch.setattr(database, "_pg_common", {})
        with engine.connect() as conn:
            for typed in _queries(docs, rng):
                query = parse_query(typed)
                if query.empty:
                    continue
                expected = _reference(docs, kept, typed)
                walked = set(
                    conn.execute(
                        select(records.c.ocid).where(walk_condition(query, records.c.ocid))
                    ).scalars()
                )
                indexed = database.matching(engine.dialect.name, query)
                assert indexed is not None
                listed = conn.execute(select(records.c.ocid).where(records.c.ocid.in_(indexed))).scalars()
                assert set(listed) == expected, typed
                assert walked == expected, typed
                many += len(expected) >= 20
                # whether a page walks: an identifier prefix of COMMON (or more) documents does
                # (on PostgreSQL too, where the statistics list no identifier); one found in
                # fewer, by its words too, does not
                holders, keyed = _keyed(docs, query.key)
                worded = sum(set(query.terms) <= set(d.words.split()) for d in docs) if query.terms else 0
                if holders >= COMMON:
                    assert database.is_common(conn, query), typed
                    common_keys += 1
                elif keyed + worded < COMMON:
                    assert not database.is_common(conn, query), typed
                    rare_keys += query.key is not None
        assert many >= 20  # many queries find many processes: not a comparison of empty sets
        assert common_keys >= 5 and rare_keys >= 5, (common_keys, rare_keys)
    finally:
        engine.dispose()
