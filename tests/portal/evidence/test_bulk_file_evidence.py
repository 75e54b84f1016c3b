"""Bulk download files are evidence: each finished file is logged as a ``bulk`` entry, proven
by ``/api/proofs/files/<name>`` and checked offline by ``veraz verify-file``; with
``--releases`` every release inside is looked up among the logged entries, fetched from a real
portal over HTTP and proven against the checkpoint's root."""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

import orjson
from evidence_builders import publish_examples
from sqlalchemy import func, select, update

from anchoring.entries import BulkFileEntry, decode_entry
from anchoring.file_bundle import FileProofBundle
from portal.cli import main
from portal.db import app_engine
from portal.evidence import store
from portal.evidence.audit import audit
from portal.evidence.tables import bulk_files
from portal.exports import Publication, export


def _export(app) -> Path:
    folder = Path(app.config["INSTANCE_PATH"]) / "exports"
    export(app_engine(app), folder, Publication.from_config(app.config))
    return folder


def _verify_file(*args):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["verify-file", *map(str, args)])


def _bundle(client, tmp_path: Path, name: str) -> Path:
    response = client.get(f"/api/proofs/files/{name}")
    assert response.status_code == 200, response.data
    path = tmp_path / f"{name}.bundle.json"
    path.write_bytes(response.data)
    return path


def test_every_exported_file_is_logged_proven_and_verified(app, client, runner, tmp_path):
    publish_examples(app, tmp_path)
    folder = _export(app)
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    with app_engine(app).connect() as conn:
        rows = {r.name: r for r in conn.execute(select(bulk_files))}
        size_before = store.size(conn)
    assert set(rows) == {f["name"] for f in manifest["files"]}
    for f in manifest["files"]:
        row = rows[f["name"]]
        assert (row.sha256, row.size, row.releases) == (f["sha256"], f["size"], f["releases"])
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    key = tmp_path / "log.vkey"
    key.write_text(client.get("/api/log/key").text)

    for f in manifest["files"]:
        path = folder / f["name"]
        bundle = _bundle(client, tmp_path, f["name"])
        body = orjson.loads(bundle.read_bytes())
        entry = decode_entry(base64.b64decode(body["entry"]["base64"]))
        assert isinstance(entry, BulkFileEntry)
        assert entry.file_hash.hex() == hashlib.sha256(path.read_bytes()).hexdigest()
        assert FileProofBundle.from_json(bundle.read_bytes()).to_dict() == body
        result = _verify_file(path, "--bundle", bundle, "--key", key)
        assert result.exit_code == 0, result.output
        assert "PASS  file-hash" in result.output and "PASS  inclusion" in result.output

    # The downloads page tells a journalist how, and links each file's own proof.
    page = client.get("/downloads").get_data(as_text=True)
    assert "veraz verify-file ARCHIVO --bundle PRUEBA.json --key log.vkey" in page
    for f in manifest["files"]:
        assert f"/api/proofs/files/{f['name']}?sha256={f['sha256']}" in page
    assert "--releases" in client.get("/downloads?lang=en").get_data(as_text=True)

    # Exported again unchanged: the same bytes keep their entries, nothing new is logged.
    _export(app)
    with app_engine(app).connect() as conn:
        assert store.size(conn) == size_before
        assert conn.execute(select(func.count()).select_from(bulk_files)).scalar() == len(rows)


