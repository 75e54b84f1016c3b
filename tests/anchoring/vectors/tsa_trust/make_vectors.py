"""Make the remote-TSA trust vectors in this folder with the real openssl (run once; committed).

    cd <repo> && PYTHONPATH=. .venv/bin/python tests/anchoring/vectors/tsa_trust/make_vectors.py

A throwaway PKI (``tests/openssl_pki.py``: ``openssl req``/``ca``, ``openssl ts -reply``,
``openssl ocsp -port``, ``openssl ca -gencrl``) issues one TSA certificate; then:

* ``resp.tsr``: a token by ``openssl ts -reply`` over ``data.bin`` (via ``RemoteTSA``, which
  verified it and collected the OCSP evidence in ``ocsp.json`` and, asked again, the CRL
  evidence in ``crl.json``: both made seconds after its genTime);
* ``stale_ocsp.json``: an OCSP response for the same certificate from a responder started
  with ``-nmin 1``, fetched 65 s **before** the token: its nextUpdate precedes genTime.

``ca.pem`` is the trust anchor. The keys are deleted with the temporary folder: none is kept.
The script sleeps 65 s (the stale case needs a real response older than the token).
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # tests/, for openssl_pki

from openssl_pki import Server, openssl  # noqa: E402

from anchoring.timestamps import RemoteTSA  # noqa: E402
from anchoring.tsa_trust import RevocationPolicy  # noqa: E402

DATA = b"veraz checkpoint vector\n42\n"


def main() -> None:
    work = Path(tempfile.mkdtemp())
    server = Server()
    try:
        pki = server.pki(work, "vector")
        cert, _key = pki.issue("tsa")
        pki.gencrl()
        pki.start_ocsp(port=pki.ocsp_port)
        # The stale response: from a responder whose answers are valid for one minute.
        stale_der = work / "stale.der"
        openssl(
            "ocsp", "-issuer", pki.ca_pem, "-cert", cert, "-url", pki.start_ocsp(minutes=1),
            "-CAfile", pki.ca_pem, "-respout", stale_der,
        )  # fmt: skip
        time.sleep(65)
        tsa = RemoteTSA(server.tsa_url(pki, "tsa"), pki.ca_pem, revocation=RevocationPolicy())
        token = tsa.timestamp(DATA)
        assert token.revocation is not None
        crl = RevocationPolicy(method="crl").collect(token.der, pki.ca_pem.read_bytes())
        (HERE / "data.bin").write_bytes(DATA)
        (HERE / "resp.tsr").write_bytes(token.der)
        shutil.copy(pki.ca_pem, HERE / "ca.pem")
        _dump("ocsp.json", token.revocation)
        _dump("crl.json", crl)
        stale = token.revocation | {"response": base64.b64encode(stale_der.read_bytes()).decode()}
        _dump("stale_ocsp.json", stale)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _dump(name: str, value: object) -> None:
    (HERE / name).write_text(json.dumps(value, indent=1) + "\n")


if __name__ == "__main__":
    main()
