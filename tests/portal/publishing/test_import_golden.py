"""Every table an import writes is byte for byte what the pipeline wrote before it was optimised.

``import_golden.json`` holds the digests (``import_dump.table_digests``) of the database after
``import_dump.golden_import`` (120 generated orders, with order PDFs, and without them in bulk
mode; on SQLite and on PostgreSQL). They were computed by the publishing code as it stood before
its speed work: this test and ``import_dump.py`` copied onto commit 3870139 and run there with
``VERAZ_IMPORT_GOLDEN_OUT=<file>`` set, which makes the test record the digests it finds (one JSON
line per case) instead of comparing them. Any change to the worker step or the writer must leave
every table the same: releases and their canonical JSON, records, the read model, the search
documents and the full-text index's tables, order PDFs, quotes, source orders and the evidence
log's bundles and tiles. Only the times of the import are left out, and the columns added since
(``import_dump.LATER_COLUMNS``), which the test checks against what computes them.

One exception: a bulk load adds its search documents to SQLite's full-text index at its end, in
one statement, so FTS5 lays its segments out otherwise (``search_fts_data``, ``search_fts_idx``).
There the index is compared by what it holds: every (term, document, column) posting, the same
as FTS5 writes when it indexes the stored documents again, which are compared byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest
from import_dump import GOLDEN_MODES, golden_import
from sqlalchemy import select
from sqlalchemy.engine import make_url

from portal.db import make_engine
from portal.exports.splice import splice_flag
from portal.models import releases

GOLDEN_FILE = Path(__file__).parent / "import_golden.json"
#: FTS5's segment tables: how it lays its postings out, which depends on when it wrote them.
FTS_LAYOUT = ("search_fts_data", "search_fts_idx")


def _postings(conn) -> list[tuple]:
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_postings USING fts5vocab(main, search_fts, instance)"
    )
    return conn.exec_driver_sql("SELECT term, doc, col FROM temp.fts_postings ORDER BY 1, 2, 3").all()


def _assert_full_text_holds_the_documents(url: str) -> None:
    """The full-text index holds exactly the postings of the stored documents: FTS5's own
    check against its content, and the postings the same once FTS5 indexes them all again."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)")
            held = _postings(conn)
            conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('rebuild')")
            assert len(held) > 1000 and held == _postings(conn)
            conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("mode", sorted(GOLDEN_MODES))
def test_import_writes_what_the_unoptimised_pipeline_wrote(database_url, tmp_path, mode):
    case = f"{make_url(database_url).get_backend_name()}-{mode}"
    digests = golden_import(database_url, tmp_path, mode)
    record_to = os.environ.get("VERAZ_IMPORT_GOLDEN_OUT")
    if record_to:  # making the golden file from the code before a change (see the docstring)
        with open(record_to, "a") as f:
            f.write(json.dumps({case: digests}, sort_keys=True) + "\n")
        return
    expected = json.loads(GOLDEN_FILE.read_text())[case]
    assert sorted(set(expected) - set(digests)) == []  # no table the import wrote is gone
    # Tables made by later migrations are allowed only while an import leaves them empty: one it
    # writes must have its digest recorded (by the code before the change that writes it).
    written_new = {t: d for t, d in digests.items() if t not in expected and not d.startswith("0:")}
    assert written_new == {}
    layout = set(FTS_LAYOUT) if case == "sqlite-nopdf-bulk" else set()
    differing = {
        t: (digests[t], expected[t]) for t in expected if t not in layout and digests[t] != expected[t]
    }
    assert differing == {}
    if layout:
        assert {t: expected[t] for t in layout} != {t: digests[t] for t in layout}  # not the same bytes
        _assert_full_text_holds_the_documents(database_url)
    # The columns left out of the digests (import_dump.LATER_COLUMNS), each as computed.
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(releases.c.data, releases.c.splice)).all()
    finally:
        engine.dispose()
    assert rows and all(splice is splice_flag(orjson.loads(data), data) for data, splice in rows)
