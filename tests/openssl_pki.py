"""A small PKI run by the real ``openssl`` command: a CA, TSA certificates, OCSP and CRLs.

Used by the remote-TSA trust tests (``tests/anchoring/test_tsa_trust.py`` and the portal's
``tests/portal/evidence/test_tsa_revocation.py``), so that what the portal checks is what a
citizen's tools produce and accept:

* the CA is made with ``openssl req -x509``, certificates are issued and revoked with
  ``openssl ca`` (its ``index.txt`` is the responder's database);
* the TSA is ``openssl ts -reply``, behind a small HTTP server (``POST /tsa/<name>``);
* OCSP is ``openssl ocsp -index ... -port`` (a real responder process), signed by the CA, by a
  delegated responder certificate, or by a key of another CA;
* CRLs are ``openssl ca -gencrl`` (with ``-crl_lastupdate``/``-crl_nextupdate`` for stale ones),
  served by the same HTTP server (``GET /crl/<pki>/<file>``).

Every TSA certificate names the OCSP responder (AIA) and the CRL (CDP) of this PKI. Keys are
throwaway test keys in a temporary directory.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import pytest

OPENSSL = shutil.which("openssl")

_CONFIG = """
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 365
default_crl_days = 1
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:{ocsp_url}
crlDistributionPoints = URI:{crl_url}
[ noeku_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:{ocsp_url}
[ ocsp_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
certs = $dir/ca.pem
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def require_openssl() -> str:
    if OPENSSL is None:
        pytest.fail("openssl is required: it is the CA, TSA and OCSP responder a citizen would use")
    return OPENSSL


def openssl(*args: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``openssl args...``; fail the test with its stderr when ``check`` and it fails."""
    result = subprocess.run(
        [require_openssl(), *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"openssl {' '.join(map(str, args))} failed: {result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drain(stream: IO[str]) -> None:
    with stream:
        stream.read()


def _wait_listening(process: subprocess.Popen) -> threading.Thread:
    """Wait for ``openssl ocsp`` to say it listens; its log is then drained by the returned
    thread (which closes the pipe when the process ends).

    Probing the port instead would hang it: the responder serves one connection at a time and
    waits for a request on the probe's."""
    assert process.stderr is not None
    for line in process.stderr:
        if "waiting for OCSP client connections" in line:
            thread = threading.Thread(target=_drain, args=(process.stderr,), daemon=True)
            thread.start()
            return thread
    process.stderr.close()
    pytest.fail(f"openssl ocsp exited before listening (exit status {process.wait()})")


class Pki:
    """One CA in ``directory`` (``ca.pem``, ``ca.key``, ``index.txt``...), made by openssl.

    ``http_url`` is this PKI's HTTP server (TSA and CRLs); ``ocsp_url`` its OCSP responder,
    started by :meth:`start_ocsp` (the one named in every TSA certificate).
    """

    def __init__(self, directory: Path, name: str, http_url: str, ocsp_port: int) -> None:
        self.dir = directory
        self.name = name
        self.http_url = http_url
        self.ocsp_port = ocsp_port
        self.ocsp_url = f"http://127.0.0.1:{ocsp_port}/"
        self.crl_url = f"{http_url}/crl/{name}/ca.crl"
        self.processes: list[tuple[subprocess.Popen, threading.Thread]] = []
        directory.mkdir(parents=True)
        (directory / "newcerts").mkdir()
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("01\n")
        (directory / "tsaserial").write_text("01\n")
        self.config = directory / "openssl.cnf"
        self.config.write_text(_CONFIG.format(dir=directory, ocsp_url=self.ocsp_url, crl_url=self.crl_url))
        openssl(
            "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", directory / "ca.key",
            "-out", directory / "ca.pem", "-days", "3650", "-config", self.config,
            "-extensions", "v3_ca", "-subj", f"/CN={name} Root CA",
        )  # fmt: skip

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    def issue(
        self, name: str, extensions: str = "tsa_ext", *, start: str | None = None, end: str | None = None
    ) -> tuple[Path, Path]:
        """Issue ``<name>.pem`` (and its key ``<name>.key``) with ``openssl ca``."""
        key, csr, cert = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-config", self.config, "-subj", f"/CN={self.name} {name}",
        )  # fmt: skip
        dates = [*(["-startdate", start] if start else []), *(["-enddate", end] if end else [])]
        openssl(
            "ca", "-batch", "-config", self.config, "-in", csr, "-out", cert,
            "-extensions", extensions, *dates,
        )  # fmt: skip
        return cert, key

    def revoke(self, cert: Path) -> None:
        openssl("ca", "-batch", "-config", self.config, "-revoke", cert, "-crl_reason", "keyCompromise")

    def gencrl(
        self, *, last_update: str | None = None, next_update: str | None = None, file: str = "ca.crl"
    ) -> bytes:
        """A DER CRL of every revocation so far, served at ``<http_url>/crl/<name>/<file>``
        (:attr:`crl_url` for the default ``file``)."""
        pem = self.dir / f"{file}.pem"
        times = [
            *(["-crl_lastupdate", last_update] if last_update else []),
            *(["-crl_nextupdate", next_update] if next_update else []),
        ]
        openssl("ca", "-batch", "-config", self.config, "-gencrl", "-out", pem, *times)
        der = self.dir / file
        openssl("crl", "-in", pem, "-outform", "DER", "-out", der)
        return der.read_bytes()

    def start_ocsp(
        self,
        signer: Path | None = None,
        key: Path | None = None,
        *,
        port: int | None = None,
        minutes: int = 60,
    ) -> str:
        """Start ``openssl ocsp`` as a responder over this CA's index; return its URL.

        Signed by the CA unless ``signer``/``key`` are given (a delegated responder, or a key
        the CA never certified); its answers are valid ``minutes`` (nextUpdate)."""
        port = port or free_port()
        process = subprocess.Popen(
            [
                require_openssl(), "ocsp", "-index", str(self.dir / "index.txt"), "-port", str(port),
                "-CA", str(self.ca_pem), "-rsigner", str(signer or self.ca_pem),
                "-rkey", str(key or self.dir / "ca.key"), "-ignore_err", "-nmin", str(minutes),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.processes.append((process, _wait_listening(process)))
        return f"http://127.0.0.1:{port}/"

    def ts_reply(self, cert: Path, key: Path, query: bytes) -> subprocess.CompletedProcess:
        """``openssl ts -reply`` signing ``query`` (DER TimeStampReq) with ``cert``/``key``."""
        name = f"q{threading.get_ident()}-{time.monotonic_ns()}"
        query_file, reply_file = self.dir / f"{name}.tsq", self.dir / f"{name}.tsr"
        query_file.write_bytes(query)
        result = openssl(
            "ts", "-reply", "-config", self.config, "-section", "tsa1", "-queryfile", query_file,
            "-signer", cert, "-inkey", key, "-out", reply_file, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            result.stdout = reply_file.read_bytes()  # type: ignore[assignment]
        return result

    def stop(self) -> None:
        for process, drain in self.processes:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            drain.join(timeout=5)


class Server:
    """The HTTP side of the PKIs: ``POST /tsa/<pki>/<cert name>`` runs ``openssl ts -reply``,
    ``GET /crl/<pki>/<file>.crl`` serves a CRL, ``POST /replay`` answers a stored body."""

    def __init__(self) -> None:
        self.pkis: dict[str, Pki] = {}
        self.replay: bytes = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = self.path.strip("/").split("/")
                if parts == ["replay"]:
                    return self._send(200, outer.replay, "application/ocsp-response")
                if len(parts) != 3 or parts[0] != "tsa" or parts[1] not in outer.pkis:
                    return self._send(404, b"", "text/plain")
                pki = outer.pkis[parts[1]]
                result = pki.ts_reply(pki.dir / f"{parts[2]}.pem", pki.dir / f"{parts[2]}.key", body)
                if result.returncode != 0:
                    return self._send(500, result.stderr.encode(), "text/plain")
                return self._send(200, result.stdout, "application/timestamp-reply")  # type: ignore[arg-type]

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = self.path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "crl" and parts[1] in outer.pkis:
                    crl = outer.pkis[parts[1]].dir / parts[2]
                    if parts[2].endswith(".crl") and crl.is_file():
                        return self._send(200, crl.read_bytes(), "application/pkix-crl")
                return self._send(404, b"", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def pki(self, directory: Path, name: str) -> Pki:
        pki = Pki(directory / name, name, self.url, free_port())
        self.pkis[name] = pki
        return pki

    def tsa_url(self, pki: Pki, cert_name: str) -> str:
        return f"{self.url}/tsa/{pki.name}/{cert_name}"

    def stop(self) -> None:
        for pki in self.pkis.values():
            pki.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
