"""Every file ``veraz export`` writes is valid OCDS, listed with its true size and SHA-256, in
the Data Registry's layout by year, and imported data keeps its publisher (SQLite and
PostgreSQL)."""

from __future__ import annotations

import gzip
import hashlib
import subprocess

import pytest
from evidence_builders import publish_examples
from exports_support import OTHER, folder_of, import_other, jsonl, manifest, package, run_export

from ocds.validate import package_problems, release_problems
from portal import queries
from portal.db import app_engine
from portal.exports import Limits


@pytest.fixture
def exported(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path)
    run_export(app)
    return app


def _files(app, kind):
    return [f for f in manifest(app)["files"] if f["kind"] == kind]


def test_layout_by_year_and_every_compiled_release_in_its_year(exported):
    folder = folder_of(exported)
    years = manifest(exported)["years"]
    assert years == ["2023", "2024", "2025"]
    for year in years:
        compiled = jsonl(folder / f"{year}.jsonl.gz")
        assert compiled and all(r["date"].startswith(year) for r in compiled)
        assert all(r["tag"] == ["compiled"] for r in compiled)
    # full.jsonl.gz is every year's compiled releases, in year order, and nothing else.
    full = jsonl(folder / "full.jsonl.gz")
    assert full == [r for y in years for r in jsonl(folder / f"{y}.jsonl.gz")]


def test_compiled_releases_are_those_the_portal_shows(exported):
    full = {r["ocid"]: r for r in jsonl(folder_of(exported) / "full.jsonl.gz")}
    with app_engine(exported).connect() as conn:
        ocids = [r[0] for r in conn.exec_driver_sql("SELECT ocid FROM records")]
        assert sorted(full) == sorted(ocids)
        for ocid in ocids:
            assert full[ocid] == queries.compiled_release(conn, ocid)
            assert release_problems(full[ocid]) == []


def test_packages_validate_deeply_and_hold_every_release_once(exported):
    seen = []
    for f in _files(exported, "release-package"):
        pkg = package(folder_of(exported) / f["name"])
        assert package_problems(pkg, "release", deep=True) == []
        assert len(pkg["releases"]) == f["releases"]
        assert all(r["date"].startswith(f["year"]) for r in pkg["releases"])
        seen += [(r["ocid"], r["id"]) for r in pkg["releases"]]
    with app_engine(exported).connect() as conn:
        stored = conn.exec_driver_sql("SELECT ocid, release_id FROM releases").all()
    assert sorted(seen) == sorted(tuple(r) for r in stored)
    records = []
    for f in _files(exported, "record-package"):
        pkg = package(folder_of(exported) / f["name"])
        assert package_problems(pkg, "record", deep=True) == []
        records += [r["ocid"] for r in pkg["records"]]
    assert len(records) == len(set(records)) == manifest(exported)["counts"]["compiledReleases"]


