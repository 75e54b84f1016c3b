"""A remote TSA checked for revocation by the portal, end to end, with a PKI run by openssl.

``veraz anchor`` with ``TSA_URL`` at an ``openssl ts -reply`` TSA whose certificate an
``openssl ocsp`` responder vouches for: the OCSP response and the certificate path are kept with
the timestamp, published in the proof bundle, and re-checked offline by ``veraz verify`` and by
the verification page; a revoked TSA leaves the timestamp not done (nothing stored) and the run
exits non-zero, naming the reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import orjson
import pytest
from builders import example_order
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509 import ocsp
from evidence_builders import order_ocid, publish_examples, schema_validator
from openssl_pki import Pki, Server
from sqlalchemy import select

from anchoring.bundle import ProofBundle
from portal.cli import main
from portal.db import app_engine
from portal.evidence.tables import anchors


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Pki]]:
    server = Server()
    pki = server.pki(tmp_path_factory.mktemp("pki"), "portal")
    pki.issue("good")
    revoked, _ = pki.issue("revoked")
    pki.revoke(revoked)
    pki.gencrl()
    pki.start_ocsp(port=pki.ocsp_port)
    yield server, pki
    server.stop()


def _configure(app, server: Server, pki: Pki, tsa: str, method: str = "ocsp") -> None:
    app.config.update(
        TSA_URL=server.tsa_url(pki, tsa),
        TSA_CA_FILE=str(pki.ca_pem),
        TSA_REVOCATION=method,
        EVM_RPC_URL="off",  # the chain is not what these tests are about
    )


def _rfc3161_rows(app) -> list:
    with app_engine(app).connect() as conn:
        return conn.execute(
            select(anchors.c.status, anchors.c.receipt, anchors.c.last_error).where(
                anchors.c.type == "rfc3161"
            )
        ).all()


def _verify(*args) -> object:
    return CliRunner().invoke(main, ["verify", *map(str, args)])


def test_ocsp_evidence_is_kept_published_and_rechecked_offline(app, client, runner, tmp_path, pki) -> None:
    _kept_published_and_rechecked(app, client, runner, tmp_path, pki, "ocsp")


# The CRL path differs from the OCSP one in anchoring/ only, not in what the database stores.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_crl_evidence_is_kept_published_and_rechecked_offline(app, client, runner, tmp_path, pki) -> None:
    _kept_published_and_rechecked(app, client, runner, tmp_path, pki, "crl")


def _kept_published_and_rechecked(app, client, runner, tmp_path, pki, method: str) -> None:
    server, authority = pki
    _configure(app, server, authority, "good", method)
    publish_examples(app, tmp_path)
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 0, result.output
    ((status, receipt, _),) = _rfc3161_rows(app)
    assert status == "done"
    evidence = orjson.loads(receipt)["revocation"]
    assert evidence["method"] == method and len(evidence["certificates"]) == 2

    ocid = order_ocid(example_order("2-package"))
    body = client.get(f"/api/proofs/{ocid}").get_json()
    schema_validator().validate(body)
    (anchor,) = [a for a in body["anchors"] if a["type"] == "rfc3161"]
    assert anchor["revocation"] == evidence
    assert ProofBundle.from_dict(body).anchors[0].get("revocation") == evidence

    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(body))
    verified = _verify(bundle, "--tsa-ca", authority.ca_pem)
    # Only the chain was left out (EVM_RPC_URL=off): its step is the one failing.
    assert "failing step(s): evm-anchor." in verified.output
    (line,) = [x for x in verified.output.splitlines() if "timestamp:" in x]
    assert line.split()[0] == "PASS" and "re-checked offline" in line
    assert ("OCSP: good at" if method == "ocsp" else "not revoked") in line

    # The verification page re-checks the same stored evidence.
    release_id = body["releaseId"]
    check = client.get(f"/verify/{ocid}/timestamp.json?release={release_id}").get_json()
    assert check["status"] == "PASS" and "re-checked offline" in check["detail"]

    # A stored response altered by one signed byte fails the offline re-check, and the step
    # says so (the certificates a response may carry after its signature are not signed).
    der = bytearray(base64.b64decode(evidence["response"]))
    signed = (
        ocsp.load_der_ocsp_response(bytes(der)).tbs_response_bytes
        if method == "ocsp"
        else x509.load_der_x509_crl(bytes(der)).tbs_certlist_bytes
    )
    der[bytes(der).index(signed) + len(signed) // 2] ^= 0x01
    anchor["revocation"] = evidence | {"response": base64.b64encode(bytes(der)).decode()}
    bundle.write_text(json.dumps(body))
    tampered = _verify(bundle, "--tsa-ca", authority.ca_pem)
    (line,) = [x for x in tampered.output.splitlines() if "timestamp:" in x]
    assert line.split()[0] == "FAIL" and "stored revocation evidence fails" in line
    assert tampered.exit_code == 1


def test_revoked_tsa_is_not_accepted(app, runner, tmp_path, pki) -> None:
    server, authority = pki
    _configure(app, server, authority, "revoked")
    publish_examples(app, tmp_path)
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert "the TSA certificate is revoked (OCSP: revoked at" in result.output
    ((status, receipt, last_error),) = _rfc3161_rows(app)
    assert status != "done" and receipt is None
    assert "revoked" in last_error


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unknown_revocation_setting_is_named(app, runner, tmp_path, pki) -> None:
    server, authority = pki
    _configure(app, server, authority, "good", "ldap")
    publish_examples(app, tmp_path)
    result = runner.invoke(main, ["anchor"])
    assert result.exit_code == 1
    assert "revocation method must be one of ocsp, crl, none, not 'ldap'" in result.output
