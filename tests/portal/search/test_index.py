"""The search index is derived from the database: written with each import, equal when rebuilt,
updated by a new version, and never showing a process the database no longer has."""

from __future__ import annotations

import json

import pytest
from search_corpus import AGREEMENT, HUAMANGA, OCIDS, ORDERS, PAPELERA, order, publish
from sqlalchemy import delete, func, select

from portal.cli import main
from portal.db import app_engine
from portal.models import records
from portal.publishing import import_ocds
from portal.queries import compiled_release
from portal.search import SearchError, rebuild, search_ocids, whoosh_path
from portal.search.database import write_documents
from portal.search.documents import compiled_releases
from portal.search.tables import search_documents
from portal.search.whoosh_index import whoosh_index_at

QUERIES = [
    "computadoras",
    "limpieza",
    "huamanga",
    "distribuidora andina",
    "20131370998",
    "oc-2025-00012",
    "acuerdo marco",
    "neumaticos camioneta",
    AGREEMENT,
]


def documents_of(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(search_documents.c.ocid, search_documents.c.identifiers, search_documents.c.words)
        )
        return {ocid: (identifiers, words) for ocid, identifiers, words in rows}


def answers(app) -> dict[str, list[str]]:
    return {q: search_ocids(app_engine(app), app.config, q) for q in QUERIES}


def test_each_import_writes_the_documents_of_what_it_published(corpus_app):
    assert set(documents_of(app_engine(corpus_app))) == {*OCIDS.values(), AGREEMENT}


@pytest.mark.parametrize("search_engine", ["database", "whoosh"])
def test_rebuild_equals_incremental(corpus_app, tmp_path, search_engine):
    corpus_app.config["SEARCH_ENGINE"] = search_engine
    engine = app_engine(corpus_app)
    # A new version (other items) makes the incremental index replace a document.
    publish(
        corpus_app,
        tmp_path,
        [
            order(
                "OC-2025-000123",
                "Impresora láser monocromática",
                "Impresoras láser",
                HUAMANGA,
                ORDERS["A"]["supplier"],
                version=2,
            )
        ],
        "v2.jsonl",
    )
    incremental, found = documents_of(engine), answers(corpus_app)
    assert rebuild(engine) == 5
    if search_engine == "whoosh":
        whoosh_index_at(whoosh_path(corpus_app.config)).rebuild(engine)
    assert documents_of(engine) == incremental
    assert answers(corpus_app) == found
    assert found["computadoras"] == []
    assert OCIDS["A"] in search_ocids(engine, corpus_app.config, "impresoras laser")


@pytest.mark.parametrize("search_engine", ["database", "whoosh"])
def test_a_new_version_replaces_the_old_words(corpus_app, tmp_path, search_engine):
    corpus_app.config["SEARCH_ENGINE"] = search_engine
    engine = app_engine(corpus_app)
    assert search_ocids(engine, corpus_app.config, "papel bond") == [OCIDS["D"]]  # indexed now
    publish(
        corpus_app,
        tmp_path,
        [
            order(
                "OC-2025-001230",
                "Neumático 11R22.5 para camión",
                "Llantas para camiones pesados",
                HUAMANGA,
                PAPELERA,
                version=2,
            )
        ],
        "v2.jsonl",
    )
    assert search_ocids(engine, corpus_app.config, "papel bond") == []
    assert set(search_ocids(engine, corpus_app.config, "neumaticos")) == {OCIDS["C"], OCIDS["D"]}
    assert OCIDS["D"] in search_ocids(engine, corpus_app.config, "corporacion papelera")


@pytest.mark.parametrize("search_engine", ["database", "whoosh"])
def test_a_process_the_database_no_longer_has_is_never_shown(corpus_app, search_engine):
    corpus_app.config["SEARCH_ENGINE"] = search_engine
    engine = app_engine(corpus_app)
    assert set(search_ocids(engine, corpus_app.config, "huamanga")) == {OCIDS["A"], OCIDS["D"]}
    with engine.begin() as conn:
        conn.execute(delete(records).where(records.c.ocid == OCIDS["A"]))
    assert search_ocids(engine, corpus_app.config, "huamanga") == [OCIDS["D"]]
    assert search_ocids(engine, corpus_app.config, "OC-2025-000123") == []
    rebuild(engine)
    assert OCIDS["A"] not in documents_of(engine)


