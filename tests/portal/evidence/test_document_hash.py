"""Hash 2 end to end: the order PDF's SHA-256 is in the release, in the log entry, in the
proof bundle; the served PDF matches it; a changed stored PDF is named by the audit."""

from __future__ import annotations

import hashlib

from builders import all_examples
from evidence_builders import order_ocid, publish_examples
from sqlalchemy import select, update

from anchoring.bundle import PASS, ProofBundle, verify_bundle
from portal.cli import main
from portal.db import app_engine
from portal.evidence.record import document_hash
from portal.models import order_pdfs, releases


def test_order_pdf_hash_is_logged_proved_and_audited(app, client, runner, tmp_path):
    engine = app_engine(app)
    publish_examples(app, tmp_path, pdfs=True)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    ocid = order_ocid(all_examples()[0])

    response = client.get(f"/api/proofs/{ocid}")
    assert response.status_code == 200
    bundle = ProofBundle.from_json(response.data)
    pdf = client.get(f"/contracts/{ocid}/order.pdf?release={bundle.release_id}").data
    assert pdf.startswith(b"%PDF")
    assert bundle.hashes["document"] == hashlib.sha256(pdf).hexdigest()
    release = client.get(f"/api/releases/{bundle.release_id}?ocid={ocid}").get_json()["releases"][0]
    assert document_hash(release) == bundle.hashes["document"]
    steps = {s.name: s for s in verify_bundle(bundle, release=release, document=pdf)}
    assert steps["document-hash"].status == PASS
    assert all(s.status == PASS for s in steps.values()), [s for s in steps.values()]
    changed = bytearray(pdf)
    changed[len(changed) // 2] ^= 1
    steps = {s.name: s for s in verify_bundle(bundle, document=bytes(changed))}
    assert steps["document-hash"].status != PASS

    assert runner.invoke(main, ["audit"]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(update(order_pdfs).where(order_pdfs.c.ocid == ocid).values(data=bytes(changed)))
        rid = conn.execute(select(releases.c.release_id).where(releases.c.ocid == ocid)).scalar()
    result = runner.invoke(main, ["audit"])
    assert result.exit_code == 1
    assert f"{ocid} release {rid}: step document-hash" in result.output
