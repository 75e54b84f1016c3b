"""Every public URL of an order is built by ``portal.links``, quoted once, and answers.

Ocids and release ids may hold ``/``, ``?``, ``#``, spaces and non-ASCII letters: orders are
published with such ids (catalogue orders with their PDFs, sealed and anchored; existing OCDS
through ``import_ocds``) and every link ``portal.links`` builds for them is fetched.
"""

from __future__ import annotations

import hashlib
from urllib.parse import unquote, urlsplit

import orjson
import pytest
from builders import example_order, write_jsonl

from portal import links
from portal.cli import main
from portal.db import app_engine
from portal.publishing import import_ocds, import_orders

ODD_PREFIX = "ocds-a/b ?c#d ñ"
ODD_OCID = "ocds-213czf-2024/LP 7?x#y/é"
ODD_RELEASE = "r/1 ?é#"


def test_ids_are_quoted_once_as_one_segment_or_one_value():
    assert (
        links.verification_url("https://v.example/", "a/b c", "r?1#")
        == "https://v.example/verify/a%2Fb%20c?release=r%3F1%23"
    )
    assert links.proof_bundle_url("", "é/1") == "/api/proofs/%C3%A9%2F1"
    assert links.release_json_url("", "a/b", "r#1") == "/api/releases/r%231?ocid=a%2Fb"
    assert links.order_pdf_url("", "a?b", "r 1") == "/contracts/a%3Fb/order.pdf?release=r%201"
    assert links.record_json_url("", "a b") == "/api/records/a%20b"
    assert links.contract_url("", "a#b") == "/contracts/a%23b"
    assert links.contract_json_url("", "a/b") == "/contracts/a%2Fb.json"
    assert links.timestamp_check_url("", "a/b", "r/1") == "/verify/a%2Fb/timestamp.json?release=r%2F1"
    assert links.verification_json_url("", "a", "r") == "/verify/a.json?release=r"


def test_catalogue_order_with_odd_ocid_answers_on_every_link(app, client, runner, tmp_path):
    path = write_jsonl(tmp_path / "orders.jsonl", [example_order()])
    summary = import_orders(
        app_engine(app), path, ocid_prefix=ODD_PREFIX, workers=1, base_url=app.config["BASE_URL"]
    )
    assert summary.rejects == []
    assert runner.invoke(main, ["anchor"]).exit_code == 0
    ocid = f"{ODD_PREFIX}-{example_order()['orderNumber']}"

    facts = client.get(links.verification_json_url("", ocid)).get_json()
    release_id = facts["releaseId"]
    assert facts["ocid"] == ocid and "/" in release_id and "?" in release_id
    assert facts["bundleUrl"] == links.proof_bundle_url("", ocid, release_id)
    assert facts["releaseUrl"] == links.release_json_url("", ocid, release_id)
    assert facts["pdfPath"] == links.order_pdf_url("", ocid, release_id)
    assert facts["pdfUrl"] == links.order_pdf_url(app.config["BASE_URL"], ocid)
    assert facts["timestampUrl"] == links.timestamp_check_url("", ocid, release_id)
    assert facts["verificationUrl"] == links.verification_url(app.config["BASE_URL"], ocid)

    page = client.get(links.verification_url("", ocid))
    assert page.status_code == 200
    assert facts["contractUrl"] in page.get_data(as_text=True)

    bundle = client.get(facts["bundleUrl"])
    assert bundle.status_code == 200
    assert (bundle.get_json()["ocid"], bundle.get_json()["releaseId"]) == (ocid, release_id)

    pdf = client.get(facts["pdfPath"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == facts["documentHash"]
    assert bundle.get_json()["hashes"]["document"] == facts["documentHash"]
    # The URL the release publishes for its PDF is the one links.py builds.
    release = client.get(facts["releaseUrl"]).get_json()["releases"][0]
    assert release["id"] == release_id
    documents = [d["url"] for c in release["contracts"] for d in c.get("documents", [])]
    assert facts["pdfUrl"] in documents

    assert client.get(facts["timestampUrl"]).get_json()["status"] == "PASS"
    assert client.get(links.record_json_url("", ocid)).get_json()["records"][0]["ocid"] == ocid
    lookup = client.get("/verify", query_string={"q": ocid})
    assert lookup.status_code == 302
    assert lookup.headers["Location"] == links.verification_url("", ocid)


@pytest.fixture
def imported(app, tmp_path):
    releases = [
        {
            "ocid": ODD_OCID,
            "id": ODD_RELEASE,
            "date": "2024-01-02T00:00:00Z",
            "tag": ["tender"],
            "initiationType": "tender",
            "tender": {"id": "t", "title": "Con barra y eñe"},
        },
    ]
    path = tmp_path / "imported.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in releases))
    summary = import_ocds(app_engine(app), [path])
    assert summary.rejects == []
    return app


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: links.verification_url("", ODD_OCID), ODD_OCID),
        (lambda: links.verification_url("", ODD_OCID, ODD_RELEASE), ODD_OCID),
        (lambda: links.verification_json_url("", ODD_OCID), ODD_OCID + ".json"),
        (lambda: links.release_json_url("", ODD_OCID, ODD_RELEASE), ODD_RELEASE),
        (lambda: links.record_json_url("", ODD_OCID), ODD_OCID),
        (lambda: links.contract_url("", ODD_OCID), ODD_OCID),
        (lambda: links.contract_json_url("", ODD_OCID), ODD_OCID + ".json"),
    ],
    ids=["verify", "verify-release", "verify-json", "release", "record", "contract", "contract-json"],
)
def test_imported_ocds_with_odd_ids_answers_on_every_link(imported, build, named):
    url = build()
    path = urlsplit(url).path
    assert unquote(path.rsplit("/", 1)[-1]).endswith(named)  # one segment, quoted once
    response = imported.test_client().get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert ODD_OCID in response.get_data(as_text=True)


def test_imported_release_is_logged_and_its_bundle_found(imported):
    client = imported.test_client()
    bundle = client.get(links.proof_bundle_url("", ODD_OCID, ODD_RELEASE))
    assert bundle.status_code == 202  # logged, not sealed yet
    assert (bundle.get_json()["ocid"], bundle.get_json()["releaseId"]) == (ODD_OCID, ODD_RELEASE)
    facts = client.get(links.verification_json_url("", ODD_OCID)).get_json()
    assert facts["pdfPath"] is None and facts["documentHash"] is None
    assert client.get(links.order_pdf_url("", ODD_OCID)).status_code == 404
