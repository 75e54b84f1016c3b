"""What search finds comes from ``search_documents`` and the database's full-text index over
them: editing either is named by ``veraz audit`` (a process hidden from search, or found by
words it does not hold). Real SQLite file and PostgreSQL.
"""

from __future__ import annotations

from builders import example_order
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import delete, select, text, update

from portal.db import app_engine
from portal.evidence.audit import Check, audit
from portal.search.tables import search_documents

ORDER = example_order("1-single")
OCID = order_ocid(ORDER)


def _published(app, tmp_path):
    publish_examples(app, tmp_path, [ORDER, example_order("4-multi-destination")], name="v1")
    engine = app_engine(app)
    assert [p for p in audit(engine, app.config).problems if p.check == Check.SEARCH] == []
    return engine


def _search_problems(engine, config) -> list[tuple[str, str]]:
    return [(p.subject, p.detail) for p in audit(engine, config).problems if p.check == Check.SEARCH]


def test_edited_words_are_named(app, tmp_path):
    engine = _published(app, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            update(search_documents)
            .where(search_documents.c.ocid == OCID)
            .values(words=search_documents.c.words + " soborno")
        )
    problems = _search_problems(engine, app.config)
    assert any(s == f"{OCID} search document" and d.startswith("words are") for s, d in problems), problems


def test_a_deleted_document_is_named(app, tmp_path):
    engine = _published(app, tmp_path)
    with engine.begin() as conn:
        conn.execute(delete(search_documents).where(search_documents.c.ocid == OCID))
    problems = _search_problems(engine, app.config)
    assert (f"{OCID} search document", "no search document: search cannot find the process") in problems


def test_an_index_that_disagrees_with_its_documents_is_named(app, tmp_path):
    engine = _published(app, tmp_path)
    with engine.begin() as conn:
        document = conn.execute(
            select(search_documents.c.id).where(search_documents.c.ocid == OCID)
        ).scalar_one()
        if conn.dialect.name == "sqlite":  # the document moved under the index (external content)
            conn.execute(
                update(search_documents).where(search_documents.c.id == document).values(id=document + 1000)
            )
        else:  # the postings the engine reads lose the document's words
            conn.execute(
                text(
                    "UPDATE search_posting_blocks "
                    "SET offsets = array_remove(offsets, CAST(:d & 1023 AS smallint)) WHERE block = :d >> 10"
                ),
                {"d": document},
            )
    problems = _search_problems(engine, app.config)
    assert any(s == f"{OCID} search document" for s, _ in problems), problems
    assert all(s in (f"{OCID} search document", "search index") for s, _ in problems), problems


def test_postings_of_words_a_document_does_not_hold_are_named(app, tmp_path):
    engine = _published(app, tmp_path)
    with engine.begin() as conn:
        document = conn.execute(
            select(search_documents.c.id).where(search_documents.c.ocid == OCID)
        ).scalar_one()
        if conn.dialect.name == "sqlite":  # FTS5 indexes what it is given: an entry for other text
            conn.exec_driver_sql(
                "INSERT INTO search_fts(rowid, identifiers, words) VALUES (?, '', 'soborno')", (document,)
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO search_posting_blocks (term, block, offsets) "
                    "VALUES ('Dsoborno', :d >> 10, ARRAY[CAST(:d & 1023 AS smallint)])"
                ),
                {"d": document},
            )
    problems = _search_problems(engine, app.config)
    assert problems, "an index entry for words the document does not hold went unseen"
    if engine.dialect.name != "sqlite":
        assert (
            f"{OCID} search document",
            f"postings of document {document} hold words its document does not",
        ) in problems


def test_a_document_with_any_text_is_named_not_a_crash(app, tmp_path):
    engine = _published(app, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            update(search_documents).where(search_documents.c.ocid == OCID).values(identifiers='x" OR "y *')
        )
    problems = _search_problems(engine, app.config)
    assert any(s == f"{OCID} search document" and d.startswith("identifiers are") for s, d in problems), (
        problems
    )