def test_documents_read_the_compiled_release_pages_read(corpus_app, tmp_path):
    publish(
        corpus_app,
        tmp_path,
        [
            order(
                "OC-2025-000123",
                "Impresora láser monocromática",
                "Impresoras láser",
                HUAMANGA,
                ORDERS["A"]["supplier"],
                version=2,
            )
        ],
        "v2.jsonl",
    )
    engine = app_engine(corpus_app)
    with engine.connect() as conn:
        ocids = list(conn.execute(select(records.c.ocid)).scalars())
        batched = {ocid: compiled for ocid, compiled, _ in compiled_releases(conn, ocids)}
        one_by_one = {ocid: compiled_release(conn, ocid) for ocid in ocids}
    assert batched == one_by_one
    assert len(ocids) == 5


def test_imported_ocds_is_searchable(app, tmp_path):
    release = {
        "ocid": "ocds-abc123-0001",
        "id": "r1",
        "date": "2025-03-04T10:15:00-05:00",
        "tag": ["tender"],
        "initiationType": "tender",
        "parties": [
            {
                "id": "PE-RUC-20100000001",
                "name": "Gobierno Regional de Cusco",
                "roles": ["buyer"],
                "identifier": {"scheme": "PE-RUC", "id": "20100000001"},
            }
        ],
        "buyer": {"id": "PE-RUC-20100000001", "name": "Gobierno Regional de Cusco"},
        "tender": {
            "id": "T-1",
            "title": "Adquisición de útiles de limpieza",
            "items": [{"id": "1", "description": "Escobas de paja"}],
        },
    }
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"uri": "https://x/p.json", "version": "1.1", "releases": [release]}))
    import_ocds(app_engine(app), [path])
    engine = app_engine(app)
    for text in ("utiles de limpieza", "escoba", "cusco", "20100000001", "ocds-abc123-0001"):
        assert search_ocids(engine, app.config, text) == ["ocds-abc123-0001"], text


def test_cli_rebuild(corpus_app):
    engine = app_engine(corpus_app)
    with engine.begin() as conn:
        write_documents(conn, [OCIDS["B"]], [])  # an index that missed a process
    assert search_ocids(engine, corpus_app.config, "limpieza") == []
    result = corpus_app.test_cli_runner().invoke(main, ["search-index", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Search documents of 5 processes" in result.output
    assert search_ocids(engine, corpus_app.config, "limpieza") == [OCIDS["B"]]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(search_documents)).scalar_one() == 5


def test_rebuild_repairs_a_full_text_index_changed_behind_its_back(corpus_app):
    engine = app_engine(corpus_app)
    with engine.begin() as conn:  # by hand: the full-text index still lists the document
        conn.execute(delete(search_documents).where(search_documents.c.ocid == OCIDS["B"]))
    assert rebuild(engine) == 5
    assert search_ocids(engine, corpus_app.config, "limpieza") == [OCIDS["B"]]
    assert set(search_ocids(engine, corpus_app.config, "acuerdo marco")) == {*OCIDS.values(), AGREEMENT}


def test_cli_rebuild_with_whoosh_rebuilds_its_index(corpus_app):
    corpus_app.config["SEARCH_ENGINE"] = "whoosh"
    result = corpus_app.test_cli_runner().invoke(main, ["search-index", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Whoosh index of 5 documents rebuilt" in result.output
    assert whoosh_path(corpus_app.config).is_dir()
    assert search_ocids(app_engine(corpus_app), corpus_app.config, "limpieza") == [OCIDS["B"]]


def test_an_unknown_engine_is_refused(corpus_app):
    corpus_app.config["SEARCH_ENGINE"] = "elastic"
    with pytest.raises(SearchError, match="SEARCH_ENGINE"):
        search_ocids(app_engine(corpus_app), corpus_app.config, "limpieza")
    result = corpus_app.test_cli_runner().invoke(main, ["search-index", "rebuild"])
    assert result.exit_code == 2
    assert "SEARCH_ENGINE" in result.output
