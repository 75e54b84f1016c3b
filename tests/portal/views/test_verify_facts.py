"""What the verification page is told by the server, on SQLite and PostgreSQL: the order's
status and since when, every version, the lookup of a PDF by its SHA-256, and the small
things around it (the key's content type, the favicon, the words for money and status)."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess

from builders import example_order, write_jsonl
from sqlalchemy import select
from support import need

from portal import links
from portal.cli import main
from portal.codes import STATUS_WORDS
from portal.db import app_engine
from portal.documents.order_pdf import STATUS_ES
from portal.models import order_pdfs
from portal.publishing import import_orders

PREFIX = "ocds-vrz0pe"


def _publish(app, tmp_path, orders, name):
    summary = import_orders(
        app_engine(app),
        write_jsonl(tmp_path / name, orders),
        ocid_prefix=PREFIX,
        workers=1,
        base_url=app.config["BASE_URL"],
    )
    assert summary.rejects == [], summary.rejects


def _cancelled_order(app, runner, tmp_path) -> str:
    """1-single published, then cancelled by its version 2; sealed and anchored."""
    first = example_order("1-single")
    _publish(app, tmp_path, [first], "v1.jsonl")
    cancelled = example_order(
        "1-single",
        version=2,
        status="cancelled",
        cancellation={"date": "2025-03-12T09:30:00-05:00", "reason": "El proveedor no aceptó la orden."},
    )
    cancelled["dates"] = {"issued": first["dates"]["issued"]}
    _publish(app, tmp_path, [cancelled], "v2.jsonl")
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    return f"{PREFIX}-{first['orderNumber']}"


def _pdf(app, ocid, release_id) -> bytes:
    with app_engine(app).connect() as conn:
        return bytes(
            conn.execute(
                select(order_pdfs.c.data).where(
                    order_pdfs.c.ocid == ocid, order_pdfs.c.release_id == release_id
                )
            ).scalar_one()
        )


def test_a_cancelled_order_says_so_on_every_version(app, client, runner, tmp_path):
    ocid = _cancelled_order(app, runner, tmp_path)
    latest = client.get(links.verification_json_url("", ocid)).get_json()
    assert latest["status"]["code"] == "cancelled"
    assert latest["version"] == 2 and latest["current"] and latest["replacedBy"] is None
    assert [v["number"] for v in latest["history"]] == [1, 2]
    first_id = latest["history"][0]["releaseId"]
    assert latest["status"]["since"] == latest["history"][1]["date"]

    old = client.get(links.verification_json_url("", ocid, first_id)).get_json()
    assert old["version"] == 1 and not old["current"]
    assert old["status"]["code"] == "cancelled"  # the order's status now, on its old version
    assert old["replacedBy"]["number"] == 2
    assert old["replacedBy"]["url"] == links.verification_url("", ocid, latest["releaseId"])

    page = client.get(links.verification_url("", ocid, first_id)).get_data(as_text=True)
    assert "ANULADA el 12 mar. 2025" in page
    assert "Esta es la versión 1 de 2." in page
    assert "Ver la versión vigente" not in page
    english = client.get(links.verification_url("", ocid) + "?lang=en").get_data(as_text=True)
    assert "CANCELLED on Mar 12, 2025" in english


def test_a_pdf_is_found_by_its_sha256_and_nothing_else_is(app, client, runner, tmp_path):
    ocid = _cancelled_order(app, runner, tmp_path)
    facts = client.get(links.verification_json_url("", ocid)).get_json()
    first = facts["history"][0]
    older = hashlib.sha256(_pdf(app, ocid, first["releaseId"])).hexdigest()
    assert older == first["pdfSha256"]

    found = client.get(f"/api/documents/{older.upper()}").get_json()
    (doc,) = found["documents"]
    assert (doc["ocid"], doc["releaseId"], doc["version"], doc["versions"]) == (
        ocid,
        first["releaseId"],
        1,
        2,
    )
    assert doc["current"] is False and doc["replacedAt"] == facts["history"][1]["date"]
    assert doc["url"] == first["url"]
    assert client.get(f"/api/documents/{'0' * 64}").get_json() == {"sha256": "0" * 64, "documents": []}
    assert client.get("/api/documents/not-a-hash").status_code == 400


def test_status_words_are_the_same_on_the_page_and_the_pdf(app, client, runner, tmp_path):
    need(shutil.which("pdftotext") is not None, "pdftotext (poppler-utils) is not installed")
    assert STATUS_ES == {code: words["es"] for code, words in STATUS_WORDS.items()}
    ocid = _cancelled_order(app, runner, tmp_path)
    facts = client.get(links.verification_json_url("", ocid)).get_json()
    pdf = tmp_path / "order.pdf"
    pdf.write_bytes(_pdf(app, ocid, facts["releaseId"]))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    word = STATUS_WORDS["cancelled"]["es"]
    assert word in text
    page = client.get(links.contract_url("", ocid)).get_data(as_text=True)
    assert f'<span class="status status-cancelled">{word}</span>' in page
    assert (
        client.get(links.contract_url("", ocid) + "?lang=en")
        .get_data(as_text=True)
        .count(f'<span class="status status-cancelled">{STATUS_WORDS["cancelled"]["en"]}</span>')
        == 1
    )
    # the order page and its verification link each other
    assert links.verification_url("", ocid) in page
    assert links.contract_url("", ocid) in client.get(links.verification_url("", ocid)).get_data(as_text=True)


def test_key_content_type_favicon_and_money_in_english(app, client, runner, tmp_path):
    ocid = _cancelled_order(app, runner, tmp_path)
    key = client.get("/api/log/key")
    assert key.headers["Content-Type"] == "text/plain; charset=utf-8"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"
    icon.close()
    english = client.get(links.contract_url("", ocid) + "?lang=en").get_data(as_text=True)
    assert "PEN\u00a0380.00" in english and "PEN380" not in english
    spanish = client.get(links.contract_url("", ocid) + "?lang=es").get_data(as_text=True)
    assert "S/\u00a0380.00" in spanish


def test_text_is_gzip_compressed_for_clients_that_accept_it(app, client, runner, tmp_path):
    ocid = _cancelled_order(app, runner, tmp_path)
    from pathlib import Path

    script = Path(app.static_folder) / "verify.js"
    for url, plain in ((links.verification_url("", ocid), None), ("/static/verify.js", script.read_bytes())):
        packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in packed.headers["Vary"]
        body = gzip.decompress(packed.data)
        packed.close()
        as_is = client.get(url)
        assert "Content-Encoding" not in as_is.headers
        assert body == (plain if plain is not None else as_is.data)
        as_is.close()
