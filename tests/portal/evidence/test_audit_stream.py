"""``veraz audit`` walks the published rows beside the log in chunks (``audit.CHUNK``).

With chunks of two rows every path of the walk runs: rows met in order, rows without a
pointer, pointers outside the log, order PDFs of no release. Real SQLite file and PostgreSQL.
"""

from __future__ import annotations

import hashlib

from evidence_builders import publish_examples
from sqlalchemy import func, insert, select, update

from portal.cli import main
from portal.db import app_engine
from portal.evidence import audit, store
from portal.models import order_pdfs, proformas, releases


def _publish(app, runner, tmp_path):
    publish_examples(app, tmp_path, pdfs=True)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    return app_engine(app)


def test_small_chunks_audit_the_same_published_rows(app, runner, tmp_path, monkeypatch):
    engine = _publish(app, runner, tmp_path)
    monkeypatch.setattr(audit, "CHUNK", 2)
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        rows = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (releases, proformas)
        )
        size = store.size(conn)
    assert rows == size > 4  # every entry is a published row
    assert f"Audited {size:,} log entries, {rows:,} published rows" in result.output


def test_pointers_missing_or_outside_the_log_and_stray_pdfs(app, runner, tmp_path, monkeypatch):
    engine = _publish(app, runner, tmp_path)
    monkeypatch.setattr(audit, "CHUNK", 2)
    with engine.begin() as conn:
        size = store.size(conn)
        first, second = conn.execute(
            select(releases.c.ocid, releases.c.release_id).order_by(releases.c.leaf_index).limit(2)
        ).all()
        quote = conn.execute(select(proformas.c.ocid, proformas.c.proforma_id)).first()
        conn.execute(
            update(releases).where(releases.c.release_id == first.release_id).values(leaf_index=None)
        )
        conn.execute(
            update(releases).where(releases.c.release_id == second.release_id).values(leaf_index=size + 10)
        )
        conn.execute(
            update(proformas).where(proformas.c.proforma_id == quote.proforma_id).values(leaf_index=-5)
        )
        pdf = conn.execute(select(order_pdfs).limit(1)).first()
        conn.execute(
            insert(order_pdfs).values(
                ocid="ocds-nowhere-1", release_id="r-1", sha256=pdf.sha256, data=pdf.data
            )
        )
        conn.execute(update(order_pdfs).where(order_pdfs.c.ocid == pdf.ocid).values(sha256="0" * 64))
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1
    out = result.output
    assert f"{first.ocid} release {first.release_id}: step entry: its leaf_index is missing" in out
    assert (
        f"{second.ocid} release {second.release_id}: step entry: its leaf_index is "
        f"{size + 10}, outside the log"
    ) in out
    assert (
        f"{quote.ocid} proforma {quote.proforma_id}: step entry: its leaf_index is -5, outside the log"
    ) in out
    # Each of those three entries is accounted for by its row: none is called an orphan.
    assert "matches no published row" not in out
    assert (
        "ocds-nowhere-1 release r-1: step document-hash: the stored order PDF hashes to "
        f"{hashlib.sha256(pdf.data).hexdigest()}, the release declares None"
    ) in out
    assert f"{pdf.ocid} release {pdf.release_id}: step document-hash" in out
    assert "its sha256 column says " + "0" * 64 in out


def test_a_deleted_release_leaves_its_entry_named(app, runner, tmp_path, monkeypatch):
    engine = _publish(app, runner, tmp_path)
    monkeypatch.setattr(audit, "CHUNK", 3)
    with engine.begin() as conn:
        victim = conn.execute(
            select(releases.c.ocid, releases.c.release_id, releases.c.leaf_index)
            .order_by(releases.c.leaf_index.desc())
            .limit(1)
        ).first()
        conn.execute(order_pdfs.delete().where(order_pdfs.c.release_id == victim.release_id))
        conn.execute(releases.delete().where(releases.c.release_id == victim.release_id))
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1
    assert (
        f"{victim.ocid} release {victim.release_id}: step log: log entry "
        f"{victim.leaf_index} matches no published row"
    ) in result.output
