"""Evidence PDFs: one signed (PAdES B-T) forensic record per anchored checkpoint.

Checked with the tools a citizen would use: ``pyhanko sign validate`` (pyhanko-cli) and
poppler's ``pdfsig`` and ``pdftotext``, on a real SQLite file and a real PostgreSQL database,
with the embedded chain and the embedded TSA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
from builders import example_order
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from evidence_builders import publish_examples
from support import need

from portal.cli import main
from portal.db import app_engine
from portal.evidence import pdfs, signing, store
from portal.evidence.read.anchors import anchor_rows

PYHANKO = Path(sys.executable).parent / "pyhanko"


def _pyhanko_validate(pdf: Path, ca: Path) -> subprocess.CompletedProcess:
    need(PYHANKO.exists(), "the pyhanko command (package pyhanko-cli) is not installed")
    return subprocess.run(
        [
            str(PYHANKO),
            "sign",
            "validate",
            "--trust",
            str(ca),
            "--trust-replace",
            "--no-revocation-check",
            str(pdf),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _pdfsig(pdf: Path) -> str:
    """pdfsig's report. It exits 0 even on a digest mismatch: the caller reads the text."""
    need(shutil.which("pdfsig") is not None, "pdfsig (poppler-utils) is not installed")
    done = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def _pdftotext(pdf: Path) -> str:
    need(shutil.which("pdftotext") is not None, "pdftotext (poppler-utils) is not installed")
    done = subprocess.run(
        ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def _tampered(data: bytes) -> bytes:
    """One byte changed inside the first signed range (the document title), still a PDF."""
    start, length = (int(x) for x in re.search(rb"/ByteRange \[(\d+) (\d+)", data).groups())
    at = data.index(b"Registro de evidencia / Evidence record")
    assert start <= at < start + length
    return data[:at] + b"r" + data[at + 1 :]


def test_signed_evidence_pdf_end_to_end(app, client, runner, tmp_path):
    publish_examples(app, tmp_path)
    assert client.get("/evidence.json").get_json()["checkpoints"] == []
    assert runner.invoke(main, ["anchor"]).exit_code == 0

    listing = client.get("/evidence.json").get_json()
    (item,) = listing["checkpoints"]
    with app_engine(app).connect() as conn:
        size = store.size(conn)
        entries = store.entries(conn, 0, size)
    assert item["treeSize"] == size and item["entries"] == size and item["firstIndex"] == 0
    assert item["anchorStatus"] == "done"
    assert item["pdf"]["url"] == f"/evidence/{size}.pdf"

    response = client.get(item["pdf"]["url"])
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    data = response.data
    assert hashlib.sha256(data).hexdigest() == item["pdf"]["sha256"]
    assert len(data) == item["pdf"]["bytes"]
    pdf, ca = tmp_path / "evidence.pdf", tmp_path / "ca.pem"
    pdf.write_bytes(data)
    ca.write_bytes(client.get(listing["ca"]).data)

    # Validates with pyHanko (signature intact and trusted, timestamp intact and trusted) ...
    done = _pyhanko_validate(pdf, ca)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTACT:TRUSTED" in done.stdout and "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in done.stdout
    # ... and with poppler.
    report = _pdfsig(pdf)
    assert "Signature is Valid" in report and "Total document signed" in report, report
    assert "Signature Field Name: VerazEvidence" in report

    # One changed byte inside the signed range: both tools say so.
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(_tampered(data))
    done = _pyhanko_validate(bad, ca)
    assert done.returncode != 0, done.stdout
    report = _pdfsig(bad)
    assert "Signature is Valid" not in report and "Digest Mismatch" in report, report

    # Every entry sealed in the checkpoint is listed, with its hashes; so are the checkpoint
    # note and both anchors.
    text = _pdftotext(pdf)
    for index, entry in enumerate(entries):
        obj = orjson.loads(entry)
        assert f"#{index} {obj['kind']}" in text
        for member, value in obj.items():
            if member not in ("v", "kind"):
                assert value in text, (index, member)
    with app_engine(app).connect() as conn:
        note = store.latest(conn).note
        anchors = {a["type"]: a for a in anchor_rows(conn)[size]}
    for line in note.rstrip("\n").split("\n"):
        assert line.strip() in text
    assert anchors["evm"]["txHash"] in text and str(anchors["evm"]["blockNumber"]) in text
    assert anchors["rfc3161"]["genTime"] in text
    order = example_order("2-package")
    assert order["orderNumber"] in text

    # Deterministic: rendering again gives the bytes the signature was appended to.
    with app_engine(app).connect() as conn:
        unsigned = pdfs.render(conn, app.config, size)
        assert pdfs.render(conn, app.config, size) == unsigned
    assert data.startswith(unsigned) and len(data) > len(unsigned)

    # The page, in both languages, links it.
    for lang, word in (("es", "Registros de evidencia"), ("en", "Evidence records")):
        page = client.get(f"/evidence?lang={lang}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert word in html and f'href="/evidence/{size}.pdf"' in html
    assert client.get("/evidence/999999.pdf").status_code == 404


def test_one_pdf_per_checkpoint_made_only_once_anchored(sqlite_app, tmp_path):
    app = sqlite_app
    client, runner = app.test_client(), app.test_cli_runner()
    publish_examples(app, tmp_path, [example_order("1-single")], name="a")
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    first = client.get("/evidence.json").get_json()["checkpoints"][0]
    data = client.get(first["pdf"]["url"]).data

    # A second checkpoint whose EVM anchor fails: it is listed, pending, without a PDF.
    publish_examples(app, tmp_path, [example_order("2-package")], name="b")
    app.config["EVM_RPC_URL"] = "http://127.0.0.1:9"  # nothing listens there
    assert runner.invoke(main, ["anchor"]).exit_code == 1
    second, again = client.get("/evidence.json").get_json()["checkpoints"]
    assert again == first and client.get(first["pdf"]["url"]).data == data  # never re-signed
    assert second["anchorStatus"] == "pending" and second["pdf"] is None
    assert second["firstIndex"] == first["treeSize"]
    assert client.get(f"/evidence/{second['treeSize']}.pdf").status_code == 404
    assert "anchoring pending" in client.get("/evidence?lang=en").get_data(as_text=True)

    # Once anchored, it gets its own PDF, listing only the entries sealed in it.
    app.config["EVM_RPC_URL"] = ""
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    second = client.get("/evidence.json").get_json()["checkpoints"][0]
    pdf = tmp_path / "second.pdf"
    pdf.write_bytes(client.get(second["pdf"]["url"]).data)
    text = _pdftotext(pdf)
    with app_engine(app).connect() as conn:
        old, new = (
            store.entries(conn, 0, first["treeSize"]),
            store.entries(conn, first["treeSize"], second["treeSize"]),
        )
    assert all(orjson.loads(e)["ocid"] in text for e in new)
    assert not any(orjson.loads(e)["ocid"] in text for e in old)


def test_signing_key_private_and_never_shown(sqlite_app, tmp_path):
    app = sqlite_app
    client, runner = app.test_client(), app.test_cli_runner()
    assert client.get("/evidence/ca.pem").status_code == 404  # nothing signed yet
    publish_examples(app, tmp_path, [example_order("1-single")])
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    key = Path(app.config["INSTANCE_PATH"]) / "evidence-signing" / "signer.key"
    assert key.stat().st_mode & 0o077 == 0
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    secrets = (
        b"".join(key.read_bytes().splitlines()[1:-1]),
        private.private_numbers().private_value.to_bytes(32, "big"),
    )
    size = client.get("/evidence.json").get_json()["checkpoints"][0]["treeSize"]
    for path in (f"/evidence/{size}.pdf", "/evidence/ca.pem", "/evidence", "/evidence.json"):
        body = client.get(path).data
        assert not any(secret in body for secret in secrets)
    # The CA that validates the PDFs is the embedded TSA's (one certificate for both).
    assert client.get("/evidence/ca.pem").data == client.get("/api/log/tsa-ca.pem").data


def test_renewal_replaces_the_signing_key_pair(tmp_path):
    """A certificate close to expiry gets a new key and certificate; the old key is not reused."""
    config = {"INSTANCE_PATH": str(tmp_path), "TSA_URL": "", "TSA_CA_FILE": ""}
    first = signing.document_signer(config)
    assert signing.document_signer(config).certificate.dump() == first.certificate.dump()
    later = dt.datetime.now(dt.UTC) + signing.VALIDITY
    renewed = signing.document_signer(config, now=later)
    assert renewed.certificate.serial_number != first.certificate.serial_number
    directory = signing.signing_directory(config)
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "signer.key", "signer.pem"]
    assert (directory / "signer.key").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((directory / "signer.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "signer.key").read_bytes(), password=None)
    assert cert.public_key() == key.public_key()


def test_without_timestamps_the_pdf_is_still_signed(sqlite_app, tmp_path):
    app = sqlite_app
    app.config["TSA_URL"] = "off"
    client, runner = app.test_client(), app.test_cli_runner()
    publish_examples(app, tmp_path, [example_order("1-single")])
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    (item,) = client.get("/evidence.json").get_json()["checkpoints"]
    pdf, ca = tmp_path / "e.pdf", tmp_path / "ca.pem"
    pdf.write_bytes(client.get(item["pdf"]["url"]).data)
    ca.write_bytes(client.get("/evidence/ca.pem").data)
    done = _pyhanko_validate(pdf, ca)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TIMESTAMP_TOKEN" not in done.stdout  # PAdES B-B: no timestamp to claim
    assert "Signature is Valid" in _pdfsig(pdf)


def test_remote_tsa_over_http_and_its_ca_in_ca_pem(sqlite_app, tmp_path):
    """With TSA_URL the timestamp comes over HTTP; ca.pem then holds the signer's and TSA's CA."""
    import http.server
    import threading

    from anchoring.timestamps import EmbeddedTSA

    remote = EmbeddedTSA(tmp_path / "remote-tsa", organisation="Other TSA")
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            asked.append(self.headers["Content-Type"])
            body = remote.respond(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = sqlite_app
    app.config.update(
        TSA_URL=f"http://127.0.0.1:{server.server_address[1]}/tsa",
        TSA_CA_FILE=str(remote.ca_pem_path),
        # This TSA's certificate names no OCSP responder nor CRL; its revocation is tested with a
        # real openssl PKI in test_tsa_revocation.py. Here: the transport and the CA file.
        TSA_REVOCATION="none",
    )
    try:
        client, runner = app.test_client(), app.test_cli_runner()
        publish_examples(app, tmp_path, [example_order("1-single")])
        assert runner.invoke(main, ["anchor"]).exit_code == 0
    finally:
        server.shutdown()
        server.server_close()
    assert len(asked) >= 2  # the checkpoint's token and the PDF's (plus pyHanko's size probe)
    (item,) = client.get("/evidence.json").get_json()["checkpoints"]
    pdf, ca = tmp_path / "e.pdf", tmp_path / "ca.pem"
    pdf.write_bytes(client.get(item["pdf"]["url"]).data)
    ca.write_bytes(client.get("/evidence/ca.pem").data)
    assert ca.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    assert remote.ca_pem in ca.read_bytes()
    done = _pyhanko_validate(pdf, ca)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in done.stdout
