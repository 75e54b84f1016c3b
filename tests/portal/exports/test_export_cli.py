"""``veraz export``, the export after an import (EXPORT_AFTER_IMPORT) and the watcher's round
(EXPORT_WATCH): each brings the bulk downloads up to date, and says what it did."""

from __future__ import annotations

from builders import all_examples, write_jsonl
from evidence_builders import publish_examples
from exports_support import a_new_order, folder_of, manifest

from portal.cli import main
from portal.db import app_engine
from portal.exports.cli import export_due


def test_veraz_export_and_its_sentences(app, runner, tmp_path):
    publish_examples(app, tmp_path)
    result = runner.invoke(main, ["export"])
    assert result.exit_code == 0, result.output
    assert "years rebuilt: 2024, 2025" in result.output
    assert (folder_of(app) / "full.jsonl.gz").is_file()
    again = runner.invoke(main, ["export"])
    assert again.exit_code == 0 and "up to date" in again.output
    elsewhere = tmp_path / "elsewhere"
    result = runner.invoke(main, ["export", "--dir", str(elsewhere), "--full"])
    assert result.exit_code == 0 and (elsewhere / "manifest.json").is_file()
    (tmp_path / "file").write_text("")
    result = runner.invoke(main, ["export", "--dir", str(tmp_path / "file")])
    assert result.exit_code == 2 and "is a file" in result.output  # an unusable argument
    result = runner.invoke(main, ["export", "--dir", str(tmp_path / "file" / "below")])
    assert result.exit_code == 1 and "the export failed" in result.output and "Traceback" not in result.output


def test_imports_export_when_the_setting_says_so(app, runner, tmp_path):
    path = write_jsonl(tmp_path / "orders.jsonl", all_examples())
    result = runner.invoke(main, ["import-orders", str(path)])
    assert result.exit_code == 0, result.output
    assert not folder_of(app).exists()
    app.config["EXPORT_AFTER_IMPORT"] = True
    more = write_jsonl(tmp_path / "more.jsonl", [a_new_order("OC-2025-005555")])
    result = runner.invoke(main, ["import-orders", str(more)])
    assert result.exit_code == 0, result.output
    assert "years rebuilt" in result.output
    assert manifest(app)["counts"]["compiledReleases"] >= 6
    # Quick (EXPORT_QUICK, the default): compiled releases only; the packages follow later.
    assert manifest(app)["packagesLeft"] == ["2024", "2025"]
    assert "release and record packages of 2024, 2025 left as they were" in result.output
    assert not [f for f in manifest(app)["files"] if f["kind"] != "compiled-releases"]
    result = runner.invoke(main, ["export", "--no-tables"])
    assert result.exit_code == 0 and "years rebuilt: 2024, 2025" in result.output, result.output
    assert manifest(app)["packagesLeft"] == []
    assert {"release-package-2024-1.json.gz", "record-package-2025-1.json.gz"} <= {
        f["name"] for f in manifest(app)["files"]
    }
    app.config["EXPORT_QUICK"] = False
    later = write_jsonl(tmp_path / "later.jsonl", [a_new_order("OC-2025-005556")])
    result = runner.invoke(main, ["import-orders", str(later)])
    assert result.exit_code == 0 and "left as they were" not in result.output, result.output
    assert manifest(app)["packagesLeft"] == []


def test_the_watchers_round_exports_only_when_releases_are_new(app, tmp_path):
    publish_examples(app, tmp_path)
    assert not export_due(app_engine(app), app.config)  # off by default
    config = {**app.config, "EXPORT_WATCH": True}
    assert export_due(app_engine(app), config)
    assert not export_due(app_engine(app), config)  # nothing new
    publish_examples(app, tmp_path, [a_new_order("OC-2025-004444")], name="more")
    assert export_due(app_engine(app), config)
    with app_engine(app).connect() as conn:
        last = conn.exec_driver_sql("SELECT max(id) FROM releases").scalar()
    assert manifest(app)["snapshot"]["release_id"] == last
