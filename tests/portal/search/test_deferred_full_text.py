"""A bulk load adds its search documents to SQLite's full-text index at its end.

While the index is deferred, documents are written to ``search_documents`` only: search does not
find them, a document replaced meanwhile is removed from the index only if the index held it
(FTS5 takes a 'delete' of one it does not hold for a corrupt index), and at the end the index
holds exactly the stored documents. A load killed before its end leaves documents pending: the
next write, ``veraz db upgrade`` and the next bulk load's end add them, and the audit names each
one until then. On PostgreSQL the postings are written as usual.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.db import make_engine, upgrade
from portal.search import database
from portal.search.documents import Document
from portal.search.tables import documents_pending


def _doc(ocid: str, word: str) -> Document:
    return Document(ocid, f"{ocid.replace('-', '')} key{word}", f"palabra{word} comun")


def _write(engine, docs: list[Document]) -> None:
    with engine.begin() as conn:
        database.write_documents(conn, [d.ocid for d in docs], docs)


def _found(engine, word: str) -> set[str]:
    """The ocids whose documents the full-text index finds by ``word`` (in their words)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = (
                "SELECT d.ocid FROM search_fts JOIN search_documents AS d ON d.id = search_fts.rowid "
                "WHERE search_fts MATCH :m"
            )
            return set(conn.execute(text(sql), {"m": f'words : "{word}"'}).scalars())
        sql = (
            "SELECT d.ocid FROM search_documents AS d WHERE d.id IN "
            f"(SELECT m.document FROM ({database.PG_STORED_POSTINGS}) AS m WHERE m.term = :m)"
        )
        return set(conn.execute(text(sql), {"m": "D" + word}).scalars())  # a word: weight D


def _integrity(engine, against_content: bool) -> None:
    """FTS5's integrity check: of the index itself, or (``against_content``) of the index
    against the stored documents; raises when it fails."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', {int(against_content)})"
        )


def _pending(engine) -> bool:
    with engine.connect() as conn:
        return documents_pending(conn)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_documents_written_while_deferred_are_indexed_at_its_end(engine):
    sqlite = engine.dialect.name == "sqlite"
    _write(engine, [_doc("ocds-a-1", "uno"), _doc("ocds-a-2", "dos"), _doc("ocds-a-3", "tres")])
    assert not _pending(engine)
    with database.full_text_deferred(engine):
        # A document the index holds replaced, and a new one.
        _write(engine, [_doc("ocds-a-2", "nuevo"), _doc("ocds-a-4", "cuatro")])
        # A document written in this very block replaced (the index never held it), a new one.
        _write(engine, [_doc("ocds-a-4", "otro"), _doc("ocds-a-5", "cinco")])
        assert _found(engine, "palabrados") == set()  # removed from the index at once
        if sqlite:
            assert _pending(engine)
            assert _found(engine, "palabracinco") == set() and _found(engine, "palabraotro") == set()
            _integrity(engine, against_content=False)  # pending, but never corrupt
            with pytest.raises(Exception, match="malformed|corrupt"):
                _integrity(engine, against_content=True)  # not yet every stored document
        else:  # PostgreSQL's postings are written as usual
            assert _found(engine, "palabracinco") == {"ocds-a-5"}
    assert not _pending(engine)
    if sqlite:
        _integrity(engine, against_content=True)
    assert _found(engine, "comun") == {f"ocds-a-{n}" for n in range(1, 6)}
    assert _found(engine, "palabraotro") == {"ocds-a-4"} and _found(engine, "palabracuatro") == set()
    assert _found(engine, "palabranuevo") == {"ocds-a-2"} and _found(engine, "palabrados") == set()


def test_the_end_of_a_deferred_block_adds_its_documents_however_it_ends(engine):
    with pytest.raises(KeyboardInterrupt), database.full_text_deferred(engine):
        _write(engine, [_doc("ocds-b-1", "uno")])
        raise KeyboardInterrupt
    assert not _pending(engine)
    assert _found(engine, "palabrauno") == {"ocds-b-1"}


def _killed_load(engine, docs: list[Document]) -> None:
    """Documents written as a bulk load writes them, the process then killed before its end."""
    token = database._FULL_TEXT_DEFERRED.set(True)
    try:
        _write(engine, docs)
    finally:
        database._FULL_TEXT_DEFERRED.reset(token)


def test_a_killed_load_is_caught_up_by_the_next_write(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        _write(engine, [_doc("ocds-c-1", "uno")])
        _killed_load(engine, [_doc("ocds-c-2", "dos"), _doc("ocds-c-3", "tres")])
        assert _pending(engine) and _found(engine, "palabrados") == set()
        # A write outside a bulk load adds the pending documents before its own (which would
        # otherwise sit in the index above documents it does not hold), and may replace one.
        _write(engine, [_doc("ocds-c-3", "otro"), _doc("ocds-c-4", "cuatro")])
        assert not _pending(engine)
        _integrity(engine, against_content=True)
        assert _found(engine, "comun") == {f"ocds-c-{n}" for n in range(1, 5)}
        assert _found(engine, "palabratres") == set()
    finally:
        engine.dispose()


def test_a_killed_load_is_caught_up_by_upgrade_and_named_by_the_audit_until_then(sqlite_url):
    from portal.evidence.audit_derived import check_search_index

    engine = make_engine(sqlite_url)
    try:
        _write(engine, [_doc("ocds-d-1", "uno")])
        _killed_load(engine, [_doc("ocds-d-2", "dos")])
        with engine.connect() as conn:
            named = []
            check_search_index(conn, lambda kind, where, what: named.append(where))
        assert named == ["ocds-d-2 search document"]
        upgrade(sqlite_url)  # what `make run` and `veraz db upgrade` do
        assert not _pending(engine)
        _integrity(engine, against_content=True)
        assert _found(engine, "palabrados") == {"ocds-d-2"}
        with engine.connect() as conn:
            named = []
            check_search_index(conn, lambda kind, where, what: named.append(where))
        assert named == []
    finally:
        engine.dispose()


def test_the_search_page_says_when_search_does_not_find_every_process_yet(corpus_app):
    """While documents are pending (here, one process's new document, as a bulk load that was
    killed leaves it), a search says so, in Spanish and in English, and its JSON twin too."""
    from portal.db import app_engine

    engine = app_engine(corpus_app)
    client = corpus_app.test_client()
    spanish = "La búsqueda aún no encuentra todos los procesos"
    english = "Search does not find every process yet"
    with engine.connect() as conn:
        ocid, identifiers, words = conn.execute(
            text("SELECT ocid, identifiers, words FROM search_documents ORDER BY id LIMIT 1")
        ).one()
    _killed_load(engine, [Document(ocid, identifiers, words + " palabranueva")])
    pending = engine.dialect.name == "sqlite"  # PostgreSQL's postings were written at once
    assert _pending(engine) is pending
    page = client.get("/contracts?q=computadoras").get_data(as_text=True)
    assert (spanish in page) is pending
    assert (english in client.get("/contracts?q=computadoras&lang=en").get_data(as_text=True)) is pending
    assert client.get("/contracts?q=computadoras").status_code == 200
    assert client.get("/contracts.json?q=computadoras").get_json()["search_complete"] is not pending
    assert spanish not in client.get("/contracts").get_data(as_text=True)  # no search, every process
    with engine.begin() as conn:
        database.catch_up_full_text(conn)
    assert spanish not in client.get("/contracts?q=computadoras").get_data(as_text=True)
    assert client.get("/contracts.json?q=computadoras").get_json()["search_complete"] is True
