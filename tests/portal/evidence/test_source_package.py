"""Who published an imported release is evidence: its entry commits to the source package
statement, the proof bundle carries the statement, and ``veraz verify`` checks both.

A relabelled publisher (in the bundle or in the database) is named; the portal's own releases
keep entries and bundles without the member, byte for byte as before."""

from __future__ import annotations

import base64
import hashlib
import json

import orjson
from builders import example_order
from evidence_builders import order_ocid, publish_examples, schema_validator

from anchoring.canonical import canonical_json
from anchoring.entries import decode_entry
from portal.cli import main
from portal.db import app_engine
from portal.evidence.audit import audit
from portal.models import release_packages
from portal.publishing import import_ocds

PUBLISHER = {"name": "Dirección Nacional de Contrataciones Públicas", "scheme": "PY-RUC", "uid": "80000000-0"}
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
OCID = "ocds-abc123-src-1"


def _import(app, tmp_path) -> None:
    package = {
        "uri": "https://example.org/paquete/1.json",
        "version": "1.1",
        "publishedDate": "2023-05-01T00:00:00Z",
        "publisher": PUBLISHER,
        "license": LICENSE,
        "extensions": [],
        "releases": [
            {
                "ocid": OCID,
                "id": f"{OCID}-r1",
                "date": "2023-04-01T00:00:00Z",
                "tag": ["tender"],
                "initiationType": "tender",
                "tender": {"id": "T-1", "title": "Licitación de computadoras"},
            }
        ],
    }
    path = tmp_path / "package.json"
    path.write_bytes(orjson.dumps(package))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejected == 0, summary.rejects


def _verify(*args):
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["verify", *map(str, args)])


def test_the_entry_and_bundle_commit_to_who_published(app, client, runner, tmp_path):
    _import(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    response = client.get(f"/api/proofs/{OCID}")
    assert response.status_code == 200
    body = response.get_json()
    schema_validator().validate(body)
    statement = {
        "uri": "https://example.org/paquete/1.json",
        "version": "1.1",
        "publishedDate": "2023-05-01T00:00:00Z",
        "license": LICENSE,
        "publisher": PUBLISHER,
        "extensions": "[]",
    }
    assert body["source"] == statement
    want = hashlib.sha256(canonical_json(statement)).hexdigest()
    assert body["hashes"]["package"] == want
    assert decode_entry(base64.b64decode(body["entry"]["base64"])).package_hash == bytes.fromhex(want)

    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(response.data)
    release = tmp_path / "release.json"
    release.write_bytes(client.get(f"/api/releases/{OCID}-r1").data)
    result = _verify(bundle, "--release", release)
    assert result.exit_code == 0, result.output
    assert "PASS  source-package" in result.output and "PASS  entry" in result.output

    # The same publisher under another name: the statement no longer hashes to the entry's.
    relabelled = json.loads(response.data)
    relabelled["source"]["publisher"]["name"] = "Veraz"
    bundle.write_text(json.dumps(relabelled))
    result = _verify(bundle, "--release", release)
    assert result.exit_code != 0
    assert "FAIL  source-package" in result.output

    # Dropping the statement and its hash: the entry re-encoded without it is another entry.
    stripped = json.loads(response.data)
    del stripped["source"], stripped["hashes"]["package"]
    bundle.write_text(json.dumps(stripped))
    result = _verify(bundle, "--release", release)
    assert result.exit_code != 0 and "FAIL  entry" in result.output


def test_a_relabelled_publisher_in_the_database_is_named_by_the_audit(app, runner, tmp_path):
    _import(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    engine = app_engine(app)
    assert audit(engine, app.config).problems == []
    with engine.begin() as conn:
        conn.execute(release_packages.update().values(publisher_name="Veraz (demostración)"))
    problems = [str(p) for p in audit(engine, app.config).problems]
    assert problems and all(OCID in p for p in problems), problems


def test_the_portals_own_releases_have_no_package_member(app, client, runner, tmp_path):
    publish_examples(app, tmp_path)
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    body = client.get(f"/api/proofs/{order_ocid(example_order('2-package'))}").get_json()
    assert "source" not in body and "package" not in body["hashes"]
    assert b"packageHash" not in base64.b64decode(body["entry"]["base64"])
