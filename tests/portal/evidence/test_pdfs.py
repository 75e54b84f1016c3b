"""An evidence PDF that fails is retried after the backoff the settings give
(EVIDENCE_PDF_RETRY_BASE, doubling up to EVIDENCE_PDF_RETRY_MAX), and never stops anchoring;
``veraz anchor`` says so and exits 1.

The failure is a real one: the signing key file made readable by others, which the signer
refuses. Real SQLite file, embedded chain and TSA.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import example_order
from evidence_builders import publish_examples

from portal.cli import main
from portal.db import app_engine
from portal.evidence.backends import Backends
from portal.evidence.pdfs import sign_due


@pytest.mark.parametrize(("base", "retried"), [(0, True), (3600, False)])
def test_a_failed_pdf_waits_the_configured_backoff(sqlite_app, tmp_path, base, retried):
    app = sqlite_app
    app.config.update(EVIDENCE_PDF_RETRY_BASE=base, EVIDENCE_PDF_RETRY_MAX=3600)
    client, runner = app.test_client(), app.test_cli_runner()
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    assert runner.invoke(main, ["anchor"]).exit_code == 0

    key = Path(app.config["INSTANCE_PATH"]) / "evidence-signing" / "signer.key"
    key.chmod(0o644)
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    failed = runner.invoke(main, ["anchor"])  # anchored; only its PDF failed, which is said
    assert failed.exit_code == 1
    assert "evidence-pdf: failed-retrying: the evidence PDF could not be signed" in failed.output
    assert "chmod 600" in failed.output
    second = client.get("/evidence.json").get_json()["checkpoints"][0]
    assert second["anchorStatus"] == "done" and second["pdf"] is None

    key.chmod(0o600)
    backends = Backends(app.config)
    try:
        made = sign_due(app_engine(app), app.config, backends)
    finally:
        backends.close()
    assert made == ([second["treeSize"]] if retried else [])