def test_imported_data_keeps_its_publisher_and_terms(exported):
    (other,) = [f for f in _files(exported, "release-package") if f["year"] == "2023"]
    pkg = package(folder_of(exported) / other["name"])
    assert pkg["publisher"] == OTHER and other["publisher"] == OTHER["name"]
    assert pkg["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert pkg["publicationPolicy"] == "https://example.org/politica"
    assert pkg["publishedDate"] == "2023-05-01T00:00:00Z"
    own = [f for f in _files(exported, "release-package") if f["year"] == "2025"]
    assert all(
        package(folder_of(exported) / f["name"])["publisher"]["name"] == exported.config["PUBLISHER_NAME"]
        for f in own
    )


def test_sizes_hashes_and_sha256sums_check_out_with_sha256sum(exported):
    folder = folder_of(exported)
    m = manifest(exported)
    for f in m["files"]:
        data = (folder / f["name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"])
        assert f["release_id"] == m["snapshot"]["release_id"] and f["tree_size"] == m["snapshot"]["tree_size"]
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(m["files"])
    (folder / "2024.jsonl.gz").write_bytes(b"tampered")
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 1 and "2024.jsonl.gz: FAILED" in done.stdout


def test_manifest_counts_dates_and_terms(exported):
    m = manifest(exported)
    with app_engine(exported).connect() as conn:
        n_releases = conn.exec_driver_sql("SELECT count(*) FROM releases").scalar()
        last = conn.exec_driver_sql("SELECT max(id) FROM releases").scalar()
    assert m["counts"]["releases"] == n_releases and m["snapshot"]["release_id"] == last
    assert m["ocdsVersion"] == "1.1" and m["license"] == exported.config["LICENSE"]
    assert m["publicationPolicy"] == exported.config["PUBLICATION_POLICY"]
    assert m["dateRange"]["first"].startswith("2023-04-0") and m["dateRange"]["last"].startswith("2025-")
    assert any(e.endswith("/extensions/integrity/extension.json") for e in m["extensions"])
    assert {f["kind"] for f in m["files"]} == {
        "compiled-releases",
        "release-package",
        "record-package",
        "csv",
        "xlsx",
    }


def test_the_same_bytes_for_the_same_data_with_worker_processes_or_without(app, tmp_path):
    publish_examples(app, tmp_path)
    import_other(app, tmp_path)
    run_export(app)
    first = {f["name"]: f["sha256"] for f in manifest(app)["files"]}
    run_export(app, full=True, workers=2)
    again = {f["name"]: f["sha256"] for f in manifest(app)["files"]}
    assert first == again


def test_packages_are_split_by_count_and_by_size(app, tmp_path):
    publish_examples(app, tmp_path)
    run_export(app, limits=Limits(max_package_items=2), formats=frozenset({"compiled", "packages"}))
    parts = [f for f in manifest(app)["files"] if f["kind"] == "release-package" and f["year"] == "2025"]
    assert len(parts) >= 3 and all(f["releases"] <= 2 for f in parts)
    assert [f["name"] for f in parts] == [
        f"release-package-2025-{i}.json.gz" for i in range(1, len(parts) + 1)
    ]
    biggest = max(len(r) for f in parts for r in [gzip.decompress((folder_of(app) / f["name"]).read_bytes())])
    limit = biggest - 1  # now no package of two releases fits: one release each
    run_export(
        app, full=True, limits=Limits(max_package_bytes=limit), formats=frozenset({"compiled", "packages"})
    )
    parts = [f for f in manifest(app)["files"] if f["kind"] == "release-package" and f["year"] == "2025"]
    for f in parts:
        raw = gzip.decompress((folder_of(app) / f["name"]).read_bytes())
        assert f["releases"] == 1 or len(raw) <= limit
        assert package_problems(orjson_loads(raw), "release") == []
    assert not (folder_of(app) / "2025.csv.tar.gz").exists()  # not asked for: an older one is gone


def orjson_loads(raw: bytes):
    import orjson

    return orjson.loads(raw)


def test_concatenate_copies_and_hashes_every_byte_with_the_kernel_or_without(tmp_path, monkeypatch):
    import os

    from portal.exports import files

    parts = []
    for i, size in enumerate((0, 1, 3 << 20, 12345)):
        path = tmp_path / f"part-{i}"
        path.write_bytes(os.urandom(size))
        parts.append(path)
    whole = b"".join(p.read_bytes() for p in parts)
    assert files.concatenate(parts, tmp_path / "full") == (len(whole), hashlib.sha256(whole).hexdigest())
    assert (tmp_path / "full").read_bytes() == whole

    calls = []

    def refuses_after_one_copy(src, dst, count, *args):  # as a file system without it would
        calls.append(count)
        if len(calls) > 1:
            raise OSError(18, "Invalid cross-device link")
        return real(src, dst, min(count, 1000), *args)

    real = os.copy_file_range
    monkeypatch.setattr(os, "copy_file_range", refuses_after_one_copy)
    assert files.concatenate(parts, tmp_path / "again") == (len(whole), hashlib.sha256(whole).hexdigest())
    assert (tmp_path / "again").read_bytes() == whole and len(calls) >= 2
