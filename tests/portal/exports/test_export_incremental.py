"""Incremental and safe: only the years with new releases are rebuilt, each file is replaced
whole, and an export that fails (a file-size limit, as a full disk) or is killed leaves the
previous files served and says why; the next one finishes the job (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
import zipfile

import orjson
from builders import write_jsonl
from evidence_builders import PREFIX, publish_examples
from exports_support import a_new_order, folder_of, import_other, jsonl, manifest, package, run_export

from portal.db import app_engine
from portal.publishing import import_orders


def _state(app) -> dict[str, tuple[int, str]]:
    """Every public file's modification time (ns) and SHA-256, by name."""
    folder = folder_of(app)
    return {
        p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def _env(app) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": app.config["DATABASE_URL"],
        "PORTAL_INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "PORTAL_BASE_URL": app.config["BASE_URL"],
    }


def _veraz(*args: str) -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "veraz"), *args]


def test_only_the_years_with_new_releases_are_rebuilt(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path)
    first = run_export(app)
    assert first.rebuilt_years == ["2023", "2024", "2025"]
    before = _state(app)
    again = run_export(app)
    assert again.up_to_date and _state(app) == before

    publish_examples(app, tmp_path, [a_new_order("OC-2025-009999")], name="more")
    summary = run_export(app)
    assert summary.rebuilt_years == ["2025"], summary
    after = _state(app)
    untouched = {
        n for n in before if not n.startswith(("2025", "release-package-2025", "record-package-2025"))
    }
    untouched -= {"full.jsonl.gz", "manifest.json", "SHA256SUMS"}
    assert untouched and all(after[n] == before[n] for n in untouched)
    changed = {n for n in after if after[n] != before.get(n)}
    assert {"2025.jsonl.gz", "full.jsonl.gz", "manifest.json", "SHA256SUMS"} <= changed
    assert not changed & untouched
    ocids = {r["ocid"] for r in jsonl(folder_of(app) / "full.jsonl.gz")}
    assert f"{PREFIX}-OC-2025-009999" in ocids
    # The kept years' entries still say which snapshot they were made at.
    m = manifest(app)
    kept = [f for f in m["files"] if f["name"] == "2023.jsonl.gz"]
    assert kept[0]["release_id"] < m["snapshot"]["release_id"]


def test_a_process_whose_last_release_moves_year_leaves_its_old_year(app, tmp_path):
    import_other(app, tmp_path, "ocds-abc123-9", n=1, year=2023)
    run_export(app)
    assert [r["ocid"] for r in jsonl(folder_of(app) / "2023.jsonl.gz")] == ["ocds-abc123-9"]
    later = tmp_path / "later.json"
    package = orjson.loads((tmp_path / "ocds-abc123-9.json").read_bytes())
    package["releases"][0].update(id="ocds-abc123-9-later", date="2024-02-01T00:00:00Z")
    later.write_bytes(orjson.dumps(package))
    from portal.publishing import import_ocds

    assert import_ocds(app_engine(app), [later]).rejected == 0
    summary = run_export(app)
    assert summary.rebuilt_years == ["2023", "2024"]
    names = {f["name"] for f in manifest(app)["files"]}
    assert "2023.jsonl.gz" not in names and not (folder_of(app) / "2023.jsonl.gz").exists()
    assert "release-package-2023-1.json.gz" in names  # its first release is still of 2023
    assert [r["ocid"] for r in jsonl(folder_of(app) / "2024.jsonl.gz")] == ["ocds-abc123-9"]


def test_a_failed_export_leaves_the_previous_files_and_says_why(app, tmp_path):
    publish_examples(app, tmp_path)
    run_export(app)
    before = _state(app)
    publish_examples(app, tmp_path, [a_new_order("OC-2025-008888")], name="more")

    def small_files():  # as a full disk: no file may grow past 4 KB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run(
        _veraz("export"), env=_env(app), capture_output=True, text=True, preexec_fn=small_files, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "the export failed" in done.stderr and "previous files are still served" in done.stderr
    assert "Traceback" not in done.stderr
    assert _state(app) == before
    assert not (folder_of(app) / ".partial").exists()
    done = subprocess.run(_veraz("export"), env=_env(app), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "years rebuilt: 2025" in done.stderr


def test_a_killed_export_leaves_the_previous_files_and_the_next_one_finishes(app, tmp_path):
    publish_examples(app, tmp_path)
    run_export(app)
    before = _state(app)
    publish_examples(app, tmp_path, [a_new_order("OC-2025-007777")], name="more")
    for point in ("export-before-publish", "export-publishing"):
        done = subprocess.run(
            _veraz("export"), env={**_env(app), "VERAZ_CRASH_AT": point}, capture_output=True, timeout=300
        )
        assert done.returncode == -signal.SIGKILL
        assert (folder_of(app) / ".partial").is_dir()
        # The previous manifest, and every file it lists whole: the old one, or already the new.
        assert _state(app)["manifest.json"] == before["manifest.json"]
        for f in manifest(app)["files"]:
            path = folder_of(app) / f["name"]
            if f["name"].endswith(".gz"):
                gzip.decompress(path.read_bytes())
            else:
                assert zipfile.is_zipfile(path)
    assert _state(app)["manifest.json"] == before["manifest.json"]
    done = subprocess.run(_veraz("export"), env=_env(app), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (folder_of(app) / ".partial").exists()
    assert manifest(app)["snapshot"]["release_id"] == _last_release(app)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder_of(app), capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


def _last_release(app) -> int:
    with app_engine(app).connect() as conn:
        return int(conn.exec_driver_sql("SELECT max(id) FROM releases").scalar())


def test_an_export_during_an_import_is_one_snapshot(app, tmp_path):
    publish_examples(app, tmp_path)
    orders = [a_new_order(f"OC-2025-1{i:05d}") for i in range(60)]
    path = write_jsonl(tmp_path / "many.jsonl", orders)
    importing = threading.Thread(
        target=import_orders,
        args=(app_engine(app), path),
        kwargs={"ocid_prefix": PREFIX, "workers": 1, "batch_size": 5},
    )
    importing.start()
    try:
        summaries = []
        while importing.is_alive() or not summaries:
            summaries.append(run_export(app, formats=frozenset({"compiled", "packages"})))
            m = manifest(app)
            upto = m["snapshot"]["release_id"]
            with app_engine(app).connect() as conn:
                expected = sorted(
                    tuple(r)
                    for r in conn.exec_driver_sql(f"SELECT ocid, release_id FROM releases WHERE id <= {upto}")
                )
            exported = sorted(
                (r["ocid"], r["id"])
                for f in m["files"]
                if f["kind"] == "release-package"
                for r in package(folder_of(app) / f["name"])["releases"]
            )
            assert exported == expected  # whole batches only: every release up to the snapshot, none after
            assert m["counts"]["releases"] == len(expected)
    finally:
        importing.join()