def test_an_altered_or_another_file_fails_and_is_named(app, client, runner, tmp_path):
    publish_examples(app, tmp_path)
    folder = _export(app)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    bundle = _bundle(client, tmp_path, "full.jsonl.gz")

    # One release changed inside the file, recompressed: another SHA-256.
    with gzip.open(folder / "full.jsonl.gz", "rb") as f:
        lines = f.read().splitlines()
    first = orjson.loads(lines[0])
    first["date"] = "2020-01-01T00:00:00Z"
    altered = tmp_path / "full.jsonl.gz"
    altered.write_bytes(gzip.compress(b"\n".join([orjson.dumps(first), *lines[1:]]) + b"\n"))
    result = _verify_file(altered, "--bundle", bundle)
    assert result.exit_code == 1 and "FAIL  file-hash" in result.output, result.output
    assert "NOT VERIFIED" in result.output

    # A genuine file checked against another file's bundle.
    other = next(p for p in sorted(folder.glob("*.jsonl.gz")) if p.name != "full.jsonl.gz")
    result = _verify_file(other, "--bundle", bundle)
    assert result.exit_code == 1 and "FAIL  file-hash" in result.output
    assert f"the file is named {other.name}" in result.output

    # A bundle whose stated file differs from its entry: the entry step fails.
    body = orjson.loads(bundle.read_bytes())
    body["file"]["releases"] += 1
    forged = tmp_path / "forged.json"
    forged.write_bytes(orjson.dumps(body))
    result = _verify_file(folder / "full.jsonl.gz", "--bundle", forged)
    assert result.exit_code == 1 and "FAIL  entry" in result.output

    assert client.get("/api/proofs/files/no-such.jsonl.gz").status_code == 404
    assert client.get("/api/proofs/files/full.jsonl.gz?sha256=XYZ").status_code == 400
    assert client.get("/api/proofs/files/full.jsonl.gz?shaa256=" + "0" * 64).status_code == 400


def test_the_audit_names_an_edited_file_row(app, runner, tmp_path):
    publish_examples(app, tmp_path)
    _export(app)
    engine = app_engine(app)
    assert audit(engine, app.config).problems == []
    with engine.begin() as conn:
        conn.execute(update(bulk_files).where(bulk_files.c.name == "full.jsonl.gz").values(size=1))
    problems = [str(p) for p in audit(engine, app.config).problems]
    assert problems and any("file full.jsonl.gz" in p for p in problems), problems


def test_every_release_inside_is_checked_against_the_logged_entries(sqlite_app, tmp_path, gunicorn):
    app = sqlite_app
    publish_examples(app, tmp_path)
    folder = _export(app)
    runner = app.test_cli_runner()
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    client = app.test_client()
    packages = sorted(p.name for p in folder.glob("release-package-*.json.gz"))
    assert packages, sorted(p.name for p in folder.iterdir())
    name = packages[0]
    bundle = _bundle(client, tmp_path, name)
    base = gunicorn.start(app.config["DATABASE_URL"], Path(app.config["INSTANCE_PATH"]))

    result = _verify_file(folder / name, "--bundle", bundle, "--releases", "--log", base)
    assert result.exit_code == 0, result.output
    with gzip.open(folder / name, "rb") as f:
        count = len(orjson.loads(f.read())["releases"])
    assert f"Releases: {count:,} verified, 0 altered, 0 unknown" in result.output

    # A file of compiled releases: each is derived, so none is called unknown or altered.
    full = _bundle(client, tmp_path, "full.jsonl.gz")
    result = _verify_file(folder / "full.jsonl.gz", "--bundle", full, "--releases", "--log", base)
    assert result.exit_code == 0, result.output
    assert "0 verified, 0 altered, 0 unknown" in result.output
    assert "a compiled release (derived from the logged releases)" in result.output
    # A log address that does not answer is a sentence, not a traceback.
    result = _verify_file(folder / name, "--bundle", bundle, "--releases", "--log", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "cannot read the log's entries at http://127.0.0.1:9" in result.output

    # The same package with one release altered (and so another file): its bytes are not the
    # logged file's, and the release is named as altered.
    with gzip.open(folder / name, "rb") as f:
        package = orjson.loads(f.read())
    package["releases"][0]["date"] = "2020-01-01T00:00:00Z"
    altered = tmp_path / name
    altered.write_bytes(gzip.compress(orjson.dumps(package)))
    result = _verify_file(altered, "--bundle", bundle, "--releases", "--log", base)
    assert result.exit_code == 1
    assert "FAIL  file-hash" in result.output
    first = package["releases"][0]
    assert f"{count - 1:,} verified, 1 altered, 0 unknown" in result.output, result.output
    assert f"ALTERED  releases[0]: {first['ocid']} release {first['id']}" in result.output

    # A release the log never held is unknown.
    package["releases"][0] = {**first, "id": "never-published", "date": first.get("date")}
    altered.write_bytes(gzip.compress(orjson.dumps(package)))
    result = _verify_file(altered, "--bundle", bundle, "--releases", "--log", base)
    assert result.exit_code == 1 and "1 unknown" in result.output, result.output
